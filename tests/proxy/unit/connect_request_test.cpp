// The CONNECT head (RFC 9110 §9.3.6) as clients send it: whole, in pieces, with the tunnel's
// first bytes right behind it - and every way it can be refused.
#include <catch2/catch.hpp>

#include <string>

#include "fixture_support.hpp"
#include "tlsglass/proxy/connect_request.hpp"

using namespace tlsglass;
using namespace tlsglass::proxy;

namespace {

tls::Bytes bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

ConnectHead read_whole(const std::string& request, std::size_t max_head = 16 * 1024) {
  ConnectRequestReader reader(max_head);
  return reader.feed(bytes_of(request));
}

// The ClientHello curl sent in a recorded TLS 1.3 handshake.
std::string recorded_client_hello() {
  for (const auto& event : test::load_fixture("curl-tls13").transcript) {
    if (event.from == trace::Side::client && !event.close)
      return {event.bytes.begin(), event.bytes.end()};
  }
  return {};
}

const std::string kHead =
    "CONNECT app.example.test:443 HTTP/1.1\r\nHost: app.example.test:443\r\n"
    "User-Agent: curl/7.88.1\r\nProxy-Connection: Keep-Alive\r\n\r\n";

}  // namespace

TEST_CASE("a CONNECT head names the target; the tunnel starts right after it") {
  const ConnectHead head = read_whole(kHead);
  REQUIRE(head.state == ConnectHead::State::complete);
  CHECK(head.target.host == "app.example.test");
  CHECK(head.target.port == 443);
  CHECK(head.tunnel_offset == kHead.size());
}

TEST_CASE("a ClientHello pipelined behind the CONNECT head is left for the tunnel, intact") {
  const std::string hello = recorded_client_hello();
  REQUIRE(hello.size() > 100);
  const std::string read = kHead + hello;
  const ConnectHead head = read_whole(read);
  REQUIRE(head.state == ConnectHead::State::complete);
  REQUIRE(head.tunnel_offset == kHead.size());
  CHECK(read.substr(head.tunnel_offset) == hello);
}

TEST_CASE("a CONNECT head arriving one byte at a time completes on its last byte") {
  ConnectRequestReader reader(16 * 1024);
  const std::string read = kHead + "\x16\x03\x01";
  for (std::size_t i = 0; i < kHead.size() - 1; ++i) {
    REQUIRE(reader.feed(bytes_of(read.substr(i, 1))).state == ConnectHead::State::need_more);
  }
  // The last byte of the head comes with the first tunnel bytes.
  const std::string last = read.substr(kHead.size() - 1);
  const ConnectHead head = reader.feed(bytes_of(last));
  REQUIRE(head.state == ConnectHead::State::complete);
  CHECK(head.tunnel_offset == 1);
  CHECK(head.target.host == "app.example.test");
}

TEST_CASE("CONNECT targets can be IPv4 and bracketed IPv6 literals, and HTTP/1.0") {
  auto v4 = read_whole("CONNECT 192.0.2.7:8443 HTTP/1.1\r\n\r\n");
  REQUIRE(v4.state == ConnectHead::State::complete);
  CHECK(v4.target.host == "192.0.2.7");
  CHECK(v4.target.port == 8443);
  auto v6 = read_whole("CONNECT [2001:db8::1]:443 HTTP/1.0\r\n\r\n");
  REQUIRE(v6.state == ConnectHead::State::complete);
  CHECK(v6.target.host == "2001:db8::1");
}

TEST_CASE("other methods are answered 405") {
  for (const char* request :
       {"GET http://app.example.test/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "GET / HTTP/1.1\r\n"}) {
    INFO(request);
    const ConnectHead head = read_whole(request);
    REQUIRE(head.state == ConnectHead::State::refused);
    CHECK(head.answer == Answer::method_not_allowed);
  }
}

TEST_CASE("malformed requests and targets are answered 400 with the reason") {
  struct Case {
    const char* request;
    const char* reason;
  };
  for (const Case& c : {Case{"\x16\x03\x01\x02\x00\x01\x00", "malformed request head"},
                        Case{"CONNECT app.example.test HTTP/1.1\r\n\r\n", "host:port"},
                        Case{"CONNECT app.example.test:0 HTTP/1.1\r\n\r\n", "host:port"},
                        Case{"CONNECT [::1:443 HTTP/1.1\r\n\r\n", "host:port"},
                        Case{"CONNECT a:1 HTTP/1.1\r\nBad Header\r\n\r\n", "malformed"},
                        Case{"CONNECT a:1 HTTX/1.1\r\n\r\n", "malformed"}}) {
    INFO(c.request);
    const ConnectHead head = read_whole(c.request);
    REQUIRE(head.state == ConnectHead::State::refused);
    CHECK(head.answer == Answer::bad_request);
    CHECK(head.reason.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("a request head larger than the limit is answered 400, however it arrives") {
  const std::string big =
      "CONNECT app.example.test:443 HTTP/1.1\r\nX-Padding: " + std::string(300, 'a') + "\r\n\r\n";
  const ConnectHead whole = read_whole(big, 256);
  REQUIRE(whole.state == ConnectHead::State::refused);
  CHECK(whole.answer == Answer::bad_request);
  CHECK(whole.reason.find("larger than 256 bytes") != std::string::npos);

  ConnectRequestReader reader(256);
  ConnectHead head;
  for (std::size_t i = 0; i < big.size() && head.state == ConnectHead::State::need_more; i += 10)
    head = reader.feed(bytes_of(big.substr(i, 10)));
  CHECK(head.state == ConnectHead::State::refused);
  // A head that fits is fine even when the read holding it is larger than the limit.
  const ConnectHead fits = read_whole(kHead + std::string(1000, '\x17'), kHead.size());
  CHECK(fits.state == ConnectHead::State::complete);
}

TEST_CASE("a request target too long for host:port is refused before the head ends") {
  ConnectRequestReader reader(64 * 1024);
  const ConnectHead head =
      reader.feed(bytes_of("CONNECT " + std::string(2000, 'a') + ":443 HTTP/1.1\r\n\r\n"));
  REQUIRE(head.state == ConnectHead::State::refused);
  CHECK(head.answer == Answer::bad_request);
}

TEST_CASE("answers carry the status, a plain-text reason and Connection: close") {
  CHECK(answer_bytes(Answer::established) == "HTTP/1.1 200 Connection established\r\n\r\n");
  const std::string bad_gateway =
      answer_bytes(Answer::bad_gateway, "cannot connect to 127.0.0.1:1: ECONNREFUSED");
  CHECK(bad_gateway.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(bad_gateway.find("Connection: close\r\n") != std::string::npos);
  const auto body_at = bad_gateway.find("\r\n\r\n") + 4;
  const std::string body = bad_gateway.substr(body_at);
  CHECK(body == "cannot connect to 127.0.0.1:1: ECONNREFUSED\n");
  CHECK(bad_gateway.find("Content-Length: " + std::to_string(body.size()) + "\r\n") !=
        std::string::npos);
  CHECK(answer_bytes(Answer::method_not_allowed).find("Allow: CONNECT\r\n") != std::string::npos);
  CHECK(answer_bytes(Answer::gateway_timeout).rfind("HTTP/1.1 504 Gateway Timeout", 0) == 0);
  CHECK(answer_bytes(Answer::forbidden).rfind("HTTP/1.1 403 Forbidden", 0) == 0);
}
