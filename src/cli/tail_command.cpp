#include "tlsglass/cli/tail_command.hpp"

#include <fmt/format.h>
#include <fnmatch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "log_follower.hpp"
#include "tlsglass/log/console_line.hpp"
#include "tlsglass/log/ladder.hpp"
#include "tlsglass/log/safe_text.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::cli {

namespace {

// Between looks at the file when there was nothing new: new records show within this, and an
// idle tail costs a stat and a read a few times a second.
constexpr long kPollIntervalNs = 150'000'000;

// Complaints about bad lines on the first screen at most; older ones are left out.
constexpr std::size_t kMaxFirstScreenComplaints = 1000;

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) { g_stop = 1; }

void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: the sleep between polls ends at once
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void sleep_between_polls() {
  timespec interval{0, kPollIntervalNs};
  nanosleep(&interval, nullptr);  // EINTR on SIGINT: the loop then sees g_stop
}

// Every cause name, for the usage error: trace::Cause runs from ok to incomplete.
std::string cause_names() {
  std::string names;
  for (auto i = static_cast<int>(trace::Cause::ok); i <= static_cast<int>(trace::Cause::incomplete);
       ++i) {
    names +=
        (names.empty() ? "" : ", ") + std::string(trace::cause_name(static_cast<trace::Cause>(i)));
  }
  return names;
}

int usage(const std::string& reason) {
  fmt::print(stderr, "tlsglass: tail: {} (see tlsglass tail --help)\n", reason);
  return 2;
}

// A line of the log read back: a record, or why it is not one.
struct ReadLine {
  std::optional<log::ConsoleRecord> record;
  std::string problem;
};

ReadLine read_line(const std::string& text) {
  ReadLine out;
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Not e.what(): it quotes the line, which may hold anything.
    out.problem = fmt::format("not JSON: syntax error at byte {}", e.byte);
    return out;
  } catch (const nlohmann::json::exception&) {
    out.problem = "not JSON: a value out of range";
    return out;
  }
  out.record = log::console_record(parsed, out.problem);
  return out;
}

class Tail {
 public:
  explicit Tail(const TailOptions& options)
      : options_(options),
        tty_(isatty(STDOUT_FILENO) == 1),
        style_{log::wants_color(STDOUT_FILENO), log::wants_utf8(),
               log::terminal_width(STDOUT_FILENO)},
        file_(log::terminal_safe(options.file)) {}

  // First screen: the last N matching records of what the file holds when tail starts, and
  // the complaints about bad lines among them. Read from the end backwards, so that a log of
  // gigabytes is not parsed from its start.
  void print_first_screen(LogFollower& follower) {
    std::vector<ScreenEntry> newest_first;
    std::size_t records = 0, complaints = 0;
    follower.read_backwards(options_.no_follow, [&](FollowEvent&& event) {
      if (g_stop || options_.lines == 0) return false;
      if (event.kind == FollowEvent::Kind::line_too_long) {
        if (complaints++ < kMaxFirstScreenComplaints)
          newest_first.push_back({event.number, {}, too_long(), {}});
        return true;
      }
      if (event.text.empty()) return true;
      ReadLine line = read_line(event.text);
      if (!line.record) {
        if (complaints++ < kMaxFirstScreenComplaints)
          newest_first.push_back({event.number, {}, std::move(line.problem), {}});
        return true;
      }
      if (!matches(*line.record)) return true;
      newest_first.push_back({event.number, std::move(event.text), {}, std::move(line.record)});
      return ++records < options_.lines;
    });
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
      if (it->record) {
        print(*it->record, it->text);
      } else {
        complain(it->number, it->problem);
      }
    }
    flush();
  }

  // After the first screen: every matching record as it comes.
  void show(const FollowEvent& event) {
    if (event.kind != FollowEvent::Kind::line) return note(event);
    if (event.text.empty()) return;
    ReadLine line = read_line(event.text);
    if (!line.record) return complain(event.number, line.problem);
    if (matches(*line.record)) print(*line.record, event.text);
  }

  void flush() {
    if (std::fflush(stdout) != 0) output_failed_ = true;
  }

  bool output_failed() const { return output_failed_; }
  bool read_failed() const { return read_failed_; }

 private:
  struct ScreenEntry {
    std::uint64_t number;
    std::string text;     // a matching record's line
    std::string problem;  // or why the line is not a record
    std::optional<log::ConsoleRecord> record;
  };

  static std::string too_long() {
    return fmt::format("longer than {} bytes, skipped", kMaxLogLine);
  }

  bool matches(const log::ConsoleRecord& record) const {
    if (options_.failed && record.cause == "ok") return false;
    if (options_.cause && record.cause != *options_.cause) return false;
    if (options_.sni) {
      // Host names compare case-insensitively (RFC 4343).
      if (!record.server_name) return false;
      if (fnmatch(options_.sni->c_str(), record.server_name->c_str(), FNM_CASEFOLD) != 0)
        return false;
    }
    return true;
  }

  void print(const log::ConsoleRecord& record, std::string_view text) {
    std::string out;
    if (options_.json) {
      out.append(text).push_back('\n');  // byte for byte as in the file
    } else {
      out = log::console_line(record, style_) + "\n";
      if (options_.ladder || (tty_ && record.cause != "ok")) {
        for (const auto& row : log::ladder(record.timeline, record.cause, style_))
          out += row + "\n";
      }
    }
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) output_failed_ = true;
  }

  void complain(std::uint64_t number, const std::string& problem) {
    flush();  // keep the complaint in its place among the records
    fmt::print(stderr, "tlsglass: tail: line {}: not a handshake record ({})\n", number, problem);
  }

  void note(const FollowEvent& event) {
    flush();
    switch (event.kind) {
      case FollowEvent::Kind::line_too_long:
        complain(event.number, too_long());
        break;
      case FollowEvent::Kind::partial_line:
        fmt::print(stderr,
                   "tlsglass: tail: line {}: not a handshake record (no newline before "
                   "{} was replaced)\n",
                   event.number, file_);
        break;
      case FollowEvent::Kind::appeared:
        fmt::print(stderr, "tlsglass: tail: {} has appeared; following it\n", file_);
        break;
      case FollowEvent::Kind::replaced:
        fmt::print(stderr, "tlsglass: tail: {} has been replaced; following the new file\n", file_);
        break;
      case FollowEvent::Kind::truncated:
        fmt::print(stderr, "tlsglass: tail: {} was truncated; reading it from the start\n", file_);
        break;
      case FollowEvent::Kind::read_error:
        fmt::print(stderr, "tlsglass: tail: cannot read {}: {}\n", file_, event.text);
        read_failed_ = true;
        break;
      case FollowEvent::Kind::line:
        break;
    }
  }

  const TailOptions& options_;
  bool tty_;
  log::ConsoleStyle style_;
  std::string file_;  // for messages
  bool output_failed_ = false;
  bool read_failed_ = false;
};

}  // namespace

