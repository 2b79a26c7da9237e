// Which end of a connection is the client, when the capture did not show its SYN: the first
// bytes a side sent often say (a ClientHello, a ServerHello), else the ports do. Private to
// capture/.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::capture {

enum class Opening : std::uint8_t {
  client_hello,  // a TLS record with a ClientHello, or an SSLv2 CLIENT-HELLO
  server_hello,  // a TLS record with a ServerHello, or an SSLv2 SERVER-HELLO
  other,         // anything else: these bytes cannot tell
  too_short,     // could still be a hello: wait for more bytes
};

// Bytes classify_opening needs to be sure.
inline constexpr std::size_t kOpeningBytes = 6;

// `first`: the first bytes a side sent (up to kOpeningBytes).
Opening classify_opening(tls::Bytes first);

// Neither a SYN nor a hello told: services listen on the lower port (the corpus's rule too:
// the low-port side is taken as server). True when the endpoint with `port` is the client;
// on equal ports, the side seen first (`seen_first`) is.
bool guess_client_by_port(std::uint16_t port, std::uint16_t other_port, bool seen_first);

}  // namespace tlsglass::capture
