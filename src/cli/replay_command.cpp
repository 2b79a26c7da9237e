#include "tlsglass/cli/replay_command.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>

#include "hello_resender.hpp"
#include "tlsglass/capture/replay.hpp"
#include "tlsglass/log/console_line.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/log/ladder.hpp"
#include "tlsglass/log/safe_text.hpp"
#include "tlsglass/proxy/proxy.hpp"

namespace tlsglass::cli {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

bool capture_extension(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".pcap" || ext == ".pcapng" || ext == ".cap";
}

struct InputFile {
  std::string path;
  std::optional<std::string> error;  // could not even be listed
};

// Files as given, and directories searched (recursively, sorted) for capture files.
std::vector<InputFile> input_files(const std::vector<std::string>& paths) {
  std::vector<InputFile> files;
  for (const auto& path : paths) {
    std::error_code error;
    if (!fs::is_directory(path, error)) {
      files.push_back({path, {}});
      continue;
    }
    std::vector<std::string> found;
    for (fs::recursive_directory_iterator it(path, error), end; !error && it != end;
         it.increment(error)) {
      if (it->is_regular_file(error) && capture_extension(it->path()))
        found.push_back(it->path().string());
    }
    if (error) {
      files.push_back({path, error.message()});
      continue;
    }
    if (found.empty()) files.push_back({path, "no .pcap, .pcapng or .cap files in it"});
    std::sort(found.begin(), found.end());
    for (auto& file : found) files.push_back({std::move(file), {}});
  }
  return files;
}

// A bar on stderr for files that take more than a second, redrawn at most ten times a second,
// erased when the file is done. Only on a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void start(std::string name) {
    name_ = std::move(name);
    started_ = last_draw_ = Clock::now();
  }
  void update(std::uint64_t position, std::uint64_t size) {
    if (!enabled_ || size == 0) return;
    const auto now = Clock::now();
    if (now - started_ < std::chrono::seconds(1) || now - last_draw_ < std::chrono::milliseconds(100))
      return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    const double done = std::min(1.0, static_cast<double>(position) / static_cast<double>(size));
    const int filled = static_cast<int>(done * kWidth);
    const double seconds = std::chrono::duration<double>(now - started_).count();
    fmt::print(stderr, "\r[{}{}] {:3.0f}% {:.1f} of {:.1f} MB, {:.0f} MB/s  {}", std::string(filled, '='),
               std::string(kWidth - filled, ' '), done * 100, position / 1e6, size / 1e6,
               position / 1e6 / seconds, log::terminal_safe(name_));
    drawn_ = true;
  }
  void finish() {
    if (!drawn_) return;
    fmt::print(stderr, "\r\x1b[2K");
    drawn_ = false;
  }

 private:
  bool enabled_;
  std::string name_;
  Clock::time_point started_, last_draw_;
  bool drawn_ = false;
};

// Where records go: JSON lines to the log (a file or stdout), and the human view on a terminal.
class RecordOutput {
 public:
  bool open(const ReplayOptions& options, std::string& error) {
    const bool tty = isatty(STDOUT_FILENO) == 1;
    if (options.log && *options.log != "-") {
      const int fd = ::open(options.log->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd < 0 || !(json_ = fdopen(fd, "a"))) {
        error = fmt::format("cannot open {}: {}", *options.log, std::strerror(errno));
        if (fd >= 0) ::close(fd);
        return false;
      }
      owns_json_ = true;
    } else if ((options.log && *options.log == "-") || options.json || !tty) {
      json_ = stdout;
    }
    // The human view when stdout is a terminal and not taken by JSON.
    if (tty && json_ != stdout) {
      human_ = true;
      style_ = {log::wants_color(STDOUT_FILENO), log::wants_utf8(),
                log::terminal_width(STDOUT_FILENO)};
    }
    ladder_all_ = options.ladder;
    // Not to a terminal, records are gathered and handed to stdio in large blocks, which it
    // writes straight from our buffer: line by line it copied each into its own 4 KiB buffer
    // first, and made a system call per 4 KiB. Not with --to either: each record there waits
    // for a server, and a reader of the pipe should see it when it is done.
    const bool terminal = isatty(fileno(json_ ? json_ : stdout)) == 1;
    batch_bytes_ = terminal || options.to ? 0 : kBatchBytes;
    return true;
  }
  ~RecordOutput() {
    if (owns_json_ && json_) std::fclose(json_);
  }

