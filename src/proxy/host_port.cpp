// host:port forms (RFC 3986 §3.2.2: an IPv6 literal is written in brackets) and the
// --allow-dest rules matched against a CONNECT target.
#include "tlsglass/proxy/host_port.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>

namespace tlsglass::proxy {

namespace {

constexpr std::size_t kMaxHostName = 253;  // RFC 1035 §2.3.4, in text form

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > kMaxHostName) return false;
  return std::all_of(host.begin(), host.end(), is_name_char);
}

// "443" → 443. Digits only (no sign, no spaces); 0 only when allowed.
std::optional<std::uint16_t> parse_port(std::string_view text, bool allow_zero) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  unsigned value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value > 65535 || (value == 0 && !allow_zero)) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Splits "host:port" / "[v6]:port" into the host (brackets removed) and the port text.
struct Split {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
};
std::optional<Split> split_host_port(std::string_view text) {
  Split out;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    out.host = text.substr(1, close - 1);
    out.port = text.substr(close + 2);
    out.bracketed = true;
    return out;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  out.host = text.substr(0, colon);
  out.port = text.substr(colon + 1);
  // An unbracketed IPv6 address cannot be told from its port: "::1:443".
  if (out.host.find(':') != std::string_view::npos) return std::nullopt;
  return out;
}

bool all_digits_and_dots(std::string_view host) {
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

std::optional<HostPort> parse_address(std::string_view text, bool allow_zero) {
  auto split = split_host_port(text);
  if (!split || split->host.empty()) return std::nullopt;
  auto port = parse_port(split->port, allow_zero);
  if (!port) return std::nullopt;
  if (split->bracketed) {
    auto ip = parse_ip(split->host);
    if (!ip || !ip->v6) return std::nullopt;
  } else if (all_digits_and_dots(split->host)) {
    if (!parse_ip(split->host)) return std::nullopt;  // "999.1.2.3" is neither IP nor name
  } else if (!is_host_name(split->host)) {
    return std::nullopt;
  }
  return HostPort{std::string(split->host), *port};
}

// '*' matches any run of characters (so "*.example.com" matches every name below it, but not
// example.com itself). Both sides are lower-case.
bool glob_match(std::string_view glob, std::string_view name) {
  std::size_t g = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = n;
    } else if (g < glob.size() && glob[g] == name[n]) {
      ++g;
      ++n;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

struct Cidr {
  IpAddress network;
  unsigned prefix = 0;
};

std::optional<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  const unsigned width = ip->v6 ? 128 : 32;
  unsigned prefix = width;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (error != std::errc() || end != digits.data() + digits.size() || prefix > width)
      return std::nullopt;
  }
  return Cidr{*ip, prefix};
}

bool cidr_contains(const Cidr& cidr, const IpAddress& address) {
  if (cidr.network.v6 != address.v6) return false;
  unsigned bits = cidr.prefix;
  for (std::size_t i = 0; bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
    const unsigned take = std::min(bits, 8u);
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - take));
    if ((cidr.network.bytes[i] & mask) != (address.bytes[i] & mask)) return false;
  }
  return true;
}

bool port_matches(const DestinationRule& rule, std::uint16_t port) {
  return !rule.port || *rule.port == port;
}

// The name as rules compare it: lower case, without the root's trailing dot.
std::string canonical_name(std::string_view host) {
  std::string name = lowercase(host);
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  return name;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string copy(text);  // inet_pton wants a terminated string
  IpAddress out;
  if (inet_pton(AF_INET, copy.c_str(), out.bytes.data()) == 1) return out;
  out.v6 = true;
  if (inet_pton(AF_INET6, copy.c_str(), out.bytes.data()) == 1) return out;
  return std::nullopt;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  return parse_address(text, false);
}

std::optional<HostPort> parse_listen_address(std::string_view text) {
  auto address = parse_address(text, true);
  if (!address) return std::nullopt;
  if (lowercase(address->host) == "localhost") address->host = "127.0.0.1";
  if (!parse_ip(address->host)) return std::nullopt;
  return address;
}

