// The console line read back from the JSON log (`tail`): the same line as the proxy prints, and
// a clear reason, without the line's bytes, for what is not a handshake record.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tlsglass/log/console_line.hpp"
#include "tlsglass/log/json_record.hpp"

using namespace tlsglass;
using nlohmann::json;

namespace {

// DESIGN.md "The handshake record", the fields the line shows.
const char* kDesignExample = R"json({"@timestamp":"2026-11-25T10:00:00.123456Z",
 "event":{"kind":"event","outcome":"failure","duration":41234000},
 "source":{"ip":"127.0.0.1","port":51234},
 "destination":{"ip":"127.0.0.1","port":8443,"domain":"app.example.test"},
 "tls":{"version":"1.2","version_protocol":"tls","cipher":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "established":false,"next_protocol":"http/1.1","client":{"server_name":"app.example.test"}},
 "tlsglass":{"conn":17,"mode":"connect","cause":"cert_expired",
             "explanation":"server certificate expired 2026-11-18 (7 days ago)",
             "timeline":[{"ms":0.0,"from":"client","what":"ClientHello"},
                         {"ms":11.8,"from":"server","what":"ServerHello"},
                         {"ms":13.1,"from":"server","what":"RST"}]}})json";

log::ConsoleRecord read(const std::string& text) {
  std::string problem;
  auto record = log::console_record(json::parse(text), problem);
  INFO(problem);
  REQUIRE(record);
  CHECK(problem.empty());
  return *record;
}

std::string problem_of(const std::string& text) {
  std::string problem;
  CHECK_FALSE(log::console_record(json::parse(text), problem));
  return problem;
}

}  // namespace

TEST_CASE("a JSON record gives the line DESIGN.md describes") {
  const log::ConsoleRecord record = read(kDesignExample);
  CHECK(log::console_line(record) ==
        "10:00:00.123 #17 127.0.0.1:51234 -> app.example.test (127.0.0.1:8443) TLS1.2 "
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 http/1.1 cert_expired: server certificate "
        "expired 2026-11-18 (7 days ago)");
  CHECK(log::console_line(record, {true}).find("\x1b[31mcert_expired\x1b[0m") != std::string::npos);
  CHECK(record.server_name == "app.example.test");
  REQUIRE(record.timeline.size() == 3);
  CHECK(record.timeline[1].ms == 11.8);
  CHECK(record.timeline[1].from == trace::Side::server);
  CHECK(record.timeline[2].what == "RST");
}

TEST_CASE("the line from the JSON log is the line the proxy printed") {
  trace::HandshakeRecord record;
  record.timestamp = std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + std::chrono::hours(23) +
      std::chrono::microseconds(59'999'999));
  record.conn = 4;
  record.source = trace::Endpoint{"::1", 40000};
  record.destination = trace::Endpoint{"192.0.2.7", 443};
  record.destination_domain = "hostile\x1b[2J.example";
  record.version = 0x0304;
  record.cipher = 0x1301;
  record.cause = trace::Cause::untrusted_cert;
  record.inferred = true;
  record.explanation = "client aborted\x07 after the certificate";
  const std::string from_json = log::console_line(read(log::to_json_line(record)), {true});
  CHECK(from_json == log::console_line(record, {true}));
  CHECK(from_json.rfind("23:00:59.999 #4 [::1]:40000 -> hostile\\x1b[2J.example (192.0.2.7:443) "
                        "TLS1.3 TLS_AES_128_GCM_SHA256 \x1b[33muntrusted_cert",
                        0) == 0);
  CHECK(from_json.find('\x07') == std::string::npos);
}

TEST_CASE("fields the record left out are left out of the line") {
  const log::ConsoleRecord record =
      read(R"({"@timestamp":"2026-11-25T10:00:00.000001Z","tlsglass":{"cause":"ok"}})");
  CHECK(log::console_line(record) == "10:00:00.000 -> ? ok");
  CHECK(record.timeline.empty());
}

TEST_CASE("what is not a handshake record is named, not quoted") {
  CHECK(problem_of("[1,2]") == "not a JSON object");
  CHECK(problem_of(R"({"tlsglass":{"cause":"ok"}})") == "no @timestamp");
  CHECK(problem_of(R"({"@timestamp":"x","tlsglass":{}})") == "no tlsglass.cause");
  CHECK(problem_of(R"({"@timestamp":"x","tlsglass":{"cause":7}})") ==
        "tlsglass.cause is not a string");
  CHECK(problem_of(R"({"@timestamp":"x","tlsglass":"\u001b[2J"})") == "tlsglass is not an object");
  CHECK(problem_of(R"({"@timestamp":"x","tlsglass":{"cause":"ok","conn":-1}})") ==
        "tlsglass.conn is not a number in range");
  CHECK(problem_of(R"({"@timestamp":"x","source":{"ip":"1.2.3.4","port":70000},)"
                   R"("tlsglass":{"cause":"ok"}})") == "source.port is not a number in range");
  CHECK(
      problem_of(
          R"({"@timestamp":"x","tlsglass":{"cause":"ok","timeline":[)"
          R"({"ms":0,"from":"client","what":"ClientHello"},{"ms":1,"from":"\u001b","what":"x"}]}})") ==
      "tlsglass.timeline[1] is not {ms, from, what}");
}

TEST_CASE("UTF-8 drawing follows the locale the way setlocale picks it") {
  const auto with = [](const char* all, const char* ctype, const char* lang) {
    for (auto [name, value] : {std::pair{"LC_ALL", all}, {"LC_CTYPE", ctype}, {"LANG", lang}}) {
      if (value)
        setenv(name, value, 1);
      else
        unsetenv(name);
    }
    return log::wants_utf8();
  };
  CHECK(with(nullptr, nullptr, "en_US.UTF-8"));
  CHECK(with(nullptr, nullptr, "C.utf8"));
  CHECK_FALSE(with(nullptr, nullptr, nullptr));
  CHECK_FALSE(with(nullptr, nullptr, "C"));
  CHECK_FALSE(with("C", nullptr, "en_US.UTF-8"));  // LC_ALL wins
  CHECK(with("", "de_DE.UTF-8", "C"));             // an empty one does not count
  CHECK_FALSE(with(nullptr, "POSIX", "en_US.UTF-8"));
}
