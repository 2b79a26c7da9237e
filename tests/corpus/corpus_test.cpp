// Conformance against data nobody here wrote: every TCP connection of ../shared/corpus, fed
// through the same path as `tlsglass analyze` (Session over the two raw streams, record as
// JSON), compared with tshark's dissection and the source projects' baselines (JA4, Arkime).
//
// Fields the issue names (SNI, versions, cipher suites, ALPN, JA3, JA3S, JA4, the selected
// version and cipher) fail the test on any mismatch that is not listed, with its reason, in
// known_differences.json. Other fields (alerts, resumption, Zeek's `established`) are counted
// and printed so drift is visible.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tlsglass/log/json_record.hpp"
#include "tlsglass/tls/registry.hpp"
#include "tlsglass/trace/offline_feed.hpp"
#include "tlsglass/trace/session.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tlsglass;

namespace {

std::optional<fs::path> corpus_root() {
  const char* dir = std::getenv("TLSGLASS_CORPUS");
  if (!dir || !fs::is_directory(fs::path(dir) / "expected")) return std::nullopt;
  return fs::path(dir);
}

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

json names(tls::Registry registry, const json& codes) {
  json out = json::array();
  for (const auto& code : codes) out.push_back(tls::name_of(registry, code.get<std::uint16_t>()));
  return out;
}

json versions(const json& codes) {
  json out = json::array();
  for (const auto& code : codes) out.push_back(tls::version_name(code.get<std::uint16_t>()));
  return out;
}

// What our record says, at a JSON pointer, or null when the field is absent.
json at(const json& record, const char* pointer) {
  const json::json_pointer p(pointer);
  return record.contains(p) ? record.at(p) : json();
}

struct Tally {
  int matched = 0, compared = 0, known = 0;
};

struct KnownDifference {
  std::string reason;
  bool used = false;
};

}  // namespace

