// The dialer on its own loop: addresses tried in turn, names resolved without blocking, and a
// cancel that leaves nothing behind (ASan checks the "nothing").
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_peers.hpp"
#include "tlsglass/proxy/upstream.hpp"

using namespace tlsglass;
using namespace tlsglass::proxy;

namespace {

sockaddr_storage loopback(std::uint16_t port) {
  sockaddr_storage address{};
  uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&address));
  return address;
}

// Records what the dialer reports, and owns (then closes) the socket it hands over.
struct Outcome final : Dialer::Events {
  std::optional<trace::Endpoint> connected;
  std::optional<DialFailure> failure;
  DialedSocket* socket = nullptr;
  void on_dialed(DialedSocket* dialed, const trace::Endpoint& peer) override {
    socket = dialed;
    connected = peer;
    socket->tcp.data = socket;
    uv_close(reinterpret_cast<uv_handle_t*>(&socket->tcp),
             [](uv_handle_t* handle) { delete static_cast<DialedSocket*>(handle->data); });
  }
  void on_dial_failed(DialFailure failed) override { failure = std::move(failed); }
};

struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
};

}  // namespace

TEST_CASE("the dialer tries each address in turn until one answers") {
  test::TestServer server([](test::Socket&) {});
  Loop loop;
  Outcome outcome;
  Dialer dialer(&loop.loop, outcome);
  const std::uint16_t refused = test::closed_port();
  dialer.dial_addresses({"app.example.test", 443}, {loopback(refused), loopback(server.port())});
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(outcome.connected);
  CHECK(outcome.connected->port == server.port());
  CHECK(dialer.attempts() ==
        "127.0.0.1:" + std::to_string(refused) + " ECONNREFUSED (connection refused)");
}

TEST_CASE("when every address refuses, the failure lists each one") {
  Loop loop;
  Outcome outcome;
  Dialer dialer(&loop.loop, outcome);
  const std::uint16_t a = test::closed_port(), b = test::closed_port();
  dialer.dial_addresses({"app.example.test", 443}, {loopback(a), loopback(b)});
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(outcome.failure);
  CHECK(outcome.failure->kind == DialFailure::Kind::connect);
  CHECK(outcome.failure->reason.find("cannot connect to app.example.test:443: 127.0.0.1:" +
                                     std::to_string(a) + " ECONNREFUSED") == 0);
  CHECK(outcome.failure->reason.find(std::to_string(b) + " ECONNREFUSED") != std::string::npos);
  REQUIRE(dialer.last_tried());
  CHECK(dialer.last_tried()->port == b);
}

TEST_CASE("a name is resolved on the thread pool, then connected") {
  test::TestServer server([](test::Socket&) {});
  Loop loop;
  Outcome outcome;
  Dialer dialer(&loop.loop, outcome);
  dialer.dial({"localhost", server.port()}, nullptr);  // /etc/hosts: no network needed
  CHECK(dialer.resolving());
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(outcome.connected);
  CHECK(outcome.connected->ip == "127.0.0.1");
}

TEST_CASE("a name outside the address rules is refused after the lookup") {
  Loop loop;
  Outcome outcome;
  Dialer dialer(&loop.loop, outcome);
  const std::vector<DestinationRule> rules = {*parse_destination_rule("10.0.0.0/8:*")};
  dialer.dial({"localhost", 443}, &rules);
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(outcome.failure);
  CHECK(outcome.failure->kind == DialFailure::Kind::denied);
  CHECK(outcome.failure->reason.find("127.0.0.1:443") != std::string::npos);
}

TEST_CASE("a cancelled dial reports nothing and frees what was in flight") {
  test::TestServer server([](test::Socket&) {});
  Loop loop;
  Outcome outcome;
  {
    Dialer resolving(&loop.loop, outcome);
    resolving.dial({"localhost", server.port()}, nullptr);
    Dialer connecting(&loop.loop, outcome);
    connecting.dial({"127.0.0.1", server.port()}, nullptr);
  }  // both cancelled by their destructors, requests still in flight
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  CHECK_FALSE(outcome.connected);
  CHECK_FALSE(outcome.failure);
}
