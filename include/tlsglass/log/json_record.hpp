// The handshake record as one JSON object (DESIGN.md): ECS names where ECS has them
// (@timestamp, event.*, source.*, destination.*, tls.*), the rest under tlsglass.*. Arrays keep
// wire order; names come from the IANA registries; fields not seen are left out.
#pragma once

#include <string>

#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::log {

// One line, no trailing newline. Every peer-controlled string is valid UTF-8 and escaped.
std::string to_json_line(const trace::HandshakeRecord& record);
// The same line appended to `out`: a writer of many records reuses one buffer.
void append_json_line(std::string& out, const trace::HandshakeRecord& record);

// "2026-11-25T10:00:00.123456Z"
std::string iso8601(trace::Timestamp at);

}  // namespace tlsglass::log
