// Replaying a capture file: frames through the decoder and the flow tracker into one
// trace::Session per TCP connection - the same Session API the live proxy feeds, so a capture
// of a proxied connection gives back the record the proxy wrote (DESIGN.md "Captures").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/handshake_record.hpp"
#include "tlsglass/trace/hello_history.hpp"

namespace tlsglass::capture {

// One connection's outcome, and the first bytes the client sent (its prelude and handshake, at
// most kMaxClientBytes: what `replay --to` re-sends).
struct ReplayedConnection {
  trace::HandshakeRecord record;
  std::vector<std::uint8_t> client_bytes;
};

struct ReplayConfig {
  // The live proxy's --handshake-timeout: a connection still mid-handshake this long after it
  // opened gets a `timeout` record, as the proxy would have written.
  double handshake_timeout_s = 10;
  trace::HelloHistory* history = nullptr;
  // Keep each connection's first client bytes (ReplayedConnection::client_bytes): only
  // `replay --to` needs them, so a plain replay does not copy every stream's start.
  bool keep_client_bytes = false;
  std::function<void(ReplayedConnection&&)> on_connection;
  // Called every few thousand frames: bytes of the file read so far, and its size.
  std::function<void(std::uint64_t position, std::uint64_t size)> on_progress;
};

struct ReplayStats {
  std::uint64_t frames = 0, tcp_segments = 0, connections = 0;
  std::map<std::string, std::uint64_t> skipped;  // frames not used, by reason
};

inline constexpr std::size_t kMaxClientBytes = 64 * 1024;

class CaptureReplay {
 public:
  explicit CaptureReplay(ReplayConfig config);
  // Replays one file. Returns nullopt on success, else a one-line reason (records of the
  // connections read before a damaged part are still reported).
  std::optional<std::string> replay_file(const std::string& path, ReplayStats& stats);

 private:
  ReplayConfig config_;
  std::uint64_t next_conn_ = 1;  // connection numbers run on across files
};

}  // namespace tlsglass::capture
