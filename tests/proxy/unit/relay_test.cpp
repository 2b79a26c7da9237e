// The relay on real sockets (127.0.0.1): bytes, half-closes and resets pass through as they
// were sent; timeouts and a stop end connections with exactly one record each.
#include <catch2/catch.hpp>

#include <set>

#include "fixture_support.hpp"
#include "test_peers.hpp"

using namespace tlsglass;
using namespace tlsglass::test;
using trace::Cause;
using trace::CloseKind;
using trace::Side;

namespace {

// The first bytes curl sent in a recorded TLS 1.3 handshake: a real ClientHello.
std::string client_hello() {
  for (const auto& event : load_fixture("curl-tls13").transcript) {
    if (event.from == Side::client && !event.close) return {event.bytes.begin(), event.bytes.end()};
  }
  return {};
}

}  // namespace

TEST_CASE("4 MiB each way pass through byte for byte, and the FIN after them") {
  TestServer server(echo);
  RunningProxy proxy(forward_to(server.port()));
  Socket client = Socket::connect_to(proxy.port());
  const std::string sent = random_bytes(4 << 20, 1);
  std::string received;
  std::thread reader([&] { received = client.receive(sent.size()); });
  client.send_all(sent);
  client.shutdown_write();
  reader.join();
  CHECK(received.size() == sent.size());
  CHECK((received == sent));
  CHECK(client.receive_to_end().empty());  // the echo server's FIN came through
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].mode == "forward");
  REQUIRE(records[0].destination);
  CHECK(records[0].destination->port == server.port());
}

TEST_CASE("a client's FIN reaches the server while the server's answer still flows back") {
  TestServer server([](Socket& socket) {
    const std::string request = socket.receive_to_end();  // until the client's FIN
    socket.send_all("got " + std::to_string(request.size()) + " bytes");
  });
  RunningProxy proxy(forward_to(server.port()));
  Socket client = Socket::connect_to(proxy.port());
  client.send_all(random_bytes(1 << 20, 2));
  client.shutdown_write();
  CHECK(client.receive_to_end() == "got 1048576 bytes");
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::not_tls);  // random bytes: settled long before the FIN
}

TEST_CASE("a server's FIN reaches the client while the client can still send") {
  std::atomic<std::size_t> server_got{0};
  TestServer server([&](Socket& socket) {
    socket.send_all("hello");
    socket.shutdown_write();
    server_got = socket.receive_to_end().size();
  });
  RunningProxy proxy(forward_to(server.port()));
  {
    Socket client = Socket::connect_to(proxy.port());
    CHECK(client.receive_to_end() == "hello");
    client.send_all(random_bytes(256 << 10, 3));
    client.shutdown_write();
    proxy.wait_records(1);
    CHECK(client.receive_to_end().empty());
  }
  for (int i = 0; i < 100 && server_got != (256u << 10); ++i) std::this_thread::sleep_for(20ms);
  CHECK(server_got == (256u << 10));
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].closed_by == Side::server);
}

TEST_CASE("a server's RST after the ClientHello reaches the client as an RST") {
  const std::string hello = client_hello();
  TestServer server([&](Socket& socket) {
    socket.receive(hello.size());
    socket.reset();
  });
  RunningProxy proxy(forward_to(server.port()));
  Socket client = Socket::connect_to(proxy.port());
  client.send_all(hello);
  int error = 0;
  client.receive_to_end(&error);
  CHECK(error == ECONNRESET);
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::reset_mid_handshake);
  CHECK(records[0].closed_by == Side::server);
  CHECK(records[0].close == CloseKind::rst);
  CHECK(records[0].client.server_name == "app.tlsglass.test");
}

TEST_CASE("a client's RST reaches the server as an RST") {
  std::atomic<int> server_error{-1};
  TestServer server([&](Socket& socket) {
    int error = 0;
    socket.receive_to_end(&error);
    server_error = error;
  });
  RunningProxy proxy(forward_to(server.port()));
  Socket client = Socket::connect_to(proxy.port());
  client.send_all(client_hello());
  std::this_thread::sleep_for(50ms);
  client.reset();
  for (int i = 0; i < 100 && server_error < 0; ++i) std::this_thread::sleep_for(20ms);
  CHECK(server_error == ECONNRESET);
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].closed_by == Side::client);
  CHECK(records[0].close == CloseKind::rst);
}

TEST_CASE("a slow reader holds the sender back without losing a byte") {
  std::string server_got;
  TestServer server([&](Socket& socket) {
    std::this_thread::sleep_for(300ms);  // the proxy's queue towards us fills meanwhile
    server_got = socket.receive_to_end();
  });
  auto config = forward_to(server.port());
  config.high_water = 64 << 10;
  config.low_water = 16 << 10;
  RunningProxy proxy(config);
  const std::string sent = random_bytes(8 << 20, 4);
  {
    Socket client = Socket::connect_to(proxy.port());
    client.send_all(sent);
    client.shutdown_write();
    client.receive_to_end();
  }
  proxy.wait_records(1);
  CHECK(server_got.size() == sent.size());
  CHECK((server_got == sent));
}

