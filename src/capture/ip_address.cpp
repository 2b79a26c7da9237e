#include "tlsglass/capture/ip_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace tlsglass::capture {

IpAddress IpAddress::from_bytes(tls::Bytes bytes) {
  // Copies of a constant size: the decoder makes two addresses per packet.
  IpAddress address;
  if (bytes.size() == 4) {
    std::memcpy(address.bytes_.data(), bytes.data(), 4);
  } else if (bytes.size() == 16) {
    std::memcpy(address.bytes_.data(), bytes.data(), 16);
  } else {
    return address;
  }
  address.length_ = static_cast<std::uint8_t>(bytes.size());
  return address;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  const std::string terminated(text);
  std::array<std::uint8_t, 16> bytes{};
  if (inet_pton(AF_INET, terminated.c_str(), bytes.data()) == 1)
    return from_bytes(tls::Bytes(bytes.data(), 4));
  if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) == 1)
    return from_bytes(tls::Bytes(bytes.data(), 16));
  return std::nullopt;
}

std::string IpAddress::text() const {
  // glibc's inet_ntop formats IPv4 with sprintf: the dotted quad by hand. IPv6 (RFC 5952
  // compression) by libc.
  if (length_ == 4) {
    std::string text;
    text.reserve(15);
    for (std::size_t i = 0; i < 4; ++i) {
      const unsigned octet = bytes_[i];
      if (i) text += '.';
      if (octet >= 100) text += static_cast<char>('0' + octet / 100);
      if (octet >= 10) text += static_cast<char>('0' + octet / 10 % 10);
      text += static_cast<char>('0' + octet % 10);
    }
    return text;
  }
  if (length_ != 16) return {};
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (!inet_ntop(AF_INET6, bytes_.data(), text.data(), text.size())) return {};
  return text.data();
}

std::optional<SocketAddress> SocketAddress::parse(const trace::Endpoint& endpoint) {
  auto ip = IpAddress::parse(endpoint.ip);
  if (!ip) return std::nullopt;
  return SocketAddress{*ip, endpoint.port};
}

}  // namespace tlsglass::capture
