// host:port as RFC 3986 §3.2.2 writes it (IPv6 literals in brackets), and --allow-dest rules.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/self_addresses.hpp"

using namespace tlsglass::proxy;

TEST_CASE("host:port splits into a host without brackets and a port") {
  auto name = parse_host_port("app.example.test:443");
  REQUIRE(name);
  CHECK(name->host == "app.example.test");
  CHECK(name->port == 443);
  auto v4 = parse_host_port("192.0.2.7:8443");
  REQUIRE(v4);
  CHECK(v4->host == "192.0.2.7");
  auto v6 = parse_host_port("[2001:db8::1]:443");
  REQUIRE(v6);
  CHECK(v6->host == "2001:db8::1");
  CHECK(v6->port == 443);
  CHECK(parse_host_port("localhost:65535")->port == 65535);
}

TEST_CASE("host:port without a valid host and port is refused") {
  for (const char* bad : {"", "example.com", "example.com:", ":443", "example.com:0",
                          "example.com:65536", "example.com:+443", "example.com:44 3", "::1:443",
                          "[::1]", "[::1]443", "[not-ip]:443", "[192.0.2.1]:443", "999.1.2.3:443",
                          "exa mple.com:443", "a/b:443", "user@host:443", "host:443\r\n"}) {
    INFO(bad);
    CHECK_FALSE(parse_host_port(bad));
  }
}

TEST_CASE("listen addresses are IP literals, port 0 picks a free port") {
  CHECK(parse_listen_address("127.0.0.1:0")->port == 0);
  CHECK(parse_listen_address("[::1]:8080")->host == "::1");
  CHECK(parse_listen_address("localhost:8080")->host == "127.0.0.1");
  CHECK_FALSE(parse_listen_address("example.com:8080"));
  CHECK_FALSE(parse_listen_address("127.0.0.1"));
}

TEST_CASE("addresses are written back with brackets around IPv6") {
  CHECK(format_host_port({"::1", 443}) == "[::1]:443");
  CHECK(format_host_port({"127.0.0.1", 8080}) == "127.0.0.1:8080");
  CHECK(format_host_port({"app.example.test", 443}) == "app.example.test:443");
}

TEST_CASE("--allow-dest rules parse into a host glob or an address block, and a port") {
  auto any = parse_destination_rule("*");
  REQUIRE(any);
  CHECK(any->host_glob == "*");
  CHECK_FALSE(any->port);
  auto exact = parse_destination_rule("App.Example.Test:443");
  REQUIRE(exact);
  CHECK(exact->host_glob == "app.example.test");
  CHECK(exact->port == 443);
  CHECK_FALSE(parse_destination_rule("example.com:*")->port);
  CHECK(parse_destination_rule("10.0.0.0/8:*")->cidr == "10.0.0.0/8");
  CHECK(parse_destination_rule("[::1]:*")->cidr == "::1/128");
  CHECK(parse_destination_rule("127.0.0.1:443")->cidr == "127.0.0.1/32");
  CHECK(parse_destination_rule("[2001:db8::/32]:443")->cidr == "2001:db8::/32");
  for (const char* bad : {"", "example.com", "example.com:0", "10.0.0.0/33:*", "10.0.0.0/8",
                          "[::1/129]:*", "[10.0.0.1]:*", "ex ample:*", "a:b:c"}) {
    INFO(bad);
    CHECK_FALSE(parse_destination_rule(bad));
  }
}

namespace {

std::vector<DestinationRule> rules(std::initializer_list<const char*> texts) {
  std::vector<DestinationRule> out;
  for (const char* text : texts) out.push_back(*parse_destination_rule(text));
  return out;
}

}  // namespace

TEST_CASE("no rules allow every destination") {
  CHECK(check_destination({}, "anything.example", 1) == RuleVerdict::allowed);
  CHECK(address_allowed({}, *parse_ip("192.0.2.1"), 1));
}

