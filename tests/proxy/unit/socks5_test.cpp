// SOCKS5 (RFC 1928) and its username/password method (RFC 1929): the negotiation on its own,
// with the byte sequences the RFCs define, then socks5 mode on real sockets - the tunnel and
// the reply code for every failure. Only 127.0.0.1 is ever contacted.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include "test_peers.hpp"
#include "tlsglass/proxy/socks5_negotiation.hpp"

using namespace tlsglass;
using namespace tlsglass::test;
using proxy::Socks5Negotiation;
using proxy::SocksStep;
using trace::Cause;

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

tls::Bytes view(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// RFC 1928 §4: VER CMD RSV ATYP DST.ADDR DST.PORT, CONNECT to an IPv4 address.
std::string connect_ipv4(std::uint16_t port, std::initializer_list<int> ip = {127, 0, 0, 1}) {
  std::string out = bytes({5, 1, 0, 1});
  for (int b : ip) out += static_cast<char>(b);
  return out + bytes({port >> 8, port & 0xff});
}

std::string connect_name(const std::string& name, std::uint16_t port) {
  return bytes({5, 1, 0, 3, static_cast<int>(name.size())}) + name +
         bytes({port >> 8, port & 0xff});
}

const std::string kNoAuthGreeting = bytes({5, 1, 0});
const std::string kNoAuthChosen = bytes({5, 0});

proxy::ProxyConfig socks_mode() {
  proxy::ProxyConfig config = connect_mode();
  config.mode = proxy::Mode::socks5;
  return config;
}

// The REP field of a reply read from the proxy after the method selection.
int reply_code(const std::string& reply) { return reply.size() >= 2 ? static_cast<unsigned char>(reply[1]) : -1; }

// Greets, asks for `request`, returns everything the proxy sent up to its FIN.
std::string ask(std::uint16_t proxy_port, const std::string& request, int* error = nullptr) {
  Socket client = Socket::connect_to(proxy_port);
  client.send_all(kNoAuthGreeting);
  CHECK(client.receive(2) == kNoAuthChosen);
  client.send_all(request);
  return client.receive_to_end(error);
}

}  // namespace

TEST_CASE("socks5: no authentication, then CONNECT to an IPv4 address") {
  Socks5Negotiation negotiation(std::nullopt);
  SocksStep greeting = negotiation.feed(view(kNoAuthGreeting));
  CHECK(greeting.state == SocksStep::State::need_more);
  CHECK(greeting.reply == kNoAuthChosen);
  SocksStep request = negotiation.feed(view(connect_ipv4(8443)));
  REQUIRE(request.state == SocksStep::State::complete);
  CHECK(request.reply.empty());
  CHECK(request.target.host == "127.0.0.1");
  CHECK(request.target.port == 8443);
  CHECK(request.tunnel_offset == 10);
}

TEST_CASE("socks5: a greeting, request and ClientHello in one read; the tunnel starts after the request") {
  Socks5Negotiation negotiation(std::nullopt);
  const std::string all = bytes({5, 2, 0, 2}) + connect_name("app.example.test", 443) + "\x16\x03\x01";
  SocksStep step = negotiation.feed(view(all));
  REQUIRE(step.state == SocksStep::State::complete);
  CHECK(step.reply == kNoAuthChosen);
  CHECK(step.target.host == "app.example.test");
  CHECK(step.target.port == 443);
  CHECK(all.substr(step.tunnel_offset) == "\x16\x03\x01");
}

TEST_CASE("socks5: fed one byte at a time, the same answers") {
  Socks5Negotiation negotiation(std::nullopt);
  const std::string all = kNoAuthGreeting + bytes({5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                   0, 0, 0, 1, 0x01, 0xbb});
  std::string replies;
  SocksStep last;
  for (std::size_t i = 0; i < all.size(); ++i) {
    last = negotiation.feed(view(all.substr(i, 1)));
    replies += last.reply;
    if (i + 1 < all.size()) REQUIRE(last.state == SocksStep::State::need_more);
  }
  REQUIRE(last.state == SocksStep::State::complete);
  CHECK(replies == kNoAuthChosen);
  CHECK(last.target.host == "::1");
  CHECK(last.target.port == 443);
  CHECK(last.tunnel_offset == 1);  // the last byte fed was the request's last
}