TEST_CASE("every corpus connection replays to the values tshark and the baselines expect") {
  const auto root = corpus_root();
  if (!root) {
    WARN("corpus not found (set TLSGLASS_CORPUS or put ../shared/corpus beside the repo): skipped");
    return;
  }
  // known_differences.json: [{"capture": "...", "connection": "...", "field": "...", "reason": "..."}]
  std::map<std::string, KnownDifference> known;
  {
    const char* data = std::getenv("TLSGLASS_TEST_DATA");
    std::ifstream in(fs::path(data ? data : "tests/data") / ".." / "corpus" / "known_differences.json");
    if (in) {
      for (const auto& entry : json::parse(in)) {
        known[entry["capture"].get<std::string>() + "|" + entry["connection"].get<std::string>() +
              "|" + entry["field"].get<std::string>()] = {entry["reason"], false};
      }
    }
  }

  std::map<std::string, std::map<std::string, Tally>> tallies;  // source -> field -> tally
  std::map<std::string, int> skipped;
  std::vector<std::string> failures;
  std::vector<std::string> drift;  // differences in fields that are reported, not required
  int connections = 0;

  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(*root / "expected")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());

  for (const auto& file : files) {
    std::ifstream in(file);
    const json expected = json::parse(in);
    const std::string source = expected["source"];
    const std::string capture = expected["pcap"];
    for (const auto& item : expected["connections"].items()) {
      // Named copies, not structured bindings: lambdas below capture them (clang 14 cannot
      // capture a structured binding).
      const std::string name = item.key();
      const json& conn = item.value();
      if (!conn.contains("streams") || conn["streams"].is_null()) {
        ++skipped[source + ": not TCP (DTLS over UDP is out of scope)"];
        continue;
      }
      ++connections;
      const auto client = read_bytes(*root / conn["streams"]["client"].get<std::string>());
      const auto server = read_bytes(*root / conn["streams"]["server"].get<std::string>());
      trace::Session session({});
      trace::feed_unsynchronised(session, client, server, trace::Timestamp{});
      const json record = json::parse(log::to_json_line(session.record()));

      const json& shark = conn["tshark"];
      auto compare = [&](const std::string& field, const json& ours, const json& theirs,
                         bool must_match) {
        Tally& tally = tallies[source][field];
        ++tally.compared;
        if (ours == theirs) {
          ++tally.matched;
          return;
        }
        auto it = known.find(capture + "|" + name + "|" + field);
        if (it != known.end()) {
          ++tally.known;
          it->second.used = true;
          return;
        }
        const std::string line = fmt::format("{} {} {}: ours {} expected {}", capture, name, field,
                                             ours.dump(), theirs.dump());
        (must_match ? failures : drift).push_back(line);
      };

      const bool hello = shark.value("client_hello_count", 0) > 0 &&
                         !shark["client_hellos"].empty();
      if (hello) {
        const json& first = shark["client_hellos"][0];
        if (!first.value("sslv2", false)) {
          compare("sni", at(record, "/tls/client/server_name"), shark["sni"], true);
          compare("client_ciphers", at(record, "/tls/client/supported_ciphers"),
                  names(tls::Registry::cipher_suite, shark["client_ciphers"]), true);
          const json offered = shark["client_versions"].empty() ? json() : versions(shark["client_versions"]);
          compare("client_versions", at(record, "/tls/client/supported_versions"), offered, true);
          compare("alpn", at(record, "/tls/client/alpn"),
                  shark["alpn"].empty() ? json() : shark["alpn"], true);
          compare("ja3", at(record, "/tls/client/ja3"), shark["ja3"], true);
          compare("ja3_full", at(record, "/tlsglass/fingerprints/ja3"), shark["ja3_full"], true);
        }
      }
      if (shark.value("server_hello_count", 0) > 0 && !shark["server_version"].is_null()) {
        compare("server_version", at(record, "/tls/version"),
                tls::version_name(shark["server_version"].get<std::uint16_t>()), true);
        if (!shark["server_cipher"].is_null())
          compare("server_cipher", at(record, "/tls/cipher"),
                  tls::cipher_suite_name(shark["server_cipher"].get<std::uint16_t>()), true);
        if (!shark["ja3s"].is_null()) compare("ja3s", at(record, "/tls/server/ja3s"), shark["ja3s"], true);
        compare("hello_retry_request", at(record, "/tls/server/hello_retry_request"),
                shark["hello_retry_request"], true);
        if (!shark["resumed"].is_null())
          compare("resumed", at(record, "/tls/resumed"), shark["resumed"], false);
      }
      // Clear-text alerts: tshark lists every alert record; ours lists the decoded ones.
      if (shark.contains("alerts")) {
        json theirs = json::array(), ours = json::array();
        for (const auto& alert : shark["alerts"]) {
          if (alert.value("encrypted", false)) continue;
          theirs.push_back({alert["from"], alert["description"]});
        }
        for (const auto& alert : at(record, "/tlsglass/alerts").is_array() ? at(record, "/tlsglass/alerts") : json::array()) {
          if (alert.value("encrypted", false)) continue;
          ours.push_back({alert["from"], alert["code"]});
        }
        compare("alerts", ours, theirs, false);
      }
      // Baselines: JA4 (FoxIO's own output), Arkime's JA4/JA3, Zeek's verdict on established.
      const json& baseline = conn["baseline"];
      if (baseline.is_object()) {
        if (source == "ja4" && baseline.contains("JA4.1")) {
          compare("ja4", at(record, "/tls/client/ja4"), baseline["JA4.1"], true);
          compare("ja4_r", at(record, "/tlsglass/fingerprints/ja4_r"), baseline["JA4_r.1"], true);
        }
        if (source == "arkime" && baseline.contains("tls") && baseline["tls"].contains("ja4")) {
          compare("ja4", at(record, "/tls/client/ja4"), baseline["tls"]["ja4"][0], true);
        }
        if (source == "zeek" && baseline.contains("ssl") && baseline["ssl"].contains("established") &&
            !baseline["ssl"]["established"].is_null()) {
          compare("established", at(record, "/tls/established"), baseline["ssl"]["established"], false);
        }
      }
    }
  }

  std::cout << "corpus: " << connections << " TCP connections\n";
  for (const auto& [source, fields] : tallies) {
    int matched = 0, compared = 0, listed = 0;
    std::string detail;
    for (const auto& [field, tally] : fields) {
      matched += tally.matched;
      compared += tally.compared;
      listed += tally.known;
      detail += fmt::format(" {}={}/{}", field, tally.matched, tally.compared);
    }
    std::cout << fmt::format("  {}: matched {} of {} ({} known differences)\n   {}\n", source,
                             matched, compared, listed, detail);
  }
  for (const auto& [why, count] : skipped) std::cout << fmt::format("  skipped {}: {}\n", count, why);
  for (const auto& [key, entry] : known) {
    if (!entry.used) std::cout << "  known difference no longer seen (remove it): " << key << "\n";
  }
  for (const auto& line : drift) std::cout << "  differs (not required) " << line << "\n";
  for (const auto& failure : failures) std::cout << "  MISMATCH " << failure << "\n";
  CHECK(connections > 0);
  CHECK(failures.empty());
}
