// The corpus's expected values (../shared/corpus/expected: tshark's dissection and the source
// projects' baselines) compared with our records, one connection at a time, with the tallies
// and the known differences (known_differences.json) both corpus tests print.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tlsglass::test {

std::optional<std::filesystem::path> corpus_root();
// tests/corpus/known_differences.json (found from TLSGLASS_TEST_DATA).
std::filesystem::path known_differences_file();
// expected/<source>/<capture>.json, sorted.
std::vector<std::filesystem::path> expected_files(const std::filesystem::path& root);

class CorpusComparison {
 public:
  // `label` names the run in the report ("streams", "pcap replay"); `known_file` is
  // known_differences.json ([{"capture", "connection", "field", "reason"}]).
  CorpusComparison(std::string label, const std::filesystem::path& known_file);

  // Compares one connection's record (as JSON) with its expected block.
  void compare(const std::string& source, const std::string& capture, const std::string& name,
               const nlohmann::json& expected, const nlohmann::json& record);
  // A connection the corpus lists that we gave no record for.
  void missing(const std::string& source, const std::string& capture, const std::string& name,
               const std::string& why);
  void skip(const std::string& why) { ++skipped_[why]; }

  // Prints "matched X of Y" per source, the drift and the mismatches; true when nothing that
  // must match differs.
  bool report(std::ostream& out) const;
  int connections() const { return connections_; }

 private:
  struct Tally {
    int matched = 0, compared = 0, known = 0;
  };
  struct KnownDifference {
    std::string reason;
    bool used = false;
  };
  void check(const std::string& source, const std::string& capture, const std::string& name,
             const std::string& field, const nlohmann::json& ours, const nlohmann::json& theirs,
             bool must_match);

  std::string label_;
  std::map<std::string, KnownDifference> known_;
  std::map<std::string, std::map<std::string, Tally>> tallies_;  // source -> field -> tally
  std::map<std::string, int> skipped_;
  std::vector<std::string> failures_, drift_;
  int connections_ = 0;
};

}  // namespace tlsglass::test