TEST_CASE("socks5: no acceptable method is answered X'FF' (RFC 1928 §3)") {
  Socks5Negotiation negotiation(std::nullopt);
  SocksStep step = negotiation.feed(view(bytes({5, 1, 2})));  // username/password only
  CHECK(step.state == SocksStep::State::refused);
  CHECK(step.reply == bytes({5, 0xff}));
  CHECK(step.reason.find("--socks-auth") != std::string::npos);
}

TEST_CASE("socks5: username/password (RFC 1929), accepted and refused") {
  const proxy::SocksCredentials credentials{"alice", "s3cret"};
  const std::string greeting = bytes({5, 2, 0, 2});
  auto auth = [](const std::string& user, const std::string& password) {
    return bytes({1, static_cast<int>(user.size())}) + user +
           bytes({static_cast<int>(password.size())}) + password;
  };
  SECTION("accepted") {
    Socks5Negotiation negotiation(credentials);
    SocksStep step = negotiation.feed(view(greeting));
    CHECK(step.reply == bytes({5, 2}));
    step = negotiation.feed(view(auth("alice", "s3cret")));
    CHECK(step.state == SocksStep::State::need_more);
    CHECK(step.reply == bytes({1, 0}));
    step = negotiation.feed(view(connect_ipv4(443)));
    CHECK(step.state == SocksStep::State::complete);
  }
  SECTION("a wrong password: a non-zero status, then the close") {
    Socks5Negotiation negotiation(credentials);
    negotiation.feed(view(greeting));
    SocksStep step = negotiation.feed(view(auth("alice", "guess")));
    CHECK(step.state == SocksStep::State::refused);
    CHECK(step.reply == bytes({1, 1}));
    CHECK(step.reason.find("alice") != std::string::npos);
  }
  SECTION("a client that offers only no-authentication") {
    Socks5Negotiation negotiation(credentials);
    SocksStep step = negotiation.feed(view(kNoAuthGreeting));
    CHECK(step.state == SocksStep::State::refused);
    CHECK(step.reply == bytes({5, 0xff}));
  }
}

TEST_CASE("socks5: BIND and UDP ASSOCIATE get X'07', an unknown address type X'08'") {
  for (int command : {2, 3}) {
    Socks5Negotiation negotiation(std::nullopt);
    negotiation.feed(view(kNoAuthGreeting));
    SocksStep step = negotiation.feed(view(bytes({5, command, 0, 1, 127, 0, 0, 1, 0, 80})));
    CHECK(step.state == SocksStep::State::refused);
    CHECK(reply_code(step.reply) == 0x07);
    CHECK(step.reply.size() == 10);  // VER REP RSV ATYP(1) BND.ADDR(4) BND.PORT(2)
  }
  Socks5Negotiation negotiation(std::nullopt);
  negotiation.feed(view(kNoAuthGreeting));
  SocksStep step = negotiation.feed(view(bytes({5, 1, 0, 9})));
  CHECK(step.state == SocksStep::State::refused);
  CHECK(reply_code(step.reply) == 0x08);
}

TEST_CASE("socks5: a client that is not speaking SOCKS5 is refused with no reply, and told why") {
  Socks5Negotiation tls_client(std::nullopt);
  SocksStep step = tls_client.feed(view("\x16\x03\x01\x02\x00"));
  CHECK(step.state == SocksStep::State::refused);
  CHECK(step.reply.empty());
  CHECK(step.reason.find("ClientHello") != std::string::npos);
  Socks5Negotiation socks4(std::nullopt);
  CHECK(socks4.feed(view(bytes({4, 1, 0, 80, 127, 0, 0, 1, 0}))).reason.find("SOCKS4") !=
        std::string::npos);
}

