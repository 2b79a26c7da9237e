// IpAddress: the bytes a packet carries, and the text a record shows for them - the same text
// inet_ntop gives, made once per connection.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <string>

#include "tlsglass/capture/ip_address.hpp"

using namespace tlsglass;
using capture::IpAddress;
using capture::SocketAddress;

namespace {

std::string ntop(int family, const std::uint8_t* bytes) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  return inet_ntop(family, bytes, text.data(), text.size());
}

}  // namespace

TEST_CASE("an IPv4 address reads as inet_ntop writes it, for every octet value") {
  for (unsigned octet = 0; octet < 256; ++octet) {
    const std::array<std::uint8_t, 4> bytes = {static_cast<std::uint8_t>(octet), 0, 99, 100};
    const IpAddress address = IpAddress::from_bytes(bytes);
    CHECK(address.is_v4());
    CHECK(address.text() == ntop(AF_INET, bytes.data()));
  }
}

TEST_CASE("an IPv6 address reads in RFC 5952 form and parses back to the same bytes") {
  const auto address = IpAddress::parse("2001:0db8:0000:0000:0000:0000:0000:0001");
  REQUIRE(address);
  CHECK_FALSE(address->is_v4());
  CHECK(address->text() == "2001:db8::1");
  CHECK(IpAddress::parse(address->text()) == address);
  CHECK(IpAddress::parse("::ffff:192.0.2.1")->text() == "::ffff:192.0.2.1");
}

TEST_CASE("text that is no address, and byte strings of other lengths, give no address") {
  CHECK_FALSE(IpAddress::parse("10.0.0"));
  CHECK_FALSE(IpAddress::parse("example.test"));
  CHECK_FALSE(SocketAddress::parse({"10.0.0.256", 443}));
  const std::array<std::uint8_t, 5> five{};
  CHECK(IpAddress::from_bytes(five).text().empty());
}

TEST_CASE("an IPv4 address and an IPv6 one with the same leading bytes differ") {
  const auto v4 = IpAddress::parse("0.0.0.0");
  const auto v6 = IpAddress::parse("::");
  REQUIRE(v4);
  REQUIRE(v6);
  CHECK(*v4 != *v6);
  const auto endpoint = SocketAddress::parse({"192.0.2.1", 443});
  REQUIRE(endpoint);
  CHECK(endpoint->endpoint().ip == "192.0.2.1");
  CHECK(endpoint->endpoint().port == 443);
}