  void write(const trace::HandshakeRecord& record) {
    ++causes_[std::string(trace::cause_name(record.cause))];
    if (json_) {
      log::append_json_line(lines_, record);
      lines_ += '\n';
      if (lines_.size() >= batch_bytes_) write_lines();
    }
    if (!human_) return;
    std::string text = log::console_line(record, style_) + "\n";
    if (ladder_all_ || record.cause != trace::Cause::ok) {
      for (const auto& row :
           log::ladder(record.timeline, trace::cause_name(record.cause), style_))
        text += row + "\n";
      text += "\n";
    }
    std::fputs(text.c_str(), stdout);
  }

  // The table of causes (terminal) and the count line (stderr, always).
  void finish(std::size_t files, std::size_t failed_files) {
    if (json_) write_lines();
    if (json_ && std::fflush(json_) != 0) failed_ = true;
    std::uint64_t total = 0;
    std::string counts;
    for (const auto& [cause, count] : causes_) {
      total += count;
      counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", cause, count);
    }
    if (human_ && total > 0) {
      fmt::print("{:<22} {:>11}\n", "cause", "connections");
      for (const auto& [cause, count] : causes_) fmt::print("{:<22} {:>11}\n", cause, count);
      std::fflush(stdout);
    }
    fmt::print(stderr, "tlsglass: replayed {} file{}{}: {} connection{}{}{}\n", files,
               files == 1 ? "" : "s",
               failed_files ? fmt::format(" ({} could not be read)", failed_files) : "", total,
               total == 1 ? "" : "s", total ? " - " : "", counts);
  }
  bool failed() const { return failed_; }

 private:
  std::FILE* json_ = nullptr;
  bool owns_json_ = false;
  bool human_ = false;
  bool ladder_all_ = false;
  log::ConsoleStyle style_;
  std::map<std::string, std::uint64_t> causes_;
  bool failed_ = false;
  static constexpr std::size_t kBatchBytes = 1 << 20;
  void write_lines() {
    if (std::fwrite(lines_.data(), 1, lines_.size(), json_) != lines_.size()) failed_ = true;
    lines_.clear();  // its buffer serves the next records
  }
  std::string lines_;            // JSON lines not yet handed to stdio
  std::size_t batch_bytes_ = 0;  // written once this many are gathered (0: each at once)
};

int usage(const std::string& reason) {
  fmt::print(stderr, "tlsglass: replay: {} (see tlsglass replay --help)\n", reason);
  return 2;
}

}  // namespace

