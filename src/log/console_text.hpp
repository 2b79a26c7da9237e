// What console_line.cpp and console_record.cpp share (private to log/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tlsglass::log {

// "10.0.0.1:443", "[2001:db8::1]:443".
std::string endpoint_text(std::string_view ip, std::uint16_t port);

}  // namespace tlsglass::log
