#include "tlsglass/proxy/self_addresses.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace tlsglass::proxy {

namespace {

bool same(const IpAddress& a, const IpAddress& b) {
  return a.v6 == b.v6 && std::memcmp(a.bytes.data(), b.bytes.data(), a.v6 ? 16 : 4) == 0;
}

bool unspecified(const IpAddress& ip) {
  return std::all_of(ip.bytes.begin(), ip.bytes.begin() + (ip.v6 ? 16 : 4),
                     [](std::uint8_t b) { return b == 0; });
}

bool loopback(const IpAddress& ip) {
  if (!ip.v6) return ip.bytes[0] == 127;  // 127.0.0.0/8 (RFC 1122 §3.2.1.3)
  static constexpr std::uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(ip.bytes.data(), kLoopback6, 16) == 0;
}

}  // namespace

std::optional<IpAddress> ip_of(const sockaddr_storage& address) {
  IpAddress ip;
  if (address.ss_family == AF_INET) {
    std::memcpy(ip.bytes.data(), &reinterpret_cast<const sockaddr_in&>(address).sin_addr, 4);
    return ip;
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      std::memcpy(ip.bytes.data(), v6.s6_addr + 12, 4);
      return ip;
    }
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &v6, 16);
    return ip;
  }
  return std::nullopt;
}

SelfAddresses::SelfAddresses(const std::vector<HostPort>& listening) {
  for (const auto& address : listening) {
    auto ip = parse_ip(address.host);
    if (!ip) continue;
    listening_.push_back({*ip, unspecified(*ip), address.port});
  }
}

bool is_local_address(const IpAddress& ip) {
  if (loopback(ip)) return true;
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (ip.v6) {
    auto& v6 = reinterpret_cast<sockaddr_in6&>(storage);
    v6.sin6_family = AF_INET6;
    std::memcpy(&v6.sin6_addr, ip.bytes.data(), 16);
    length = sizeof v6;
  } else {
    auto& v4 = reinterpret_cast<sockaddr_in&>(storage);
    v4.sin_family = AF_INET;
    std::memcpy(&v4.sin_addr, ip.bytes.data(), 4);
    length = sizeof v4;
  }
  const int fd = ::socket(storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0;
  ::close(fd);
  return bound;
}

bool SelfAddresses::contains(const IpAddress& ip, std::uint16_t port) const {
  for (const auto& entry : listening_) {
    if (entry.port != port || entry.ip.v6 != ip.v6) continue;
    if (entry.wildcard ? is_local_address(ip) : same(entry.ip, ip)) return true;
  }
  return false;
}

bool SelfAddresses::contains(const sockaddr_storage& address) const {
  const auto ip = ip_of(address);
  if (!ip) return false;
  const std::uint16_t port = ntohs(address.ss_family == AF_INET
                                       ? reinterpret_cast<const sockaddr_in&>(address).sin_port
                                       : reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return contains(*ip, port);
}

}  // namespace tlsglass::proxy
