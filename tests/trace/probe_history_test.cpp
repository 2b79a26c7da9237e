// What --probe-certs and the hello history add to the verdict, on recorded real handshakes.
// The certificate facts (dates, names) come from the fixtures' how.txt, written by
// scripts/record-fixtures from the certificates it made, not from the code under test.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "fixture_support.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/trace/hello_history.hpp"

using namespace tlsglass;
using nlohmann::json;

namespace {

json record_json(const trace::HandshakeRecord& record) {
  return json::parse(log::to_json_line(record));
}

std::chrono::sys_seconds utc(int y, unsigned m, unsigned d, int h, int min, int s) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / std::chrono::day{d}} + hours{h} + minutes{min} + seconds{s};
}

// The leaf the fixture's server presented, as how.txt describes it.
trace::CertificateSummary fixture_leaf(std::chrono::sys_seconds not_before,
                                       std::chrono::sys_seconds not_after) {
  trace::CertificateSummary leaf;
  leaf.subject = "CN=app.tlsglass.test";
  leaf.issuer = "CN=tlsglass fixture CA,O=tlsglass fixtures";
  leaf.common_name = "app.tlsglass.test";
  leaf.alternative_names = {"app.tlsglass.test"};
  leaf.not_before = not_before;
  leaf.not_after = not_after;
  return leaf;
}

trace::CertificateProbe probe_at_epoch() {
  trace::CertificateProbe probe;
  probe.at = test::fixture_epoch();
  probe.version = 0x0304;
  return probe;
}

}  // namespace

TEST_CASE("TLS 1.3 abort without a probe is inferred and asks for --probe-certs") {
  const auto fixture = test::load_fixture("expired-tls13");
  REQUIRE_FALSE(fixture.transcript.empty());
  bool wanted = false;
  const json record = record_json(test::replay(
      fixture, {}, [&](trace::Session& session) { wanted = session.wants_certificate_probe(); }));
  CHECK(wanted);
  CHECK_FALSE(record["tlsglass"].contains("certificate_source"));
  CHECK_THAT(record["tlsglass"]["explanation"].get<std::string>(),
             Catch::Contains("--probe-certs"));
}

TEST_CASE("a probed expired chain makes a TLS 1.3 abort cert_expired, marked as probed") {
  const auto fixture = test::load_fixture("expired-tls13");
  // how.txt: valid 2025-10-24T05:31:22Z .. 2026-11-18T05:31:22Z; the epoch is 2026-11-25T10:00Z.
  REQUIRE_THAT(fixture.how, Catch::Contains("2026-11-18T05:31:22Z"));
  bool wanted_after = true;
  const json record = record_json(test::replay(fixture, {}, [&](trace::Session& session) {
    auto probe = probe_at_epoch();
    probe.chain = {fixture_leaf(utc(2025, 10, 24, 5, 31, 22), utc(2026, 11, 18, 5, 31, 22))};
    probe.covers_sni = true;
    probe.trusted = false;
    probe.verify_error = "certificate has expired";
    session.on_certificate_probe(std::move(probe));
    wanted_after = session.wants_certificate_probe();
  }));
  INFO(record.dump(1));
  CHECK_FALSE(wanted_after);
  CHECK(record["tlsglass"]["cause"] == "cert_expired");
  // curl (OpenSSL) says certificate_expired in clear: the cause is not inferred, the chain is
  // marked as probed.
  CHECK(record["tlsglass"]["alerts"][0]["description"] == "certificate_expired");
  CHECK(record["tlsglass"].value("inferred", false) == false);
  CHECK(record["tlsglass"]["certificate_source"] == "probe");
  CHECK(record["tlsglass"]["probe"]["chain_used"] == true);
  CHECK(record["tls"]["server"]["not_after"] == "2026-11-18T05:31:22Z");
  const std::string why = record["tlsglass"]["explanation"];
  CHECK_THAT(why, Catch::Contains("--probe-certs fetched the chain"));
  CHECK_THAT(why, Catch::Contains("expired 2026-11-18"));
  CHECK_THAT(why, Catch::Contains("7 days"));
}

TEST_CASE("a probed chain for another name makes a TLS 1.3 close-after-handshake a mismatch") {
  const auto fixture = test::load_fixture("wrongname-tls13");
  REQUIRE_FALSE(fixture.transcript.empty());
  const json plain = record_json(test::replay(fixture));
  CHECK(plain["tlsglass"]["cause"] == "ok");  // curl's name check is invisible on the wire
  const json record = record_json(test::replay(fixture, {}, [&](trace::Session& session) {
    CHECK(session.wants_certificate_probe());
    auto probe = probe_at_epoch();
    auto leaf = fixture_leaf(utc(2026, 1, 1, 0, 0, 0), utc(2028, 1, 1, 0, 0, 0));
    leaf.common_name = "other.tlsglass.test";
    leaf.alternative_names = {"other.tlsglass.test"};
    probe.chain = {leaf};
    probe.covers_sni = false;
    probe.trusted = true;
    session.on_certificate_probe(std::move(probe));
  }));
  INFO(record.dump(1));
  CHECK(record["tlsglass"]["cause"] == "hostname_mismatch");
  CHECK(record["tlsglass"]["certificate_source"] == "probe");
  CHECK_THAT(record["tlsglass"]["explanation"].get<std::string>(),
             Catch::Contains("other.tlsglass.test"));
}

