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

TEST_CASE("a client that offered TLS 1.0 yet aborts the server's TLS 1.1 refused the version") {
  // curl 7.88 (OpenSSL 3) lists 1.3 to 1.0 in supported_versions, then rejects a TLS 1.1
  // server's SHA-1 signature with internal_error ("legacy sigalg disallowed or unsupported").
  HandshakeRecord record = hello_answered(0x0302);
  Evidence evidence;
  evidence.client_min_version = 0x0301;
  evidence.client_max_version = 0x0304;
  record.alerts.push_back({Side::client, kFatal, 80 /* internal_error */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::version_mismatch);
  CHECK_THAT(record.explanation, Catch::Contains("server chose TLS1.1"));
  CHECK_THAT(record.explanation, Catch::Contains("TLS1.0 to TLS1.3"));
  CHECK_THAT(record.explanation, Catch::Contains("internal_error"));
}

TEST_CASE("a client certificate problem on a TLS 1.1 connection is still the certificate's") {
  HandshakeRecord record = hello_answered(0x0302);
  Evidence evidence;
  evidence.client_min_version = 0x0301;
  evidence.client_max_version = 0x0304;
  record.alerts.push_back({Side::client, kFatal, 48 /* unknown_ca */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::untrusted_cert);
}

TEST_CASE("a server refusing a TLS 1.2-at-most hello with protocol_version needs a newer one") {
  HandshakeRecord record;
  record.client_hello_seen = true;
  record.client.server_name = "app.example.test";
  record.stage = Stage::client_hello;
  Evidence evidence;
  evidence.client_max_version = 0x0303;  // legacy_version 1.2, no supported_versions
  record.alerts.push_back({Side::server, kFatal, 70 /* protocol_version */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::version_mismatch);
  CHECK_THAT(record.explanation, Catch::Contains("TLS1.2 or lower"));
  CHECK_THAT(record.explanation, Catch::Contains("nothing as old as TLS1.2"));
}

TEST_CASE("a client refusing the server's TLS 1.1 with protocol_version names both versions") {
  HandshakeRecord record = hello_answered(0x0302);
  Evidence evidence;
  evidence.client_max_version = 0x0303;
  record.alerts.push_back({Side::client, kFatal, 70 /* protocol_version */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::version_mismatch);
  CHECK_THAT(record.explanation, Catch::Contains("TLS1.2 or lower"));
  CHECK_THAT(record.explanation, Catch::Contains("server chose TLS1.1, its highest version"));
}

TEST_CASE("no_application_protocol names the ALPN protocols the client offered") {
  HandshakeRecord record;
  record.client_hello_seen = true;
  record.client.server_name = "app.example.test";
  record.client.alpn = {"http/1.1"};
  record.stage = Stage::client_hello;
  Evidence evidence;
  record.alerts.push_back({Side::server, kFatal, 120 /* no_application_protocol */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::alert_other);
  CHECK_THAT(record.explanation, Catch::Contains("no_application_protocol"));
  CHECK_THAT(record.explanation, Catch::Contains("ALPN (http/1.1)"));
  CHECK_THAT(record.next_step, Catch::Contains("-alpn http/1.1"));
}

TEST_CASE("a handshake_failure after a CertificateRequest is about the client certificate") {
  HandshakeRecord record = hello_answered(0x0303);
  record.server.certificate_request = true;
  record.stage = Stage::client_finished;
  Evidence evidence;
  record.alerts.push_back({Side::server, kFatal, 40 /* handshake_failure */, false, 2, 1.0});
  evidence.first_fatal_alert = 0;
  decide(evidence, record);
  CHECK(record.cause == Cause::alert_other);
  CHECK_THAT(record.explanation, Catch::Contains("handshake_failure"));
  CHECK_THAT(record.explanation, Catch::Contains("client certificate (CertificateRequest)"));
}

TEST_CASE("a close before any ClientHello is not timed from a ClientHello") {
  HandshakeRecord record;
  record.timestamp = utc_day(2026, 11, 25);
  record.stage = Stage::connect;
  record.closed_by = Side::server;
  record.close = CloseKind::fin;
  Evidence evidence;
  evidence.first_close_at = record.timestamp + milliseconds(4);
  decide(evidence, record);
  CHECK(record.cause == Cause::reset_mid_handshake);
  CHECK_THAT(record.explanation, !Catch::Contains("after the ClientHello"));
  CHECK_THAT(record.explanation, Catch::Contains("4.0 ms after the connection opened"));
}

TEST_CASE("a plain-HTTP proxy request to a CONNECT proxy is named as such") {
  // Chromium sends its http:// requests to its --proxy-server in absolute form.
  HandshakeRecord record;
  record.mode = "connect";
  record.prelude = "http_request";
  record.not_tls_from = Side::client;
  record.not_tls_quote = "POST http://update.example.test/service/update2/json HTTP/1.1";
  Evidence evidence;
  decide(evidence, record);
  CHECK(record.cause == Cause::not_tls);
  CHECK_THAT(record.explanation, Catch::Contains("plain-HTTP proxy request"));
  CHECK_THAT(record.explanation, Catch::Contains("POST http://update.example.test/"));
  CHECK_THAT(record.explanation, !Catch::Contains("to a TLS port"));
}

TEST_CASE("a plain HTTP request where a ClientHello belongs says so") {
  HandshakeRecord record;
  record.mode = "forward";
  record.not_tls_from = Side::client;
  record.not_tls_quote = "GET /hello.txt HTTP/1.1";
  Evidence evidence;
  decide(evidence, record);
  CHECK(record.cause == Cause::not_tls);
  CHECK_THAT(record.explanation, Catch::Contains("plain HTTP to a TLS port"));
}

TEST_CASE("a TLS 1.3 handshake is not known good before the server answers the client") {
  HandshakeRecord record = hello_answered(0x0304);
  record.established = true;
  record.stage = Stage::application_data;
  Evidence evidence;
  evidence.tls13 = true;
  evidence.client_finished = true;
  evidence.server_encrypted_flight = 4;
  evidence.client_sent_data = true;
  CHECK_FALSE(outcome_known(evidence, record));
  evidence.server_finished = true;  // a short record: an alert, not yet an answer
  CHECK_FALSE(outcome_known(evidence, record));
  evidence.server_sent_data = true;  // a ticket or the response
  CHECK(outcome_known(evidence, record));
}

TEST_CASE("a TLS 1.3 server that answers the client's Finished with an alert aborted it") {
  // openssl s_server -tls1_3 -Verify 1 and a client without a certificate: the client's
  // Finished and request go out, the server sends certificate_required (encrypted) and a FIN.
  HandshakeRecord record = hello_answered(0x0304);
  record.established = true;
  record.stage = Stage::application_data;
  record.closed_by = Side::server;
  record.close = CloseKind::fin;
  Evidence evidence;
  evidence.tls13 = true;
  evidence.client_finished = true;
  evidence.server_encrypted_flight = 4;
  evidence.client_sent_data = true;
  evidence.server_finished = true;
  evidence.first_close_at = utc_day(2026, 11, 25);
  CHECK(outcome_known(evidence, record));
  decide(evidence, record);
  CHECK(record.cause == Cause::alert_other);
  CHECK(record.inferred);
  CHECK_THAT(record.explanation, Catch::Contains("client certificate"));

  evidence.server_sent_data = true;  // it answered first: a normal close afterwards
  decide(evidence, record);
  CHECK(record.cause == Cause::ok);
}

TEST_CASE("versions and ages read as an engineer writes them") {
  CHECK(display_version(0x0304) == "TLS1.3");
  CHECK(display_version(0x0300) == "SSL3.0");
  CHECK(display_age(7 * 86400 + 5) == "7 days");
  CHECK(display_age(90) == "90 seconds");
}

// What only a capture shows (replay): DESIGN.md reset_mid_handshake - "say injected: likely
// and why"; a silent drop shows as retransmissions of the hello that nothing acknowledged.
TEST_CASE("a reset the packets show as injected says so, with the signs") {
  HandshakeRecord record;
  record.client_hello_seen = true;
  record.client.server_name = "blocked.example.test";
  record.stage = Stage::client_hello;
  record.closed_by = Side::server;
  record.close = CloseKind::rst;
  record.reset_injected_signs = {"the RST carries no ACK flag", "TTL 64 where the server's packets had 51"};
  Evidence evidence;
  evidence.client_hello_at = utc_day(2026, 12, 1);
  evidence.first_close_at = *evidence.client_hello_at + milliseconds(3);
  decide(evidence, record);
  CHECK(record.cause == Cause::reset_mid_handshake);
  CHECK(record.explanation.find("likely injected by a middlebox") != std::string::npos);
  CHECK(record.explanation.find("no ACK flag") != std::string::npos);
  CHECK(record.explanation.find("TTL 64") != std::string::npos);

  // The same reset without signs blames the server's side, without the middlebox words.
  record.reset_injected_signs.clear();
  decide(evidence, record);
  CHECK(record.explanation.find("injected") == std::string::npos);
}

TEST_CASE("a ClientHello retransmitted and never acknowledged is a drop on the way") {
  HandshakeRecord record;
  record.client_hello_seen = true;
  record.client.server_name = "app.example.test";
  record.stage = Stage::client_hello;
  record.hello_retransmissions = 3;
  Evidence evidence;
  evidence.client_hello_at = utc_day(2026, 12, 1);
  evidence.timed_out = true;
  evidence.timed_out_at = *evidence.client_hello_at + seconds(10);
  decide(evidence, record);
  CHECK(record.cause == Cause::timeout);
  CHECK(record.explanation.find("sent 4 times and never acknowledged") != std::string::npos);
}

TEST_CASE("bytes missing from a capture are named when the outcome is unknown") {
  HandshakeRecord record;
  record.client_hello_seen = true;
  record.stage = Stage::server_hello;
  record.gaps.push_back({Side::server, 1448, 12.5});
  Evidence evidence;
  evidence.end_of_data = true;
  decide(evidence, record);
  CHECK(record.cause == Cause::incomplete);
  CHECK(record.explanation.find("missing 1448 bytes of the server's stream") != std::string::npos);
}

TEST_CASE("a reset while the ClientHello is still arriving says how much of it had been sent") {
  HandshakeRecord record;
  record.timestamp = utc_day(2026, 12, 1);
  record.closed_by = Side::server;
  record.close = CloseKind::rst;
  record.client.hello_reads = 1;
  Evidence evidence;
  evidence.partial_hello_bytes = 1448 - 5;
  evidence.partial_hello_length = 1984;
  evidence.first_close_at = record.timestamp + milliseconds(2);
  decide(evidence, record);
  CHECK(record.cause == Cause::reset_mid_handshake);
  CHECK(record.stage == Stage::connect);
  CHECK(record.explanation.find("when 1443 of its 1984 bytes had been sent") != std::string::npos);
  CHECK(record.next_step.find("--split single") != std::string::npos);
}