TEST_CASE("socks5: a reply carries BND.ADDR and BND.PORT in network order") {
  CHECK(proxy::socks_reply_bytes(proxy::SocksReply::succeeded, trace::Endpoint{"127.0.0.1", 0x1234}) ==
        bytes({5, 0, 0, 1, 127, 0, 0, 1, 0x12, 0x34}));
  const std::string v6 = proxy::socks_reply_bytes(proxy::SocksReply::succeeded, trace::Endpoint{"::1", 443});
  CHECK(v6 == bytes({5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb}));
  CHECK(proxy::socks_reply_bytes(proxy::SocksReply::connection_refused) ==
        bytes({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("socks5 mode: the tunnel after a success reply that names the proxy's own end") {
  std::atomic<int> server_saw_port{0};
  TestServer server([&](Socket& socket) {
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    getpeername(socket.fd(), reinterpret_cast<sockaddr*>(&peer), &length);
    server_saw_port = ntohs(peer.sin_port);
    echo(socket);
  });
  RunningProxy proxy(socks_mode());
  Socket client = Socket::connect_to(proxy.port());
  client.send_all(kNoAuthGreeting);
  REQUIRE(client.receive(2) == kNoAuthChosen);
  client.send_all(connect_ipv4(server.port()) + "pipelined");
  const std::string reply = client.receive(10);
  REQUIRE(reply.size() == 10);
  CHECK(reply.substr(0, 8) == bytes({5, 0, 0, 1, 127, 0, 0, 1}));
  const int bound_port = static_cast<unsigned char>(reply[8]) << 8 | static_cast<unsigned char>(reply[9]);
  CHECK(client.receive(9) == "pipelined");
  CHECK(bound_port == server_saw_port.load());  // BND.PORT: where the server sees us from
  client.shutdown_write();
  CHECK(client.receive_to_end().empty());
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].mode == "socks5");
  CHECK(records[0].prelude == "socks5");
  REQUIRE(records[0].destination);
  CHECK(records[0].destination->port == server.port());
}

TEST_CASE("socks5 mode: each failure has its reply code, a FIN, and an upstream_unreachable record") {
  SECTION("connection refused: X'05'") {
    RunningProxy proxy(socks_mode());
    int error = -1;
    const std::string reply = ask(proxy.port(), connect_ipv4(closed_port()), &error);
    CHECK(reply == bytes({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
    CHECK(error == 0);  // a FIN after the reply, not an RST that could destroy it
    const auto records = proxy.wait_records(1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].cause == Cause::upstream_unreachable);
    CHECK(records[0].explanation.find("ECONNREFUSED") != std::string::npos);
    CHECK(records[0].explanation.find("connection refused") != std::string::npos);
  }
  SECTION("a name that does not resolve: X'04' host unreachable") {
    RunningProxy proxy(socks_mode());
    const std::string reply = ask(proxy.port(), connect_name("no-such-host.invalid", 443));
    CHECK(reply_code(reply) == 0x04);
    const auto records = proxy.wait_records(1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].explanation.find("cannot resolve no-such-host.invalid") != std::string::npos);
  }
  SECTION("--allow-dest refuses it: X'02' not allowed by ruleset") {
    proxy::ProxyConfig config = socks_mode();
    config.allow_dest.push_back(*proxy::parse_destination_rule("allowed.example:443"));
    RunningProxy proxy(config);
    const std::string reply = ask(proxy.port(), connect_ipv4(443));
    CHECK(reply_code(reply) == 0x02);
    const auto records = proxy.wait_records(1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].explanation.find("--allow-dest") != std::string::npos);
  }
  SECTION("the server does not answer within --connect-timeout: X'06' TTL expired") {
    FullBacklog hanging;
    proxy::ProxyConfig config = socks_mode();
    config.connect_timeout_s = 0.5;
    RunningProxy proxy(config);
    const std::string reply = ask(proxy.port(), connect_ipv4(hanging.port()));
    CHECK(reply_code(reply) == 0x06);
    const auto records = proxy.wait_records(1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].explanation.find("timed out") != std::string::npos);
  }
  SECTION("a wrong password: RFC 1929 status 1 and the close") {
    proxy::ProxyConfig config = socks_mode();
    config.socks_credentials = proxy::SocksCredentials{"alice", "s3cret"};
    RunningProxy proxy(config);
    Socket client = Socket::connect_to(proxy.port());
    client.send_all(bytes({5, 1, 2}));
    REQUIRE(client.receive(2) == bytes({5, 2}));
    client.send_all(bytes({1, 5}) + "alice" + bytes({3}) + "bad");
    int error = -1;
    CHECK(client.receive_to_end(&error) == bytes({1, 1}));
    CHECK(error == 0);
    const auto records = proxy.wait_records(1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].cause == Cause::upstream_unreachable);
    CHECK(records[0].explanation.find("refused") != std::string::npos);
  }
}
