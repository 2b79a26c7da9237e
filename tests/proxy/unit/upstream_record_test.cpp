// The record of a connection the proxy could not take to its server (DESIGN.md cause
// upstream_unreachable), built through trace::Session as the live proxy does.
#include <catch2/catch.hpp>

#include <string>

#include "tlsglass/log/json_record.hpp"
#include "tlsglass/trace/session.hpp"

using namespace tlsglass;
using trace::Side;

namespace {

tls::Bytes bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

const trace::Timestamp kStart{std::chrono::seconds(1'800'000'000)};

}  // namespace

TEST_CASE("a CONNECT whose server cannot be reached is upstream_unreachable, with the reason") {
  trace::SessionConfig config;
  config.mode = "connect";
  trace::Session session(config);
  session.on_bytes(Side::client, bytes_of("CONNECT app.example.test:8443 HTTP/1.1\r\n\r\n"),
                   kStart);
  CHECK_FALSE(session.outcome_known());
  session.set_destination({"127.0.0.1", 8443});
  session.on_bytes(Side::server, bytes_of("HTTP/1.1 502 Bad Gateway\r\n\r\n"), kStart);
  session.on_upstream_unreachable("cannot connect to app.example.test:8443: ECONNREFUSED",
                                  kStart + std::chrono::milliseconds(3));
  CHECK(session.outcome_known());
  CHECK_FALSE(session.wants_bytes());
  const trace::HandshakeRecord record = session.record();
  CHECK(record.cause == trace::Cause::upstream_unreachable);
  CHECK(record.explanation == "cannot connect to app.example.test:8443: ECONNREFUSED");
  CHECK(record.destination_domain == "app.example.test");
  REQUIRE(record.destination);
  CHECK(record.destination->port == 8443);
  CHECK(record.next_step.find("nc -vz 127.0.0.1 8443") == 0);
  CHECK(record.stage == trace::Stage::connect);
  CHECK(record.timeline.back().what == "unreachable");
  const std::string json = log::to_json_line(record);
  CHECK(json.find("\"cause\":\"upstream_unreachable\"") != std::string::npos);
}

TEST_CASE("a name that does not resolve suggests checking the name, not the address") {
  trace::Session forwarded({});
  forwarded.on_upstream_unreachable("cannot resolve nowhere.invalid: EAI_NONAME", kStart);
  const auto record = forwarded.record();
  CHECK(record.cause == trace::Cause::upstream_unreachable);
  CHECK(record.timestamp == kStart);

  trace::Session by_name({});
  by_name.on_bytes(Side::client, bytes_of("CONNECT nowhere.invalid:443 HTTP/1.1\r\n\r\n"), kStart);
  by_name.on_upstream_unreachable("cannot resolve nowhere.invalid: EAI_NONAME", kStart);
  CHECK(by_name.record().next_step.find("getent ahosts nowhere.invalid") == 0);
}

TEST_CASE("the destination a proxy connected to fills the record; the SNI still names it") {
  trace::Session session({});
  session.set_destination({"192.0.2.7", 443}, std::string("upstream.example.test"));
  auto record = session.record();
  REQUIRE(record.destination);
  CHECK(record.destination->ip == "192.0.2.7");
  CHECK(record.destination_domain == "upstream.example.test");
  // A domain already known (from the CONNECT head) is not replaced by a later one.
  trace::Session connect({});
  connect.on_bytes(Side::client, bytes_of("CONNECT first.example.test:443 HTTP/1.1\r\n\r\n"),
                   kStart);
  connect.set_destination({"192.0.2.7", 443}, std::string("second.example.test"));
  CHECK(connect.record().destination_domain == "first.example.test");
}
