#include "tlsglass/proxy/self_addresses.hpp"

#include <uv.h>

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
  uv_interface_address_t* interfaces = nullptr;
  int count = 0;
  if (uv_interface_addresses(&interfaces, &count) != 0) return;
  for (int i = 0; i < count; ++i) {
    sockaddr_storage storage{};
    std::memcpy(&storage, &interfaces[i].address,
                interfaces[i].address.address4.sin_family == AF_INET6 ? sizeof(sockaddr_in6)
                                                                      : sizeof(sockaddr_in));
    if (auto ip = ip_of(storage)) local_.push_back(*ip);
  }
  uv_free_interface_addresses(interfaces, count);
}

bool SelfAddresses::is_local(const IpAddress& ip) const {
  return loopback(ip) ||
         std::any_of(local_.begin(), local_.end(), [&](const IpAddress& l) { return same(l, ip); });
}

bool SelfAddresses::contains(const IpAddress& ip, std::uint16_t port) const {
  for (const auto& entry : listening_) {
    if (entry.port != port || entry.ip.v6 != ip.v6) continue;
    if (entry.wildcard ? is_local(ip) : same(entry.ip, ip)) return true;
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