std::string format_host_port(const HostPort& address) {
  if (address.host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", address.host, address.port);
  return fmt::format("{}:{}", address.host, address.port);
}

std::optional<trace::Endpoint> endpoint_of(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    return trace::Endpoint{text, ntohs(v4->sin_port)};
  }
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    return trace::Endpoint{text, ntohs(v6->sin6_port)};
  }
  return std::nullopt;
}

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::connect: return "connect";
    case Mode::forward: return "forward";
    case Mode::sni: return "sni";
    case Mode::transparent: return "transparent";
    case Mode::socks5: return "socks5";
  }
  return "connect";
}

std::optional<ResolveOverride> parse_resolve_override(std::string_view text) {
  const auto equals = text.find('=');
  if (equals == std::string_view::npos) return std::nullopt;
  const std::string_view host = text.substr(0, equals);
  const std::string_view target = text.substr(equals + 1);
  if (!is_host_name(host)) return std::nullopt;
  ResolveOverride out;
  out.host = canonical_name(host);
  if (parse_ip(target)) {  // an IP alone (IPv6 without brackets)
    out.ip = std::string(target);
    return out;
  }
  auto address = parse_address(target, false);
  if (!address || !parse_ip(address->host)) return std::nullopt;
  out.ip = address->host;
  out.port = address->port;
  return out;
}

const ResolveOverride* find_resolve_override(const std::vector<ResolveOverride>& overrides,
                                             std::string_view host) {
  const std::string name = canonical_name(host);
  for (const auto& entry : overrides) {
    if (entry.host == name) return &entry;
  }
  return nullptr;
}

std::optional<DestinationRule> parse_destination_rule(std::string_view text) {
  DestinationRule rule;
  if (text == "*") {
    rule.host_glob = "*";
    return rule;
  }
  auto split = split_host_port(text);
  if (!split || split->host.empty()) return std::nullopt;
  if (split->port != "*") {
    rule.port = parse_port(split->port, false);
    if (!rule.port) return std::nullopt;
  }
  // IP literals and CIDR blocks are matched on the address ("[::1]" equals "[0::1]").
  const bool looks_numeric = split->bracketed || all_digits_and_dots(split->host) ||
                             split->host.find('/') != std::string_view::npos;
  if (looks_numeric) {
    auto cidr = parse_cidr(split->host);
    if (!cidr || cidr->network.v6 != split->bracketed) return std::nullopt;
    rule.cidr = std::string(split->host);
    if (split->host.find('/') == std::string_view::npos)
      *rule.cidr += cidr->network.v6 ? "/128" : "/32";
    return rule;
  }
  const bool glob_chars = std::all_of(split->host.begin(), split->host.end(),
                                      [](char c) { return is_name_char(c) || c == '*'; });
  if (!glob_chars || split->host.size() > kMaxHostName) return std::nullopt;
  rule.host_glob = canonical_name(split->host);
  return rule;
}

RuleVerdict check_destination(const std::vector<DestinationRule>& rules, std::string_view host,
                              std::uint16_t port) {
  if (rules.empty()) return RuleVerdict::allowed;
  const auto ip = parse_ip(host);
  const std::string name = canonical_name(host);
  bool address_rules = false;
  for (const auto& rule : rules) {
    if (!port_matches(rule, port)) continue;
    if (rule.cidr) {
      if (!ip) {
        address_rules = true;  // the name may resolve into the block
      } else if (auto cidr = parse_cidr(*rule.cidr); cidr && cidr_contains(*cidr, *ip)) {
        return RuleVerdict::allowed;
      }
      continue;
    }
    if (glob_match(rule.host_glob, name)) return RuleVerdict::allowed;
  }
  return address_rules ? RuleVerdict::by_address : RuleVerdict::denied;
}

bool address_allowed(const std::vector<DestinationRule>& rules, const IpAddress& address,
                     std::uint16_t port) {
  if (rules.empty()) return true;
  for (const auto& rule : rules) {
    if (!port_matches(rule, port) || !rule.cidr) continue;
    if (auto cidr = parse_cidr(*rule.cidr); cidr && cidr_contains(*cidr, address)) return true;
  }
  return false;
}

}  // namespace tlsglass::proxy
