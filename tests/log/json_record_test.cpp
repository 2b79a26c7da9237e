// The JSON record: ECS layout, only what was seen, and peer-controlled strings that can break
// neither the JSON nor a terminal.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>

#include "tlsglass/log/console_line.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/log/safe_text.hpp"

using namespace tlsglass;
using nlohmann::json;

TEST_CASE("a hostile SNI stays valid JSON and keeps every byte visible") {
  trace::HandshakeRecord record;
  record.client_hello_seen = true;
  // Invalid UTF-8, a quote, a backslash, an escape sequence and a NUL.
  record.client.server_name = std::string("ev\xff\"il\\\x1b[31m\0x", 13);
  const std::string line = log::to_json_line(record);
  CHECK(line.find('\n') == std::string::npos);
  const json parsed = json::parse(line);  // throws if the line is not valid JSON
  CHECK(parsed["tls"]["client"]["server_name"] == std::string("ev\\xff\"il\\\x1b[31m\0x", 16));
}

TEST_CASE("terminal output escapes control codes and bidi overrides") {
  CHECK(log::terminal_safe("a\x1b[2Jb") == "a\\x1b[2Jb");
  CHECK(log::terminal_safe("x\xe2\x80\xaey") == "x\\u{202e}y");  // U+202E RIGHT-TO-LEFT OVERRIDE
  CHECK(log::terminal_safe("caf\xc3\xa9") == "caf\xc3\xa9");     // valid UTF-8 passes
  CHECK(log::valid_utf8("\xc0\xaf") == "\\xc0\\xaf");            // overlong '/' (RFC 3629 §10)
}

TEST_CASE("fields that were not seen are left out") {
  trace::HandshakeRecord record;
  record.timestamp = std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::sys_days{std::chrono::year{2026} / 11 / 25});
  const json parsed = json::parse(log::to_json_line(record));
  CHECK(parsed["@timestamp"] == "2026-11-25T00:00:00.000000Z");
  CHECK_FALSE(parsed.contains("source"));
  CHECK_FALSE(parsed["tls"].contains("client"));
  CHECK_FALSE(parsed["tls"].contains("version"));
  CHECK(parsed["event"]["action"] == "tls_handshake");
  CHECK(parsed["tlsglass"]["cause"] == "incomplete");
}

TEST_CASE("the console line has colour only when asked") {
  trace::HandshakeRecord record;
  record.cause = trace::Cause::cert_expired;
  record.explanation = "server certificate expired";
  CHECK(log::console_line(record, {false}).find("\x1b[") == std::string::npos);
  CHECK(log::console_line(record, {true}).find("\x1b[31mcert_expired") != std::string::npos);
}

TEST_CASE("times are written in UTC whatever the local time zone") {
  const char* saved = std::getenv("TZ");
  const std::string previous = saved ? saved : "";
  setenv("TZ", "Asia/Tokyo", 1);  // UTC+9, no daylight saving time
  tzset();
  trace::HandshakeRecord record;
  // 2015-12-04T21:47:18.000042Z; a certificate valid to 1999-12-31T23:59:59Z.
  record.timestamp =
      trace::Timestamp(std::chrono::seconds(1449265638) + std::chrono::microseconds(42));
  record.server_hello_seen = true;
  trace::CertificateSummary leaf;
  leaf.not_after = std::chrono::sys_seconds(std::chrono::seconds(946684799));
  record.server.chain.push_back(leaf);
  const json parsed = json::parse(log::to_json_line(record));
  if (saved) {
    setenv("TZ", previous.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  CHECK(parsed["@timestamp"] == "2015-12-04T21:47:18.000042Z");
  CHECK(parsed["tls"]["server"]["not_after"] == "1999-12-31T23:59:59Z");
  CHECK(log::iso8601(trace::Timestamp(std::chrono::microseconds(999999))) ==
        "1970-01-01T00:00:00.999999Z");
}