TEST_CASE("an unfinished handshake gets a timeout record and the relay goes on") {
  TestServer server(echo);
  auto config = forward_to(server.port());
  config.handshake_timeout_s = 0.2;
  RunningProxy proxy(config);
  Socket client = Socket::connect_to(proxy.port());
  const std::string start = client_hello().substr(0, 20);  // a ClientHello cut short
  client.send_all(start);
  CHECK(client.receive(start.size()) == start);
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  CHECK(records[0].cause == Cause::timeout);
  client.send_all("still relayed");
  CHECK(client.receive(13) == "still relayed");
  client.shutdown_write();
  CHECK(client.receive_to_end().empty());
  CHECK(proxy.records().size() == 1);  // no second record at the close
}

TEST_CASE("a connection idle past the idle timeout is closed with a FIN both ways") {
  std::atomic<bool> server_saw_fin{false};
  TestServer server([&](Socket& socket) {
    echo(socket);
    server_saw_fin = true;
  });
  auto config = forward_to(server.port());
  config.idle_timeout_s = 0.3;
  config.handshake_timeout_s = 0.1;
  RunningProxy proxy(config);
  Socket client = Socket::connect_to(proxy.port());
  client.send_all("x");
  CHECK(client.receive(1) == "x");
  const auto before = std::chrono::steady_clock::now();
  int error = -1;
  CHECK(client.receive_to_end(&error).empty());
  CHECK(error == 0);
  CHECK(std::chrono::steady_clock::now() - before < 3s);
  for (int i = 0; i < 100 && !server_saw_fin; ++i) std::this_thread::sleep_for(20ms);
  CHECK(server_saw_fin);
  CHECK(proxy.wait_records(1).size() == 1);
}

TEST_CASE("stopping the proxy writes a record for every connection still open") {
  TestServer server(echo);
  RunningProxy proxy(forward_to(server.port()));
  std::vector<Socket> clients;
  const std::string start = client_hello().substr(0, 30);
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Socket::connect_to(proxy.port()));
    clients.back().send_all(start);
    CHECK(clients.back().receive(start.size()) == start);
  }
  const auto before = std::chrono::steady_clock::now();
  CHECK(proxy.stop() == 0);
  CHECK(std::chrono::steady_clock::now() - before < 2s);
  const auto records = proxy.records();
  CHECK(records.size() == 3);
  for (const auto& record : records) CHECK(record.cause == Cause::incomplete);
  for (auto& client : clients) CHECK(client.receive_to_end().empty());
}

TEST_CASE("every connection gets exactly one record, whoever closes first and however") {
  // The first byte tells the server what to do: echo until the client's FIN, close at once,
  // or reset.
  TestServer server([](Socket& socket) {
    const std::string first = socket.receive(1);
    if (first == "c") echo(socket);
    if (first == "r") socket.reset();
  });
  RunningProxy proxy(forward_to(server.port()));
  constexpr int kEach = 10;
  std::vector<std::thread> clients;
  for (int i = 0; i < kEach * 4; ++i) {
    clients.emplace_back([&, i] {
      Socket client = Socket::connect_to(proxy.port());
      switch (i % 4) {
        case 0:
          client.send_all("c");
          client.shutdown_write();
          client.receive_to_end();
          break;
        case 1:
          client.send_all("s");
          client.receive_to_end();
          break;
        case 2:
          client.send_all("r");
          client.receive_to_end();
          break;
        case 3:
          client.send_all("cx");
          client.receive(1);
          client.reset();
          break;
      }
    });
  }
  for (auto& client : clients) client.join();
  const auto records = proxy.wait_records(kEach * 4);
  CHECK(proxy.stop() == 0);
  CHECK(proxy.records().size() == kEach * 4);
  std::set<std::uint64_t> numbers;
  for (const auto& record : records) numbers.insert(record.conn);
  CHECK(numbers.size() == kEach * 4);
}

TEST_CASE("the proxy listens on IPv6 loopback too") {
  TestServer server(echo);
  auto config = forward_to(server.port());
  config.listen = {{"::1", 0}};
  RunningProxy proxy(config);
  Socket client = Socket::connect_to(proxy.port(), "::1");
  client.send_all("over IPv6");
  CHECK(client.receive(9) == "over IPv6");
  client.shutdown_write();
  CHECK(client.receive_to_end().empty());
  const auto records = proxy.wait_records(1);
  REQUIRE(records.size() == 1);
  REQUIRE(records[0].source);
  CHECK(records[0].source->ip == "::1");
}