TEST_CASE("a host rule matches the name case-insensitively, on its port") {
  const auto allow = rules({"app.example.test:443", "*.internal.test:*"});
  CHECK(check_destination(allow, "APP.example.test", 443) == RuleVerdict::allowed);
  CHECK(check_destination(allow, "app.example.test.", 443) == RuleVerdict::allowed);
  CHECK(check_destination(allow, "app.example.test", 8443) == RuleVerdict::denied);
  CHECK(check_destination(allow, "a.b.internal.test", 22) == RuleVerdict::allowed);
  // "*.x" is every name below x, not x itself.
  CHECK(check_destination(allow, "internal.test", 443) == RuleVerdict::denied);
  CHECK(check_destination(allow, "evilinternal.test", 443) == RuleVerdict::denied);
}

TEST_CASE("an address block matches IP targets at once and names after DNS") {
  const auto allow = rules({"10.0.0.0/8:*", "[::1]:443"});
  CHECK(check_destination(allow, "10.1.2.3", 22) == RuleVerdict::allowed);
  CHECK(check_destination(allow, "11.1.2.3", 22) == RuleVerdict::denied);
  CHECK(check_destination(allow, "::1", 443) == RuleVerdict::allowed);
  CHECK(check_destination(allow, "0:0::1", 443) == RuleVerdict::allowed);
  CHECK(check_destination(allow, "::1", 80) == RuleVerdict::denied);
  CHECK(check_destination(allow, "db.example.test", 5432) == RuleVerdict::by_address);
  CHECK(address_allowed(allow, *parse_ip("10.200.0.1"), 5432));
  CHECK_FALSE(address_allowed(allow, *parse_ip("192.168.0.1"), 5432));
  CHECK_FALSE(address_allowed(allow, *parse_ip("::1"), 80));
}

TEST_CASE("--resolve takes HOST=IP and HOST=IP:PORT, IPv6 in brackets with a port") {
  auto plain = parse_resolve_override("App.Example.test=192.0.2.7");
  REQUIRE(plain);
  CHECK(plain->host == "app.example.test");
  CHECK(plain->ip == "192.0.2.7");
  CHECK_FALSE(plain->port);
  auto with_port = parse_resolve_override("a.test=[2001:db8::1]:8443");
  REQUIRE(with_port);
  CHECK(with_port->ip == "2001:db8::1");
  CHECK(with_port->port == 8443);
  auto bare_v6 = parse_resolve_override("a.test=::1");
  REQUIRE(bare_v6);
  CHECK(bare_v6->ip == "::1");
  for (const char* bad : {"a.test", "a.test=", "=1.2.3.4", "a.test=not-an-ip", "a.test=1.2.3.4:0",
                          "a test=1.2.3.4", "a.test=1.2.3.4:99999"}) {
    INFO(bad);
    CHECK_FALSE(parse_resolve_override(bad));
  }
  const std::vector<ResolveOverride> overrides = {*plain, *with_port};
  CHECK(find_resolve_override(overrides, "APP.example.TEST.") == &overrides[0]);
  CHECK(find_resolve_override(overrides, "b.test") == nullptr);
}

TEST_CASE("the proxy's own addresses: a listener's, and any of this host's for a wildcard") {
  const SelfAddresses self({{"127.0.0.1", 8443}, {"0.0.0.0", 9443}, {"::1", 443}});
  CHECK(self.contains(*parse_ip("127.0.0.1"), 8443));
  CHECK_FALSE(self.contains(*parse_ip("127.0.0.2"), 8443));  // bound to one address only
  CHECK_FALSE(self.contains(*parse_ip("127.0.0.1"), 8444));
  CHECK(self.contains(*parse_ip("127.0.0.5"), 9443));  // 0.0.0.0 takes all of 127.0.0.0/8
  CHECK_FALSE(self.contains(*parse_ip("192.0.2.1"), 9443));  // TEST-NET-1: not this host's
  CHECK(self.contains(*parse_ip("::1"), 443));
  CHECK_FALSE(self.contains(*parse_ip("::1"), 9443));  // an IPv4 wildcard is not IPv6's
  sockaddr_storage mapped{};
  auto& v6 = reinterpret_cast<sockaddr_in6&>(mapped);
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(8443);
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
  CHECK(self.contains(mapped));  // an IPv4-mapped address is the IPv4 one
}
