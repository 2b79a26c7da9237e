// An IP address as a packet carries it, and a TCP endpoint made of one. The decoder reads
// every frame's two addresses; text ("10.0.0.1", "2001:db8::1") is made only when a connection
// is reported, once, not for each of its packets.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::capture {

class IpAddress {
 public:
  IpAddress() = default;
  // The 4 bytes of an IPv4 address or the 16 of an IPv6 one, in network order; other
  // lengths give the empty address.
  static IpAddress from_bytes(tls::Bytes bytes);
  // inet_pton's forms: "192.0.2.1", "2001:db8::1". nullopt for anything else.
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const { return length_ == 4; }
  tls::Bytes bytes() const { return tls::Bytes(bytes_.data(), length_); }
  // Dotted quad for IPv4, RFC 5952 form for IPv6 (inet_ntop's), "" for the empty address.
  std::string text() const;

  // For hash tables: every byte and the family count, and every bit of the result depends on
  // them (splitmix64's finalizer).
  std::uint64_t hash() const {
    std::uint64_t front = 0, back = 0;
    std::memcpy(&front, bytes_.data(), 8);
    std::memcpy(&back, bytes_.data() + 8, 8);
    return mix(mix(front ^ length_) ^ back);
  }
  static constexpr std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  auto operator<=>(const IpAddress&) const = default;
  bool operator==(const IpAddress&) const = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};  // unused bytes stay zero: comparisons see them
  std::uint8_t length_ = 0;
};

struct SocketAddress {
  IpAddress ip;
  std::uint16_t port = 0;

  // A record's endpoint (text address) as a segment's; nullopt when the text is no address.
  static std::optional<SocketAddress> parse(const trace::Endpoint& endpoint);
  trace::Endpoint endpoint() const { return {ip.text(), port}; }
  std::uint64_t hash() const { return IpAddress::mix(ip.hash() + port); }

  auto operator<=>(const SocketAddress&) const = default;
  bool operator==(const SocketAddress&) const = default;
};

}  // namespace tlsglass::capture
