// Which socket addresses are the proxy itself: its listen addresses, with a wildcard listener
// (0.0.0.0, ::) standing for every address of this host on that port - asked of the kernel
// when a connection needs it, not from a list read at start (addresses come and go, and a link
// whose carrier is not up yet is left out of interface lists while it already carries
// packets). A transparent
// connection whose original destination is one of them was not redirected (a client that
// connected to the proxy directly), and an SNI that resolves to one of them would send the
// proxy its own connection: both are refused instead of looping.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "tlsglass/proxy/host_port.hpp"

namespace tlsglass::proxy {

class SelfAddresses {
 public:
  SelfAddresses() = default;
  // `listening`: the bound listen addresses.
  explicit SelfAddresses(const std::vector<HostPort>& listening);

  bool contains(const sockaddr_storage& address) const;
  bool contains(const IpAddress& ip, std::uint16_t port) const;

 private:
  struct Listening {
    IpAddress ip;
    bool wildcard = false;
    std::uint16_t port = 0;
  };
  std::vector<Listening> listening_;
};

// Whether `ip` is an address of this host: loopback, or one the kernel lets a socket bind to
// (bind(2) fails with EADDRNOTAVAIL for any other, unless net.ipv4.ip_nonlocal_bind is set).
bool is_local_address(const IpAddress& ip);

// The IP of an AF_INET / AF_INET6 socket address (an IPv4-mapped IPv6 address as IPv4).
std::optional<IpAddress> ip_of(const sockaddr_storage& address);

}  // namespace tlsglass::proxy
