// Connect mode on real sockets: the tunnel after "200 Connection established", and every
// error answer with its record. Only 127.0.0.1 is ever contacted.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fixture_support.hpp"
#include "test_peers.hpp"
#include "tlsglass/proxy/host_port.hpp"

using namespace tlsglass;
using namespace tlsglass::test;
using trace::Cause;
using trace::Side;

namespace {

const std::string kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

std::string connect_head(std::uint16_t port) {
  return "CONNECT 127.0.0.1:" + std::to_string(port) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

// The answer to `request`, up to the proxy's FIN.
std::string ask(std::uint16_t proxy_port, const std::string& request, int* error = nullptr) {
  Socket client = Socket::connect_to(proxy_port);
  client.send_all(request);
  return client.receive_to_end(error);
}

}  // namespace

TEST_CASE("a ClientHello sent right behind the CONNECT head reaches the server") {
  TestServer server(echo);
  RunningProxy proxy(connect_mode());
  Socket client = Socket::connect_to(proxy.port());
  const std::string tunnel = "pipelined tunnel bytes";
  client.send_all(connect_head(server.port()) + tunnel);
  CHECK(client.receive(kEstablished.size()) == kEstablished);
  CHECK(client.receive(tunnel.size()) == tunnel);
  client.shutdown_write();
  CHECK(client.receive_to_end().empty());
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].mode == "connect");
  CHECK(records[0].destination_domain == "127.0.0.1");
  REQUIRE(records[0].destination);
  CHECK(records[0].destination->port == server.port());
}

TEST_CASE("a recorded TLS 1.3 handshake through the CONNECT tunnel gives the offline record") {
  const Fixture fixture = load_fixture("curl-tls13");
  // Each peer plays its side of the transcript in lock step: send its segments, read the
  // other side's.
  auto play = [&fixture](Socket& socket, Side me) {
    for (const auto& event : fixture.transcript) {
      if (event.close) continue;
      if (event.from == me) {
        socket.send_all({event.bytes.begin(), event.bytes.end()});
      } else if (socket.receive(event.bytes.size()).size() != event.bytes.size()) {
        return;
      }
    }
  };
  TestServer server([&](Socket& socket) {
    play(socket, Side::server);
    socket.receive_to_end();
  });
  RunningProxy proxy(connect_mode());
  {
    Socket client = Socket::connect_to(proxy.port());
    client.send_all(connect_head(server.port()));
    REQUIRE(client.receive(kEstablished.size()) == kEstablished);
    play(client, Side::client);
  }
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  const trace::HandshakeRecord& live = records[0];
  const trace::HandshakeRecord offline = replay(fixture);
  CHECK(live.cause == Cause::ok);
  CHECK(live.cause == offline.cause);
  CHECK(live.established);
  CHECK(live.client.server_name == offline.client.server_name);
  CHECK(live.version == offline.version);
  CHECK(live.cipher == offline.cipher);
  CHECK(live.client.ja4 == offline.client.ja4);
  CHECK(live.client.alpn == offline.client.alpn);
  CHECK(live.prelude == "http_connect");
  CHECK(live.destination_domain == "app.tlsglass.test");  // the SNI names it
}

TEST_CASE("a refused server is answered 502 with the reason, and recorded") {
  RunningProxy proxy(connect_mode());
  const std::uint16_t port = closed_port();
  int error = -1;
  const std::string answer = ask(proxy.port(), connect_head(port), &error);
  CHECK(answer.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(answer.find("ECONNREFUSED") != std::string::npos);
  CHECK(error == 0);  // the answer ends with a FIN, not an RST that could destroy it
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::upstream_unreachable);
  CHECK(records[0].explanation.find("ECONNREFUSED") != std::string::npos);
  REQUIRE(records[0].destination);
  CHECK(records[0].destination->port == port);
}

TEST_CASE("a destination --allow-dest does not allow is answered 403, and recorded") {
  TestServer server(echo);
  auto config = connect_mode();
  config.allow_dest = {*proxy::parse_destination_rule("app.example.test:443"),
                       *proxy::parse_destination_rule("10.0.0.0/8:*")};
  RunningProxy proxy(config);
  const std::string answer = ask(proxy.port(), connect_head(server.port()));
  CHECK(answer.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
  CHECK(answer.find("not allowed by --allow-dest") != std::string::npos);
  CHECK(server.connections() == 0);
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::upstream_unreachable);
  CHECK(records[0].next_step.find("--allow-dest 127.0.0.1:") != std::string::npos);
}

TEST_CASE("a server that never answers the SYN is answered 504 after the connect timeout") {
  FullBacklog silent;
  auto config = connect_mode();
  config.connect_timeout_s = 0.3;
  RunningProxy proxy(config);
  const std::string answer = ask(proxy.port(), connect_head(silent.port()));
  CHECK(answer.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0) == 0);
  CHECK(answer.find("timed out after 0.3 s") != std::string::npos);
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::upstream_unreachable);
}

TEST_CASE("stopping the proxy while it still connects records the connection as unreachable") {
  FullBacklog silent;
  RunningProxy proxy(connect_mode());
  Socket client = Socket::connect_to(proxy.port());
  client.send_all(connect_head(silent.port()));
  std::this_thread::sleep_for(100ms);
  CHECK(proxy.stop() == 0);
  const auto records = proxy.records();
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::upstream_unreachable);
  CHECK(client.receive_to_end().empty());
}

TEST_CASE("a CONNECT to a name resolves it first") {
  TestServer server(echo);
  RunningProxy proxy(connect_mode());
  Socket client = Socket::connect_to(proxy.port());
  client.send_all("CONNECT localhost:" + std::to_string(server.port()) + " HTTP/1.1\r\n\r\n");
  CHECK(client.receive(kEstablished.size()) == kEstablished);
  client.send_all("ping");
  CHECK(client.receive(4) == "ping");
  client.shutdown_write();
  CHECK(client.receive_to_end().empty());
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].destination_domain == "localhost");
  REQUIRE(records[0].destination);
  CHECK(records[0].destination->ip == "127.0.0.1");
}

TEST_CASE("other methods get 405 and malformed heads 400, each with its record") {
  auto config = connect_mode();
  config.max_request_head = 1024;
  RunningProxy proxy(config);
  CHECK(ask(proxy.port(), "GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
  CHECK(ask(proxy.port(), "CONNECT nowhere HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400 ", 0) == 0);
  const std::string oversized = "CONNECT 127.0.0.1:1 HTTP/1.1\r\nX: " + std::string(2000, 'a');
  const std::string answer = ask(proxy.port(), oversized);
  CHECK(answer.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(answer.find("larger than 1024 bytes") != std::string::npos);
  // A TLS client that took the proxy for the server: the record says the port speaks HTTP.
  const std::string hello = [] {
    for (const auto& event : load_fixture("curl-tls13").transcript)
      if (event.from == Side::client) return std::string(event.bytes.begin(), event.bytes.end());
    return std::string();
  }();
  CHECK(ask(proxy.port(), hello).rfind("HTTP/1.1 400 ", 0) == 0);
  const auto records = proxy.wait_records(4);
  REQUIRE(records.size() == 4);
  for (const auto& record : records) CHECK(record.cause == Cause::not_tls);
}

TEST_CASE("a client that never completes its CONNECT head is answered 408") {
  auto config = connect_mode();
  config.handshake_timeout_s = 0.2;
  RunningProxy proxy(config);
  Socket client = Socket::connect_to(proxy.port());
  client.send_all("CONNECT 127.0.0.1:4");
  CHECK(client.receive_to_end().rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::timeout);
}