CLI::App* add_tail_command(CLI::App& app, TailOptions& options) {
  CLI::App* command = app.add_subcommand(
      "tail",
      "Show the handshake log as it grows, one line per handshake (and a ladder diagram "
      "of each failure on a terminal); follows the file like tail -F");
  command->add_option("file", options.file, "The JSON lines log")
      ->type_name("FILE")
      ->capture_default_str();
  command->add_option("-n", options.lines, "Start with the last N matching records")
      ->check(CLI::Validator(
          [](std::string& value) {
            const bool digits = !value.empty() && value.size() <= 18 &&
                                value.find_first_not_of("0123456789") == std::string::npos;
            return digits ? std::string() : "N must be a number of records, 0 or more";
          },
          "N"))
      ->type_name("N")
      ->capture_default_str();
  command->add_flag("--no-follow", options.no_follow, "Print what the file holds and exit");
  command->add_flag("--failed", options.failed, "Only handshakes whose cause is not ok");
  command
      ->add_option("--sni", options.sni,
                   "Only handshakes whose SNI matches GLOB (fnmatch, case-insensitive)")
      ->type_name("GLOB");
  command->add_option("--cause", options.cause, "Only handshakes with this cause")
      ->type_name("NAME");
  command->add_flag("--json", options.json, "Print the matching records as they are in the file");
  command->add_flag("--ladder", options.ladder,
                    "Draw the timeline under every record (default: under failures, on a "
                    "terminal)");
  return command;
}

int run_tail_command(const TailOptions& options) {
  if (options.cause && !trace::cause_from_name(*options.cause)) {
    return usage(fmt::format("unknown cause '{}' (one of: {})", log::terminal_safe(*options.cause),
                             cause_names()));
  }
  LogFollower follower(options.file);
  std::string error;
  if (!follower.open(error)) {
    if (options.no_follow) {
      fmt::print(stderr, "tlsglass: tail: cannot open {}: {}\n", log::terminal_safe(options.file),
                 error);
      return 1;
    }
    fmt::print(stderr, "tlsglass: tail: cannot open {} ({}); waiting for it\n",
               log::terminal_safe(options.file), error);
  }
  install_stop_signals();
  Tail tail(options);

  if (follower.is_open()) tail.print_first_screen(follower);
  if (options.no_follow) return tail.output_failed() ? 1 : 0;

  std::vector<FollowEvent> events;
  while (!g_stop) {
    events.clear();
    const bool more = follower.poll(events);
    for (const auto& event : events) tail.show(event);
    tail.flush();
    if (tail.read_failed() || tail.output_failed()) return 1;
    if (!more) sleep_between_polls();
  }
  return 0;
}

}  // namespace tlsglass::cli
