// `tlsglass analyze --client FILE [--server FILE] [--hex] [--json]`: one trace::Session over raw
// stream bytes, the record printed as JSON (or a readable summary on a terminal).
#pragma once

#include <string>

namespace tlsglass::cli {

struct AnalyzeOptions {
  std::string client_file;
  std::string server_file;  // empty: no server stream
  bool hex = false;
  bool json = false;        // force JSON even on a terminal
};

// Largest input analyze reads from a file: the handshake is at the start of a stream.
inline constexpr std::size_t kMaxAnalyzeInput = 16 * 1024 * 1024;

int run_analyze(const AnalyzeOptions& options);

}  // namespace tlsglass::cli
