// Real handshakes recorded by scripts/record-fixtures (tests/data/fixtures/<name>/): the
// capture's segments in order (transcript.jsonl) and what tshark read from it (expected.json).
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tlsglass/trace/session.hpp"

namespace tlsglass::test {

struct TranscriptEvent {
  double ms = 0;
  trace::Side from = trace::Side::client;
  std::vector<std::uint8_t> bytes;        // payload, or empty for a close
  std::optional<trace::CloseKind> close;  // FIN or RST
};

struct Fixture {
  std::string name;
  std::filesystem::path dir;
  std::vector<TranscriptEvent> transcript;
  nlohmann::json expected;  // tshark's view
  std::string how;          // how.txt: commands and the client's own verdict
};

std::filesystem::path fixtures_dir();
std::vector<Fixture> load_fixtures();
Fixture load_fixture(const std::string& name);

// Replays the transcript into a fresh session; `split` re-cuts every payload into pieces of
// at most that many bytes (0: as captured).
trace::HandshakeRecord replay(const Fixture& fixture, std::size_t split = 0);
// The same into a session of the given config; `before_record` runs after the last event.
trace::HandshakeRecord replay(const Fixture& fixture, trace::SessionConfig config,
                              const std::function<void(trace::Session&)>& before_record);

// Timestamp of the fixture's first event (a fixed epoch: the recording's own time is not kept).
trace::Timestamp fixture_epoch();

}  // namespace tlsglass::test
