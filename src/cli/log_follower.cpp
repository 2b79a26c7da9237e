#include "log_follower.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace tlsglass::cli {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

}  // namespace

LogFollower::LogFollower(std::string path, std::size_t max_line)
    : path_(std::move(path)), max_line_(max_line) {}

LogFollower::~LogFollower() {
  if (fd_ >= 0) ::close(fd_);
}

bool LogFollower::open(std::string& error) {
  if (fd_ >= 0) return true;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat status {};
  if (fd < 0 || fstat(fd, &status) != 0) {
    error = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    was_missing_ = true;
    return false;
  }
  if (S_ISDIR(status.st_mode)) {
    error = std::strerror(EISDIR);
    ::close(fd);
    was_missing_ = true;
    return false;
  }
  fd_ = fd;
  device_ = status.st_dev;
  inode_ = status.st_ino;
  offset_ = 0;
  lines_ = 0;
  partial_.clear();
  skipping_ = false;
  return true;
}

bool LogFollower::poll(std::vector<FollowEvent>& events, std::size_t budget) {
  if (fd_ < 0) {
    std::string error;
    if (!open(error)) return false;
    if (std::exchange(was_missing_, false)) events.push_back({FollowEvent::Kind::appeared, 0, {}});
  }
  std::vector<char> chunk(kReadChunk);
  std::size_t used = 0;
  while (used < budget) {
    const ssize_t n = ::read(fd_, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      events.push_back({FollowEvent::Kind::read_error, lines_, std::strerror(errno)});
      ::close(fd_);
      fd_ = -1;
      return false;
    }
    if (n == 0) break;
    offset_ += n;
    used += static_cast<std::size_t>(n);
    consume(chunk.data(), static_cast<std::size_t>(n), events);
  }
  if (used >= budget) return true;

  // At the end of what is there. Shorter than what was read: truncated in place (logrotate's
  // copytruncate, `> file`), so everything in it is new.
  struct stat status {};
  if (fstat(fd_, &status) == 0 && status.st_size < offset_) {
    if (::lseek(fd_, 0, SEEK_SET) == 0) {
      restart(events, FollowEvent::Kind::truncated);
      return true;
    }
  }
  // The name now points at another file (renamed away and recreated, or replaced): the old
  // one has been read to its end above, so switch. A name that points nowhere (renamed, the new
  // file not created yet) keeps the old file: whoever still writes to it is read.
  if (::stat(path_.c_str(), &status) == 0 &&
      (status.st_dev != device_ || status.st_ino != inode_)) {
    if (!partial_.empty() || skipping_)
      events.push_back({FollowEvent::Kind::partial_line, lines_ + 1, {}});
    ::close(fd_);
    fd_ = -1;
    std::string error;
    if (open(error)) {
      events.push_back({FollowEvent::Kind::replaced, 0, {}});
      return true;
    }
  }
  return false;
}

