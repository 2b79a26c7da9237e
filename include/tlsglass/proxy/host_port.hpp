// Addresses as the command line and a CONNECT request write them, and the --allow-dest rules
// that decide where a CONNECT may go. parse_host_port and parse_destination_rule are declared
// in proxy.hpp; this header adds what the proxy needs around them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlsglass/proxy/proxy.hpp"

struct sockaddr;

namespace tlsglass::proxy {

// An IPv4 or IPv6 address in network byte order (IPv4 in the first 4 bytes).
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};
std::optional<IpAddress> parse_ip(std::string_view text);

// A --listen address: an IP literal (or "localhost", meaning 127.0.0.1) and a port; port 0
// asks the kernel for a free one. Names are refused: a listen socket is bound, not resolved.
std::optional<HostPort> parse_listen_address(std::string_view text);

// "example.com:443", "127.0.0.1:443", "[::1]:443".
std::string format_host_port(const HostPort& address);

// The IP and port of an AF_INET / AF_INET6 socket address (nullopt for other families).
std::optional<trace::Endpoint> endpoint_of(const sockaddr* address);

// The --resolve entry for `host` (matched without case and without a trailing dot), if any.
const ResolveOverride* find_resolve_override(const std::vector<ResolveOverride>& overrides,
                                             std::string_view host);

enum class RuleVerdict : std::uint8_t {
  allowed,
  denied,
  by_address,  // only CIDR rules can still allow this name: check each resolved address
};

// Whether a CONNECT to host:port is allowed before any DNS lookup. No rules: allowed.
RuleVerdict check_destination(const std::vector<DestinationRule>& rules, std::string_view host,
                              std::uint16_t port);

// Whether a resolved address of a name that check_destination() left `by_address` is allowed.
bool address_allowed(const std::vector<DestinationRule>& rules, const IpAddress& address,
                     std::uint16_t port);

}  // namespace tlsglass::proxy