TEST_CASE("a probe that finds nothing wrong says so and keeps the inferred cause") {
  // gnutls-cli encrypts its alert: the abort's reason is unknown until probed.
  const auto fixture = test::load_fixture("expired-tls13-gnutls");
  REQUIRE_FALSE(fixture.transcript.empty());
  const json record = record_json(test::replay(fixture, {}, [&](trace::Session& session) {
    auto probe = probe_at_epoch();
    probe.chain = {fixture_leaf(utc(2026, 1, 1, 0, 0, 0), utc(2028, 1, 1, 0, 0, 0))};
    probe.covers_sni = true;
    probe.trusted = true;
    session.on_certificate_probe(std::move(probe));
  }));
  CHECK(record["tlsglass"]["cause"] == "alert_other");
  CHECK(record["tlsglass"]["probe"]["trusted"] == true);
  CHECK_THAT(record["tlsglass"]["explanation"].get<std::string>(),
             Catch::Contains("check out here"));
}

TEST_CASE("a probe that failed is recorded with its error") {
  const auto fixture = test::load_fixture("expired-tls13-gnutls");
  const json record = record_json(test::replay(fixture, {}, [&](trace::Session& session) {
    auto probe = probe_at_epoch();
    probe.error = "connect: connection refused";
    session.on_certificate_probe(std::move(probe));
  }));
  CHECK(record["tlsglass"]["probe"]["error"] == "connect: connection refused");
  CHECK(record["tlsglass"]["probe"]["chain_used"] == false);
  CHECK_THAT(record["tlsglass"]["explanation"].get<std::string>(),
             Catch::Contains("got no chain (connect: connection refused)"));
}

TEST_CASE("a chain seen on the wire is never replaced by a probe's") {
  const auto fixture = test::load_fixture("expired-tls12");
  const json record = record_json(test::replay(fixture, {}, [&](trace::Session& session) {
    CHECK_FALSE(session.wants_certificate_probe());
    auto probe = probe_at_epoch();
    probe.chain = {fixture_leaf(utc(2026, 1, 1, 0, 0, 0), utc(2028, 1, 1, 0, 0, 0))};
    session.on_certificate_probe(std::move(probe));
  }));
  CHECK(record["tlsglass"]["cause"] == "cert_expired");
  CHECK(record["tlsglass"]["certificate_source"] == "wire");
  CHECK(record["tlsglass"]["probe"]["chain_used"] == false);
}

TEST_CASE("HelloHistory keeps the last ok hello per server, bounded") {
  trace::HelloHistory history(2);
  const trace::Endpoint a{"127.0.0.1", 1}, b{"127.0.0.1", 2}, c{"::1", 3};
  trace::HelloShape shape;
  shape.ja4 = "first";
  history.remember_ok(a, shape);
  shape.ja4 = "second";
  history.remember_ok(a, shape);
  REQUIRE(history.last_ok(a));
  CHECK(history.last_ok(a)->ja4 == "second");
  history.remember_ok(b, shape);
  CHECK(history.last_ok(a));  // touched: a is the most recent of the two... until c arrives
  history.remember_ok(c, shape);
  CHECK(history.size() == 2);
  CHECK_FALSE(history.last_ok(a));  // least recently remembered goes first
  CHECK(history.last_ok(b));
  CHECK(history.last_ok(c));
}

TEST_CASE("a reset after the hello is compared with the last hello that worked") {
  const auto ok_fixture = test::load_fixture("curl-tls13");
  const auto reset_fixture = test::load_fixture("reset-after-hello");
  REQUIRE_FALSE(ok_fixture.transcript.empty());
  REQUIRE_FALSE(reset_fixture.transcript.empty());
  trace::HelloHistory history;
  const trace::Endpoint server{"127.0.0.1", 443};
  trace::SessionConfig config;
  config.history = &history;
  config.destination = server;

  config.conn = 1;
  const json ok = record_json(test::replay(ok_fixture, config, {}));
  REQUIRE(ok["tlsglass"]["cause"] == "ok");
  CHECK(history.size() == 1);

  // The reset's hello comes later than the ok one only if its clock says so: shift nothing,
  // both fixtures start at the same epoch, so the history must not be used ...
  config.conn = 2;
  const json same_time = record_json(test::replay(reset_fixture, config, {}));
  CHECK(same_time["tlsglass"]["cause"] == "reset_mid_handshake");
  CHECK_THAT(same_time["tlsglass"]["explanation"].get<std::string>(),
             !Catch::Contains("completed"));

  // ... and once the ok hello is known to be older, it is.
  auto earlier = *history.last_ok(server);
  earlier.at -= std::chrono::seconds(5);
  history.remember_ok(server, earlier);
  const json later = record_json(test::replay(reset_fixture, config, {}));
  INFO(later.dump(1));
  const std::string why = later["tlsglass"]["explanation"];
  CHECK_THAT(why, Catch::Contains("5.0 s earlier"));
  const bool same_shape = ok["tls"]["client"]["ja4"] == later["tls"]["client"]["ja4"];
  const bool same_name = ok["tls"]["client"]["server_name"] == later["tls"]["client"]["server_name"];
  if (same_shape && !same_name) {
    CHECK_THAT(why, Catch::Contains("only the SNI differs"));
  } else if (same_shape) {
    CHECK_THAT(why, Catch::Contains("the same ClientHello"));
  } else {
    CHECK_THAT(why, Catch::Contains("a different ClientHello"));
    CHECK_THAT(why, Catch::Contains(ok["tls"]["client"]["ja4"].get<std::string>()));
  }
}
