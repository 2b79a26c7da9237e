#include "corpus_expectations.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <ostream>

#include "tlsglass/tls/registry.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tlsglass::test {

namespace {

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

}  // namespace

std::optional<fs::path> corpus_root() {
  const char* dir = std::getenv("TLSGLASS_CORPUS");
  if (!dir || !fs::is_directory(fs::path(dir) / "expected")) return std::nullopt;
  return fs::path(dir);
}

fs::path known_differences_file() {
  const char* data = std::getenv("TLSGLASS_TEST_DATA");
  return fs::path(data ? data : "tests/data") / ".." / "corpus" / "known_differences.json";
}

std::vector<fs::path> expected_files(const fs::path& root) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root / "expected")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

CorpusComparison::CorpusComparison(std::string label, const fs::path& known_file)
    : label_(std::move(label)) {
  std::ifstream in(known_file);
  if (!in) return;
  for (const auto& entry : json::parse(in)) {
    known_[entry["capture"].get<std::string>() + "|" + entry["connection"].get<std::string>() +
           "|" + entry["field"].get<std::string>()] = {entry["reason"], false};
  }
}

void CorpusComparison::check(const std::string& source, const std::string& capture,
                             const std::string& name, const std::string& field, const json& ours,
                             const json& theirs, bool must_match) {
  Tally& tally = tallies_[source][field];
  ++tally.compared;
  if (ours == theirs) {
    ++tally.matched;
    return;
  }
  auto it = known_.find(capture + "|" + name + "|" + field);
  if (it != known_.end()) {
    ++tally.known;
    it->second.used = true;
    return;
  }
  const std::string line = fmt::format("{} {} {}: ours {} expected {}", capture, name, field,
                                       ours.dump(), theirs.dump());
  (must_match ? failures_ : drift_).push_back(line);
}

void CorpusComparison::missing(const std::string& source, const std::string& capture,
                               const std::string& name, const std::string& why) {
  ++connections_;
  check(source, capture, name, "record", json(why), json("a record"), true);
}

void CorpusComparison::compare(const std::string& source, const std::string& capture,
                               const std::string& name, const json& conn, const json& record) {
  ++connections_;
  auto compare = [&](const std::string& field, const json& ours, const json& theirs,
                     bool must_match) {
    check(source, capture, name, field, ours, theirs, must_match);
  };
  const json& shark = conn["tshark"];
  const bool hello = shark.value("client_hello_count", 0) > 0 && !shark["client_hellos"].empty();
  if (hello && !shark["client_hellos"][0].value("sslv2", false)) {
    compare("sni", at(record, "/tls/client/server_name"), shark["sni"], true);
    compare("client_ciphers", at(record, "/tls/client/supported_ciphers"),
            names(tls::Registry::cipher_suite, shark["client_ciphers"]), true);
    const json offered =
        shark["client_versions"].empty() ? json() : versions(shark["client_versions"]);
    compare("client_versions", at(record, "/tls/client/supported_versions"), offered, true);
    compare("alpn", at(record, "/tls/client/alpn"), shark["alpn"].empty() ? json() : shark["alpn"],
            true);
    compare("ja3", at(record, "/tls/client/ja3"), shark["ja3"], true);
    compare("ja3_full", at(record, "/tlsglass/fingerprints/ja3"), shark["ja3_full"], true);
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
    const json our_alerts = at(record, "/tlsglass/alerts");
    for (const auto& alert : our_alerts.is_array() ? our_alerts : json::array()) {
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

bool CorpusComparison::report(std::ostream& out) const {
  out << "corpus (" << label_ << "): " << connections_ << " TCP connections\n";
  for (const auto& [source, fields] : tallies_) {
    int matched = 0, compared = 0, listed = 0;
    std::string detail;
    for (const auto& [field, tally] : fields) {
      matched += tally.matched;
      compared += tally.compared;
      listed += tally.known;
      detail += fmt::format(" {}={}/{}", field, tally.matched, tally.compared);
    }
    out << fmt::format("  {}: matched {} of {} ({} known differences)\n   {}\n", source, matched,
                       compared, listed, detail);
  }
  for (const auto& [why, count] : skipped_) out << fmt::format("  skipped {}: {}\n", count, why);
  for (const auto& [key, entry] : known_) {
    if (!entry.used) out << "  known difference not seen in this run: " << key << "\n";
  }
  for (const auto& line : drift_) out << "  differs (not required) " << line << "\n";
  for (const auto& failure : failures_) out << "  MISMATCH " << failure << "\n";
  return failures_.empty();
}

}  // namespace tlsglass::test
