// The verdict on evidence shaped like DESIGN.md's "facts from real stacks": the alert is often
// not the cause; the versions and the certificate's dates are.
#include <catch2/catch.hpp>

#include "tlsglass/trace/evidence.hpp"
#include "tlsglass/trace/verdict.hpp"

using namespace tlsglass::trace;
using namespace std::chrono;

namespace {

constexpr std::uint8_t kFatal = 2;

HandshakeRecord hello_answered(std::uint16_t version) {
  HandshakeRecord record;
  record.client_hello_seen = true;
  record.server_hello_seen = true;
  record.client.server_name = "app.example.test";
  record.version = version;
  record.stage = Stage::server_certificate;
  return record;
}

Timestamp utc_day(int y, unsigned m, unsigned d) {
  return time_point_cast<microseconds>(sys_days{year{y} / month{m} / d});
}

}  // namespace

TEST_CASE("a client refusing a server's TLS 1.1 with internal_error is a version mismatch") {
  HandshakeRecord record = hello_answered(0x0302);
  Evidence evidence;
  evidence.client_min_version = 0x0303;  // supported_versions: 1.3, 1.2
  evidence.client_max_version = 0x0304;
  record.alerts.push_back({Side::client, kFatal, 80 /* internal_error */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::version_mismatch);
  CHECK(record.explanation.find("TLS1.1") != std::string::npos);
}

TEST_CASE("a not-yet-valid certificate answered with bad_certificate is cert_not_yet_valid") {
  HandshakeRecord record = hello_answered(0x0303);
  CertificateSummary leaf;
  leaf.not_before = floor<seconds>(utc_day(2027, 1, 1));
  leaf.not_after = floor<seconds>(utc_day(2028, 1, 1));
  leaf.alternative_names = {"app.example.test"};
  record.server.chain.push_back(leaf);
  Evidence evidence;
  evidence.certificate_at = utc_day(2026, 11, 25);
  evidence.leaf_covers_sni = true;
  record.alerts.push_back({Side::client, kFatal, 42 /* bad_certificate */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::cert_not_yet_valid);
  CHECK(record.explanation.find("2027-01-01") != std::string::npos);
}

TEST_CASE("an expired certificate is dated in the explanation") {
  HandshakeRecord record = hello_answered(0x0303);
  CertificateSummary leaf;
  leaf.not_before = floor<seconds>(utc_day(2025, 11, 18));
  leaf.not_after = floor<seconds>(utc_day(2026, 11, 18));
  record.server.chain.push_back(leaf);
  Evidence evidence;
  evidence.certificate_at = utc_day(2026, 11, 25);
  record.alerts.push_back({Side::client, kFatal, 45 /* certificate_expired */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::cert_expired);
  CHECK(record.explanation.find("2026-11-18 (7 days before the handshake)") != std::string::npos);
}

TEST_CASE("curl's host name check after a TLS 1.2 handshake is hostname_mismatch") {
  HandshakeRecord record = hello_answered(0x0303);
  CertificateSummary leaf;
  leaf.alternative_names = {"other.example.test"};
  record.server.chain.push_back(leaf);
  record.established = true;
  record.stage = Stage::established;
  record.closed_by = Side::client;
  record.close = CloseKind::fin;
  Evidence evidence;
  evidence.leaf_covers_sni = false;
  evidence.first_close_at = utc_day(2026, 11, 25);
  decide(evidence, record);
  CHECK(record.cause == Cause::hostname_mismatch);
  CHECK(record.explanation.find("other.example.test") != std::string::npos);
}

TEST_CASE("a reset after a completed handshake is normal") {
  HandshakeRecord record = hello_answered(0x0304);
  record.established = true;
  record.closed_by = Side::server;
  record.close = CloseKind::rst;
  Evidence evidence;
  evidence.tls13 = true;
  evidence.client_sent_data = true;
  evidence.first_close_at = utc_day(2026, 11, 25);
  decide(evidence, record);
  CHECK(record.cause == Cause::ok);
}

TEST_CASE("a server's protocol_version alert names what the client offered") {
  HandshakeRecord record;
  record.client_hello_seen = true;
  record.client.server_name = "app.example.test";
  record.stage = Stage::client_hello;
  Evidence evidence;
  evidence.client_min_version = 0x0304;
  evidence.client_max_version = 0x0304;
  record.alerts.push_back({Side::server, kFatal, 70 /* protocol_version */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::version_mismatch);
  CHECK(record.explanation.find("TLS1.3 only") != std::string::npos);
  CHECK(record.explanation.find("protocol_version") != std::string::npos);
}

TEST_CASE("a TLS 1.3 client that answers the server's flight with a short record and a FIN "
          "rejected it, inferred") {
  HandshakeRecord record = hello_answered(0x0304);
  record.closed_by = Side::client;
  record.close = CloseKind::fin;
  Evidence evidence;
  evidence.tls13 = true;
  evidence.server_encrypted_flight = 4;
  evidence.client_post_flight_lengths = {19};
  evidence.first_close_at = utc_day(2026, 11, 25);
  decide(evidence, record);
  CHECK(record.inferred);
  CHECK(record.cause == Cause::alert_other);
  CHECK(record.explanation.find("--probe-certs") != std::string::npos);
}

TEST_CASE("versions and ages read as an engineer writes them") {
  CHECK(display_version(0x0304) == "TLS1.3");
  CHECK(display_version(0x0300) == "SSL3.0");
  CHECK(display_age(7 * 86400 + 5) == "7 days");
  CHECK(display_age(90) == "90 seconds");
}
