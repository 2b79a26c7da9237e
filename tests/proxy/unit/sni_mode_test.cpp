// sni mode on real sockets: the ClientHello is held until it is complete, however it arrives,
// then goes to the server its SNI names - byte for byte, and before anything the client sends
// after it. Only 127.0.0.1 is ever contacted.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mutex>

#include "fixture_support.hpp"
#include "test_peers.hpp"
#include "tlsglass/proxy/host_port.hpp"

using namespace tlsglass;
using namespace tlsglass::test;
using trace::Side;

namespace {

// The client's first flight of a recorded handshake (its ClientHello: curl-tls13 sends
// nothing else before the server answers).
std::string recorded_client_hello(const Fixture& fixture) {
  for (const auto& event : fixture.transcript) {
    if (!event.close && event.from == Side::client)
      return std::string(event.bytes.begin(), event.bytes.end());
  }
  return {};
}

proxy::ProxyConfig sni_mode(std::uint16_t server_port) {
  proxy::ProxyConfig config = connect_mode();
  config.mode = proxy::Mode::sni;
  config.resolve.push_back(
      *proxy::parse_resolve_override("app.tlsglass.test=127.0.0.1:" + std::to_string(server_port)));
  return config;
}

}  // namespace

TEST_CASE("sni mode: a ClientHello in pieces reaches the server it names, whole and first") {
  const Fixture fixture = load_fixture("curl-tls13");
  const std::string hello = recorded_client_hello(fixture);
  REQUIRE(hello.size() > 100);
  std::mutex mutex;
  std::string received;
  TestServer server([&](Socket& socket) {
    std::string all = socket.receive_to_end();
    std::lock_guard lock(mutex);
    received = std::move(all);
  });
  RunningProxy proxy(sni_mode(server.port()));
  {
    Socket client = Socket::connect_to(proxy.port());
    const int on = 1;
    setsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    // 1, 2, 3, 5, 8, ... bytes per write, a pause between: the proxy reads several pieces.
    std::size_t at = 0, step = 1, previous = 1;
    while (at < hello.size()) {
      const std::size_t take = std::min(step, hello.size() - at);
      client.send_all(hello.substr(at, take));
      at += take;
      std::this_thread::sleep_for(2ms);
      const std::size_t next = step + previous;
      previous = step;
      step = next;
    }
    client.send_all("after the hello");
    client.shutdown_write();
    client.receive_to_end();
  }
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].mode == "sni");
  CHECK(records[0].client.server_name == "app.tlsglass.test");
  REQUIRE(records[0].destination);
  CHECK(records[0].destination->port == server.port());
  CHECK(records[0].client.hello_reads > 1);  // it did arrive in pieces
  proxy.stop();
  std::lock_guard lock(mutex);
  CHECK(received == hello + "after the hello");
}

TEST_CASE("sni mode: a client that is not speaking TLS is not sent anywhere") {
  TestServer server(echo);
  RunningProxy proxy(sni_mode(server.port()));
  Socket client = Socket::connect_to(proxy.port());
  client.send_all("GET / HTTP/1.1\r\nHost: app.tlsglass.test\r\n\r\n");
  int error = 0;
  client.receive_to_end(&error);
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == trace::Cause::not_tls);
  CHECK(server.connections() == 0);
}

TEST_CASE("sni and socks5 modes: a client that says nothing gets a timeout record and a FIN") {
  for (auto mode : {proxy::Mode::sni, proxy::Mode::socks5}) {
    INFO(proxy::mode_name(mode));
    proxy::ProxyConfig config = sni_mode(closed_port());
    config.mode = mode;
    config.handshake_timeout_s = 0.3;
    RunningProxy proxy(config);
    Socket client = Socket::connect_to(proxy.port());
    int error = -1;
    CHECK(client.receive_to_end(&error).empty());
    CHECK(error == 0);  // a FIN, not an RST
    const auto records = proxy.wait_records(1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].cause == trace::Cause::timeout);
  }
}
