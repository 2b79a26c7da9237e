// Conformance of `tlsglass replay`: every capture of ../shared/corpus/pcaps through libpcap,
// the frame decoder, TCP reassembly and the same Session as the live proxy; each connection's
// record compared with the corpus's expected values (tshark, the source projects' baselines),
// with the same rules and known differences as the streams test (corpus_test.cpp).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "corpus_expectations.hpp"
#include "tlsglass/capture/replay.hpp"
#include "tlsglass/log/json_record.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tlsglass;

namespace {

// The corpus's connection key: "client -> server", IPv6 as [addr]:port.
std::string endpoint_text(const trace::Endpoint& endpoint) {
  return endpoint.ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", endpoint.ip, endpoint.port)
                                                    : fmt::format("{}:{}", endpoint.ip, endpoint.port);
}

}  // namespace

TEST_CASE("every corpus capture replays to the values tshark and the baselines expect") {
  const auto root = test::corpus_root();
  if (!root) {
    WARN("corpus not found (set TLSGLASS_CORPUS or put ../shared/corpus beside the repo): skipped");
    return;
  }
  test::CorpusComparison comparison("pcap replay", test::known_differences_file());
  std::vector<std::string> unreadable;
  for (const auto& file : test::expected_files(*root)) {
    std::ifstream in(file);
    const json expected = json::parse(in);
    const std::string source = expected["source"];
    const std::string capture = expected["pcap"];

    std::vector<trace::HandshakeRecord> records;
    capture::ReplayConfig config;
    config.on_connection = [&](capture::ReplayedConnection&& connection) {
      records.push_back(std::move(connection.record));
    };
    capture::CaptureReplay replay(config);
    capture::ReplayStats stats;
    if (auto error = replay.replay_file((*root / capture).string(), stats))
      unreadable.push_back(capture + ": " + *error);

    // Keyed as the corpus keys them: a reused 4-tuple gets " #2", " #3" in start order.
    std::sort(records.begin(), records.end(),
              [](const auto& a, const auto& b) { return a.conn < b.conn; });
    std::map<std::string, json> by_key;
    std::map<std::string, int> uses;
    for (const auto& record : records) {
      if (!record.source || !record.destination) continue;
      std::string key = endpoint_text(*record.source) + " -> " + endpoint_text(*record.destination);
      const int use = ++uses[key];
      if (use > 1) key += fmt::format(" #{}", use);
      by_key[key] = json::parse(log::to_json_line(record));
    }
    for (const auto& item : expected["connections"].items()) {
      const json& conn = item.value();
      if (conn.value("transport", "") != "tcp") {
        comparison.skip(source + ": not TCP (DTLS over UDP is out of scope)");
        continue;
      }
      auto found = by_key.find(item.key());
      if (found == by_key.end()) {
        comparison.missing(source, capture, item.key(),
                           fmt::format("no record ({} records from this capture)", records.size()));
        continue;
      }
      comparison.compare(source, capture, item.key(), conn, found->second);
    }
  }
  const bool ok = comparison.report(std::cout);
  for (const auto& line : unreadable) std::cout << "  UNREADABLE " << line << "\n";
  CHECK(comparison.connections() > 0);
  CHECK(unreadable.empty());
  CHECK(ok);
}
