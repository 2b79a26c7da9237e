#include "fixture_support.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tlsglass::test {

namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> hex_bytes(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace

fs::path fixtures_dir() {
  const char* dir = std::getenv("TLSGLASS_TEST_DATA");
  return fs::path(dir ? dir : "tests/data") / "fixtures";
}

trace::Timestamp fixture_epoch() {
  // 2026-11-25T10:00:00Z: inside the validity of the certificates the script makes (they are
  // valid from the day of recording for years; the expired one ended before it).
  using namespace std::chrono;
  return time_point_cast<microseconds>(sys_days{year{2026} / 11 / 25} + hours{10});
}

Fixture load_fixture(const std::string& name) {
  Fixture fixture;
  fixture.name = name;
  fixture.dir = fixtures_dir() / name;
  std::ifstream transcript(fixture.dir / "transcript.jsonl");
  std::string line;
  while (std::getline(transcript, line)) {
    if (line.empty()) continue;
    const auto entry = nlohmann::json::parse(line);
    TranscriptEvent event;
    event.ms = entry.value("ms", 0.0);
    event.from = entry.value("from", "client") == "client" ? trace::Side::client : trace::Side::server;
    if (entry.contains("hex")) event.bytes = hex_bytes(entry["hex"]);
    if (entry.contains("event")) {
      event.close = entry["event"] == "rst" ? trace::CloseKind::rst : trace::CloseKind::fin;
    }
    fixture.transcript.push_back(std::move(event));
  }
  std::ifstream expected(fixture.dir / "expected.json");
  if (expected) fixture.expected = nlohmann::json::parse(expected);
  std::ifstream how(fixture.dir / "how.txt");
  std::stringstream text;
  text << how.rdbuf();
  fixture.how = text.str();
  return fixture;
}

std::vector<Fixture> load_fixtures() {
  std::vector<Fixture> fixtures;
  if (!fs::is_directory(fixtures_dir())) return fixtures;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fixtures_dir())) {
    if (fs::exists(entry.path() / "transcript.jsonl")) names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) fixtures.push_back(load_fixture(name));
  return fixtures;
}

namespace {

void feed(const Fixture& fixture, std::size_t split, trace::Session& session);

}  // namespace

trace::HandshakeRecord replay(const Fixture& fixture, std::size_t split) {
  trace::Session session({});
  feed(fixture, split, session);
  return session.record();
}

trace::HandshakeRecord replay(const Fixture& fixture, trace::SessionConfig config,
                              const std::function<void(trace::Session&)>& before_record) {
  trace::Session session(std::move(config));
  feed(fixture, 0, session);
  if (before_record) before_record(session);
  return session.record();
}

namespace {

void feed(const Fixture& fixture, std::size_t split, trace::Session& session) {
  const trace::Timestamp epoch = fixture_epoch();
  for (const auto& event : fixture.transcript) {
    const auto at = epoch + std::chrono::microseconds(static_cast<std::int64_t>(event.ms * 1000));
    if (event.close) {
      session.on_close(event.from, *event.close, at);
      continue;
    }
    if (split == 0) {
      session.on_bytes(event.from, event.bytes, at);
      continue;
    }
    for (std::size_t pos = 0; pos < event.bytes.size(); pos += split) {
      const std::size_t n = std::min(split, event.bytes.size() - pos);
      session.on_bytes(event.from, tls::Bytes(event.bytes).subspan(pos, n), at);
    }
  }
}

}  // namespace

}  // namespace tlsglass::test
