// Conformance against data nobody here wrote: every TCP connection of ../shared/corpus, fed
// through the same path as `tlsglass analyze` (Session over the two raw streams, record as
// JSON), compared with tshark's dissection and the source projects' baselines (JA4, Arkime).
//
// Fields the issue names (SNI, versions, cipher suites, ALPN, JA3, JA3S, JA4, the selected
// version and cipher) fail the test on any mismatch that is not listed, with its reason, in
// known_differences.json. Other fields (alerts, resumption, Zeek's `established`) are counted
// and printed so drift is visible.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "corpus_expectations.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/trace/offline_feed.hpp"
#include "tlsglass/trace/session.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tlsglass;

namespace {

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("every corpus connection's streams give the values tshark and the baselines expect") {
  const auto root = test::corpus_root();
  if (!root) {
    WARN("corpus not found (set TLSGLASS_CORPUS or put ../shared/corpus beside the repo): skipped");
    return;
  }
  test::CorpusComparison comparison("streams", test::known_differences_file());
  for (const auto& file : test::expected_files(*root)) {
    std::ifstream in(file);
    const json expected = json::parse(in);
    for (const auto& item : expected["connections"].items()) {
      const json& conn = item.value();
      if (!conn.contains("streams") || conn["streams"].is_null()) {
        comparison.skip(expected["source"].get<std::string>() +
                        ": not TCP (DTLS over UDP is out of scope)");
        continue;
      }
      const auto client = read_bytes(*root / conn["streams"]["client"].get<std::string>());
      const auto server = read_bytes(*root / conn["streams"]["server"].get<std::string>());
      trace::Session session({});
      trace::feed_unsynchronised(session, client, server, trace::Timestamp{});
      comparison.compare(expected["source"], expected["pcap"], item.key(), conn,
                         json::parse(log::to_json_line(session.record())));
    }
  }
  const bool ok = comparison.report(std::cout);
  CHECK(comparison.connections() > 0);
  CHECK(ok);
}
