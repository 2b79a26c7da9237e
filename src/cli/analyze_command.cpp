#include "tlsglass/cli/analyze_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <variant>
#include <vector>

#include "tlsglass/cli/hex_input.hpp"
#include "tlsglass/log/console_line.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/trace/offline_feed.hpp"
#include "tlsglass/trace/session.hpp"

namespace tlsglass::cli {

namespace {

// Reads a stream file (binary, or a hex dump with --hex); nullopt after printing the reason.
std::optional<std::vector<std::uint8_t>> load_stream(const std::string& path, bool hex) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fmt::print(stderr, "tlsglass: cannot read {}: {}\n", path, std::strerror(errno));
    return std::nullopt;
  }
  // Hex dumps take about three characters a byte.
  const std::size_t limit = hex ? 3 * kMaxAnalyzeInput : kMaxAnalyzeInput;
  std::vector<char> raw(limit + 1);
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  raw.resize(static_cast<std::size_t>(in.gcount()));
  if (raw.size() > limit) {
    raw.resize(limit);
    fmt::print(stderr, "tlsglass: {}: reading only the first {} bytes\n", path, limit);
  }
  if (!hex) return std::vector<std::uint8_t>(raw.begin(), raw.end());
  auto decoded = decode_hex_dump(std::string_view(raw.data(), raw.size()));
  if (auto* error = std::get_if<HexError>(&decoded)) {
    fmt::print(stderr, "tlsglass: {}:{}: {}\n", path, error->line, error->reason);
    return std::nullopt;
  }
  return std::get<std::vector<std::uint8_t>>(std::move(decoded));
}

}  // namespace

int run_analyze(const AnalyzeOptions& options) {
  auto client = load_stream(options.client_file, options.hex);
  if (!client) return 1;
  std::vector<std::uint8_t> server_bytes;
  if (!options.server_file.empty()) {
    auto server = load_stream(options.server_file, options.hex);
    if (!server) return 1;
    server_bytes = std::move(*server);
  }
  trace::SessionConfig config;
  config.mode = "analyze";
  trace::Session session(config);
  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now());
  trace::feed_unsynchronised(session, *client, server_bytes, now);
  const trace::HandshakeRecord record = session.record();
  if (!options.json && isatty(STDOUT_FILENO) == 1) {
    // The view `tail` shows (the line, the ladder), with what the client and server offered.
    const log::ConsoleStyle style{log::wants_color(STDOUT_FILENO), log::wants_utf8(),
                                  log::terminal_width(STDOUT_FILENO)};
    fmt::print("{}", log::summary(record, style));
  } else {
    fmt::print("{}\n", log::to_json_line(record));
  }
  return 0;
}

}  // namespace tlsglass::cli
