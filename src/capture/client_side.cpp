#include "client_side.hpp"

#include <array>
#include <utility>

namespace tlsglass::capture {

namespace {

// A byte pattern, with wildcards, that the opening must match as far as it goes.
struct Pattern {
  std::array<int, kOpeningBytes> bytes;  // -1: any value
  bool (*also)(tls::Bytes first);        // a check the wildcards cannot express, or null
};

// RFC 8446 §5.1 TLSPlaintext: type handshake (22), legacy_record_version 0x03xx, a 2-byte
// length, then §4 the handshake type: 1 ClientHello, 2 ServerHello.
constexpr Pattern kTlsClientHello{{0x16, 0x03, -1, -1, -1, 0x01}, nullptr};
constexpr Pattern kTlsServerHello{{0x16, 0x03, -1, -1, -1, 0x02}, nullptr};

// SSLv2 (draft-hickman-netscape-ssl-00, "Record Header"): a 2-byte header with the high bit
// set, then the message type. CLIENT-HELLO (1) goes on with the version: 0x0002 for SSLv2,
// 0x03xx from a client that would rather speak SSLv3/TLS. SERVER-HELLO (4) goes on with
// SESSION-ID-HIT (0 or 1) and CERTIFICATE-TYPE (1, X.509).
bool sslv2_header(tls::Bytes first) { return first.empty() || (first[0] & 0x80) != 0; }
bool sslv2_client_version(tls::Bytes first) {
  if (!sslv2_header(first)) return false;
  if (first.size() < 4) return true;
  if (first[3] == 0x03) return true;
  return first[3] == 0x00 && (first.size() < 5 || first[4] == 0x02);
}
bool sslv2_server_fields(tls::Bytes first) {
  if (!sslv2_header(first)) return false;
  return first.size() < 4 || first[3] <= 1;
}
constexpr Pattern kSslv2ClientHello{{-1, -1, 0x01, -1, -1, -1}, sslv2_client_version};
constexpr Pattern kSslv2ServerHello{{-1, -1, 0x04, -1, 0x01, -1}, sslv2_server_fields};

// Whether `first` matches the pattern as far as it goes; `complete`: it went all the way.
bool matches(const Pattern& pattern, tls::Bytes first, bool& complete) {
  const std::size_t n = first.size() < kOpeningBytes ? first.size() : kOpeningBytes;
  for (std::size_t i = 0; i < n; ++i) {
    if (pattern.bytes[i] >= 0 && first[i] != pattern.bytes[i]) return false;
  }
  if (pattern.also && !pattern.also(first.first(n))) return false;
  complete = n == kOpeningBytes;
  return true;
}

}  // namespace

Opening classify_opening(tls::Bytes first) {
  bool waiting = false;
  for (const auto& [pattern, opening] : {std::pair{&kTlsClientHello, Opening::client_hello},
                                         std::pair{&kSslv2ClientHello, Opening::client_hello},
                                         std::pair{&kTlsServerHello, Opening::server_hello},
                                         std::pair{&kSslv2ServerHello, Opening::server_hello}}) {
    bool complete = false;
    if (!matches(*pattern, first, complete)) continue;
    if (complete) return opening;
    waiting = true;
  }
  return waiting ? Opening::too_short : Opening::other;
}

bool guess_client_by_port(std::uint16_t port, std::uint16_t other_port, bool seen_first) {
  if (port != other_port) return port > other_port;
  return seen_first;
}

}  // namespace tlsglass::capture