std::uint64_t LogFollower::count_lines(off_t size, off_t& after_last_newline) {
  std::vector<char> chunk(kReadChunk);
  std::uint64_t lines = 0;
  after_last_newline = 0;
  for (off_t at = 0; at < size;) {
    const auto want = static_cast<std::size_t>(std::min<off_t>(size - at, kReadChunk));
    const ssize_t n = ::pread(fd_, chunk.data(), want, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // shorter than it was a moment ago: poll() sees the truncation
    for (const char* p = chunk.data();
         (p = static_cast<const char*>(std::memchr(p, '\n', chunk.data() + n - p))) != nullptr;
         ++p) {
      ++lines;
      after_last_newline = at + (p - chunk.data()) + 1;
    }
    at += n;
  }
  return lines;
}

void LogFollower::read_backwards(bool with_partial_line,
                                 const std::function<bool(FollowEvent&&)>& take) {
  struct stat status {};
  if (fd_ < 0 || fstat(fd_, &status) != 0) return;
  off_t end = 0;  // just past the last newline
  lines_ = count_lines(status.st_size, end);
  std::uint64_t number = lines_;  // of the line being read backwards
  offset_ = status.st_size;
  partial_.clear();
  skipping_ = false;
  ::lseek(fd_, offset_, SEEK_SET);

  // The unfinished last line: the newest, or the start of what poll() reads next.
  const off_t partial_size = status.st_size - end;
  bool more = true;
  if (partial_size > static_cast<off_t>(max_line_)) {
    skipping_ = true;
    more = take({FollowEvent::Kind::line_too_long, lines_ + 1, {}});
  } else if (partial_size > 0) {
    partial_.resize(static_cast<std::size_t>(partial_size));
    if (::pread(fd_, partial_.data(), partial_.size(), end) != partial_size) partial_.clear();
    if (with_partial_line) {
      if (auto last = take_partial_line()) more = take(std::move(*last));
    }
  }

  // From the last newline back: `pieces` are the current line's bytes, the end of it first.
  std::vector<char> chunk(kReadChunk);
  std::vector<std::string> pieces;
  std::size_t line_size = 0;
  bool too_long = false;
  const auto finish_line = [&]() {
    FollowEvent event{FollowEvent::Kind::line, number--, {}};
    if (too_long) {
      event.kind = FollowEvent::Kind::line_too_long;
    } else {
      event.text.reserve(line_size);
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) event.text += *it;
    }
    pieces.clear();
    line_size = 0;
    too_long = false;
    return take(std::move(event));
  };
  // `at` is where the unread part ends; the byte at end-1 is the last line's newline.
  off_t at = end > 0 ? end - 1 : 0;
  while (more && at > 0) {
    const auto want = static_cast<std::size_t>(std::min<off_t>(at, kReadChunk));
    const ssize_t n = ::pread(fd_, chunk.data(), want, at - static_cast<off_t>(want));
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(want)) return;  // truncated meanwhile: poll() sees it
    std::size_t stop = want;  // bytes [0, stop) of the chunk are still to be split
    while (more && stop > 0) {
      const auto* newline = static_cast<const char*>(memrchr(chunk.data(), '\n', stop));
      const std::size_t begin = newline ? static_cast<std::size_t>(newline - chunk.data()) + 1 : 0;
      const std::size_t length = stop - begin;
      if (!too_long && line_size + length > max_line_) {
        too_long = true;
        pieces.clear();
      }
      if (!too_long) pieces.emplace_back(chunk.data() + begin, length);
      line_size += length;
      if (newline == nullptr) break;  // the line goes on in the chunk before
      more = finish_line();
      stop = begin - 1;  // before the newline
    }
    at -= static_cast<off_t>(want);
  }
  if (more && number > 0) finish_line();  // the file's first line: no newline before it
}

std::optional<FollowEvent> LogFollower::take_partial_line() {
  if (partial_.empty() || skipping_) return std::nullopt;
  FollowEvent event{FollowEvent::Kind::line, ++lines_, std::move(partial_)};
  partial_.clear();
  return event;
}

void LogFollower::consume(const char* data, std::size_t size, std::vector<FollowEvent>& events) {
  while (size > 0) {
    const auto* newline = static_cast<const char*>(std::memchr(data, '\n', size));
    const std::size_t length = newline ? static_cast<std::size_t>(newline - data) : size;
    if (!skipping_) {
      if (partial_.size() + length > max_line_) {
        // Said as soon as it is known, not when (if ever) the newline comes.
        events.push_back({FollowEvent::Kind::line_too_long, lines_ + 1, {}});
        partial_.clear();
        partial_.shrink_to_fit();
        skipping_ = true;
      } else {
        partial_.append(data, length);
      }
    }
    if (newline == nullptr) return;
    ++lines_;
    if (!skipping_) events.push_back({FollowEvent::Kind::line, lines_, std::move(partial_)});
    partial_.clear();
    skipping_ = false;
    data = newline + 1;
    size -= length + 1;
  }
}

void LogFollower::restart(std::vector<FollowEvent>& events, FollowEvent::Kind why) {
  offset_ = 0;
  lines_ = 0;
  partial_.clear();
  skipping_ = false;
  events.push_back({why, 0, {}});
}

}  // namespace tlsglass::cli
