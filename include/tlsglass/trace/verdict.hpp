// Words for the verdict: protocol versions and durations as an engineer reads them.
#pragma once

#include <cstdint>
#include <string>

namespace tlsglass::trace {

// "TLS1.3", "TLS1.2", "SSL3.0", "SSL2.0", "TLS1.3-draft23", or the hex code point.
std::string display_version(std::uint16_t version);

// "3 days", "5 hours", "12 minutes", "40 seconds": the largest whole unit.
std::string display_age(std::int64_t seconds);

}  // namespace tlsglass::trace
