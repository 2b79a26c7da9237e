// Real handshakes between real programs (tests/data/fixtures, made by scripts/record-fixtures),
// replayed segment by segment into trace::Session. Expected values come from outside the
// code: tshark's dissection of the same capture (expected.json) and the scenario the script
// set up, which the client's own error message confirms (how.txt).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <map>

#include "fixture_support.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/tls/registry.hpp"

using namespace tlsglass;
using nlohmann::json;

namespace {

// The cause each recorded scenario was built to produce (scripts/record-fixtures).
const std::map<std::string, std::string> kScenarioCause = {
    {"curl-tls13", "ok"},
    {"curl-tls12", "ok"},
    {"openssl-tls13", "ok"},
    {"gnutls-tls13", "ok"},
    {"python-tls12", "ok"},
    {"nginx-tls13-curl", "ok"},
    {"chromium-tls13", "ok"},
    {"hrr-tls13", "ok"},
    {"expired-tls12", "cert_expired"},
    {"notyetvalid-tls12", "cert_not_yet_valid"},
    {"wrongname-tls12", "hostname_mismatch"},
    {"untrusted-tls12", "untrusted_cert"},
    {"version-mismatch", "version_mismatch"},
    {"cipher-mismatch", "cipher_mismatch"},
    {"no-alpn-overlap", "alert_other"},
    {"nosni", "no_sni"},
    {"http-server", "not_tls"},
    {"reset-after-hello", "reset_mid_handshake"},
    {"silent-server", "reset_mid_handshake"},
};

json record_json(const trace::HandshakeRecord& record) {
  return json::parse(log::to_json_line(record));
}

// The parts of a record that do not depend on how the bytes were cut into reads.
// A hello that spanned several reads is part of the verdict's wording for a reset or a
// silence after it (large-hello intolerance), so the words are read-dependent there; the cause
// and everything else are not.
json read_independent(json record, bool hello_spanned_reads) {
  record["tlsglass"].erase("timeline");
  if (hello_spanned_reads) {
    record["tlsglass"].erase("explanation");
    record["tlsglass"].erase("next_step");
  }
  if (record["tls"].contains("client")) record["tls"]["client"].erase("hello_reads");
  return record;
}

}  // namespace

TEST_CASE("recorded fixtures are present") {
  const auto fixtures = test::load_fixtures();
  REQUIRE(fixtures.size() >= 10);
}

TEST_CASE("each recorded scenario gets the cause it was built to produce") {
  for (const auto& fixture : test::load_fixtures()) {
    auto expected = kScenarioCause.find(fixture.name);
    if (expected == kScenarioCause.end()) continue;
    INFO(fixture.name << "\n" << fixture.how);
    const json record = record_json(test::replay(fixture));
    INFO(record.dump(1));
    CHECK(record["tlsglass"]["cause"] == expected->second);
    if (expected->second == "ok") CHECK(record["tls"]["established"] == true);
  }
}

TEST_CASE("a fixture fed whole, one byte at a time, or in odd pieces gives the same record") {
  for (const auto& fixture : test::load_fixtures()) {
    INFO(fixture.name);
    const json whole = record_json(test::replay(fixture));
    for (std::size_t split : {1, 2, 3, 7, 100, 1000}) {
      INFO("pieces of " << split << " bytes");
      const json pieces = record_json(test::replay(fixture, split));
      const bool spanned =
          pieces["tls"].contains("client") && pieces["tls"]["client"].value("hello_reads", 0) > 1;
      CHECK(read_independent(pieces, spanned) == read_independent(whole, spanned));
    }
  }
}

TEST_CASE("a reset after a hello that spanned several reads points at large-hello intolerance") {
  for (const auto& fixture : test::load_fixtures()) {
    if (fixture.name != "reset-after-hello") continue;
    const json whole = record_json(test::replay(fixture));
    CHECK(whole["tlsglass"]["explanation"].get<std::string>().find("spanned") ==
          std::string::npos);
    const json split = record_json(test::replay(fixture, 100));
    INFO(split.dump(1));
    CHECK(split["tlsglass"]["cause"] == "reset_mid_handshake");
    const auto reads = split["tls"]["client"]["hello_reads"].get<int>();
    CHECK(reads > 1);
    CHECK_THAT(split["tlsglass"]["explanation"].get<std::string>(),
               Catch::Contains(fmt::format("spanned {} TCP reads", reads)));
    CHECK_THAT(split["tlsglass"]["next_step"].get<std::string>(),
               Catch::Contains("--split single"));
    return;
  }
  FAIL("fixture reset-after-hello is missing");
}