CLI::App* add_replay_command(CLI::App& app, ReplayOptions& options) {
  CLI::App* command = app.add_subcommand(
      "replay",
      "Replay saved captures (pcap, pcapng): every TCP connection's handshake through the same "
      "analysis as the live proxy, with the same records");
  command->add_option("paths", options.paths, "Capture files, or directories of them")
      ->type_name("FILE|DIR")
      ->required();
  command->add_option("--log", options.log,
                      "Append JSON records to FILE; - for stdout (default: stdout when it is "
                      "not a terminal)")
      ->type_name("FILE");
  command->add_flag("--json", options.json, "JSON records on stdout even on a terminal");
  command->add_flag("--ladder", options.ladder,
                    "Draw the timeline under every record (default: under failures, on a "
                    "terminal)");
  command
      ->add_option("--handshake-timeout", options.handshake_timeout,
                   "A connection still mid-handshake this long after it opened gets a "
                   "timeout record, as the live proxy writes")
      ->check(CLI::Range(0.001, 86400.0))
      ->type_name("S")
      ->capture_default_str();
  CLI::Option* to =
      command
          ->add_option("--to", options.to,
                       "Send each captured connection's ClientHello (nothing after it) to this "
                       "live server and analyse its answer")
          ->type_name("HOST:PORT");
  command->add_option("--sni", options.sni, "With --to: replace the hello's SNI (\"\" removes it)")
      ->type_name("NAME")
      ->needs(to);
  command
      ->add_option("--split", options.split,
                   "With --to: the hello in one TCP segment (single), re-framed into N TLS "
                   "records (records:N), or in N TCP segments (segments:N)")
      ->type_name("single|records:N|segments:N")
      ->needs(to);
  command
      ->add_option("--answer-timeout", options.answer_timeout,
                   "With --to: how long to wait for the server's answer")
      ->check(CLI::Range(0.01, 3600.0))
      ->type_name("S")
      ->capture_default_str()
      ->needs(to);
  return command;
}

int run_replay_command(const ReplayOptions& options) {
  std::optional<ResendTarget> resend;
  if (options.to) {
    const auto address = proxy::parse_host_port(*options.to);
    if (!address || address->port == 0)
      return usage(fmt::format("--to needs HOST:PORT, not '{}'", log::terminal_safe(*options.to)));
    resend.emplace();
    resend->host = address->host;
    resend->port = address->port;
    resend->sni = options.sni;
    resend->answer_timeout_s = options.answer_timeout;
    if (options.split) {
      std::string error;
      auto split = parse_split(*options.split, error);
      if (!split) return usage(log::terminal_safe(error));
      resend->split = *split;
    }
  }
  RecordOutput output;
  std::string error;
  if (!output.open(options, error)) {
    fmt::print(stderr, "tlsglass: replay: {}\n", error);
    return 1;
  }
  ProgressBar progress(isatty(STDERR_FILENO) == 1);
  trace::HelloHistory history;
  capture::ReplayConfig config;
  config.handshake_timeout_s = options.handshake_timeout;
  config.history = &history;
  config.keep_client_bytes = resend.has_value();
  std::uint64_t resent = 0;
  std::uint64_t unreachable = 0;  // re-sends that found no server
  config.on_connection = [&](capture::ReplayedConnection&& connection) {
    if (!resend) {
      output.write(connection.record);
      return;
    }
    auto result = resend_captured_hello(connection, *resend, ++resent);
    if (auto* record = std::get_if<trace::HandshakeRecord>(&result)) {
      if (record->cause == trace::Cause::upstream_unreachable) ++unreachable;
      output.write(*record);
      return;
    }
    --resent;
    fmt::print(stderr, "tlsglass: replay: connection {} not re-sent: {}\n", connection.record.conn,
               std::get<std::string>(result));
  };
  config.on_progress = [&](std::uint64_t position, std::uint64_t size) {
    progress.update(position, size);
  };
  capture::CaptureReplay replay(std::move(config));

  const auto files = input_files(options.paths);
  std::size_t failed = 0;
  for (const auto& file : files) {
    std::optional<std::string> problem = file.error;
    if (!problem) {
      progress.start(file.path);
      capture::ReplayStats stats;
      problem = replay.replay_file(file.path, stats);
      progress.finish();
    }
    if (problem) {
      ++failed;
      fmt::print(stderr, "tlsglass: {}: {}\n", log::terminal_safe(file.path), *problem);
    }
  }
  output.finish(files.size(), failed);
  if (output.failed()) {
    fmt::print(stderr, "tlsglass: replay: writing the records failed: {}\n", std::strerror(errno));
    return 1;
  }
  return failed || unreachable ? 1 : 0;
}

}  // namespace tlsglass::cli
