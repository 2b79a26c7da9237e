// Reads a growing log file line by line, the way `tail -F` follows one: by name, so that it
// survives rotation (the name now points at another file: finish the old one, then read the new
// one from its start) and truncation (the file got shorter than what was read: read it again
// from the start). A file that is not there yet is waited for. Knows nothing of what the lines
// say; `tail` (tail_command.cpp) parses and prints them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tlsglass::cli {

// A record line is a few KiB; anything past this is not one, and is skipped rather than kept.
inline constexpr std::size_t kMaxLogLine = 1024 * 1024;

struct FollowEvent {
  enum class Kind {
    line,           // `text` is a complete line, without its newline
    line_too_long,  // line `number` grew past the limit without a newline; it is skipped
    partial_line,   // line `number` had no newline when its file was replaced; dropped
    appeared,       // the file exists now (after it was missing when last tried)
    replaced,       // the name points at a new file; reading it from the start
    truncated,      // the file got shorter than what was read; reading it from the start
    read_error,     // `text` says why the file could not be read
  };
  Kind kind = Kind::line;
  std::uint64_t number = 0;  // line number in the current file, from 1
  std::string text;
};

class LogFollower {
 public:
  explicit LogFollower(std::string path, std::size_t max_line = kMaxLogLine);
  ~LogFollower();
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // Opens the file if it is not open yet. False, with the reason (strerror) in `error`, when it
  // cannot be opened now.
  bool open(std::string& error);
  bool is_open() const { return fd_ >= 0; }

  // Reads what the file holds now, up to about `budget` bytes, and appends what it found to
  // `events`; checks for rotation and truncation once it reaches the end. True when it stopped
  // early and there is more to read now (call again before waiting).
  bool poll(std::vector<FollowEvent>& events, std::size_t budget = 4 * 1024 * 1024);

  // For a reader that starts at the end (the last N records of a log that may be gigabytes):
  // the lines of the file as it is now, newest first, handed to `take` until it returns false
  // or the start is reached; then poll() reads on from that end. A last line without a newline
  // comes first when `with_partial_line`, else poll() waits for the rest of it. Line numbers
  // cost one pass over the file looking for newlines only. Events are `line` and
  // `line_too_long`; the file must be open.
  void read_backwards(bool with_partial_line, const std::function<bool(FollowEvent&&)>& take);

  // The last line when it has no newline (yet): for a reader that will not wait for the rest.
  std::optional<FollowEvent> take_partial_line();

 private:
  void consume(const char* data, std::size_t size, std::vector<FollowEvent>& events);
  // Newlines in the first `size` bytes, and the offset just past the last one.
  std::uint64_t count_lines(off_t size, off_t& after_last_newline);
  void restart(std::vector<FollowEvent>& events, FollowEvent::Kind why);

  std::string path_;
  std::size_t max_line_;
  int fd_ = -1;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  off_t offset_ = 0;         // bytes read from the current file
  std::uint64_t lines_ = 0;  // complete lines (and skipped long ones) seen in the current file
  std::string partial_;      // the line being read, before its newline
  bool skipping_ = false;    // inside a line that was too long: drop bytes up to the newline
  bool was_missing_ = false;
};

}  // namespace tlsglass::cli
