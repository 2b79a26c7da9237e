#include "tlsglass/log/async_writer.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tlsglass::log {

namespace {

// One write(2) per batch, up to this much: few system calls, bounded memory.
constexpr std::size_t kBatchBytes = 1 << 20;
constexpr std::chrono::milliseconds kGather{5};

}  // namespace

std::unique_ptr<AsyncWriter> AsyncWriter::open(const std::string& path, std::string& error,
                                               AsyncWriterLimits limits) {
  if (path == "-") return std::make_unique<AsyncWriter>(STDOUT_FILENO, false, "stdout", limits);
  // O_APPEND: every batch lands at the end, even with another writer (tail -f, logrotate's
  // copytruncate) on the same file.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  return std::make_unique<AsyncWriter>(fd, true, path, limits);
}

AsyncWriter::AsyncWriter(int fd, bool owns_fd, std::string name, AsyncWriterLimits limits)
    : fd_(fd), owns_fd_(owns_fd), name_(std::move(name)), limits_(limits) {
  thread_ = std::thread([this] { run(); });
}

AsyncWriter::~AsyncWriter() { close(); }

bool AsyncWriter::write_line(std::string line) {
  line += '\n';
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (closing_ || queue_.size() >= limits_.max_lines ||
        queued_bytes_ + line.size() > limits_.max_bytes) {
      ++dropped_;
      return false;
    }
    wake = queue_.empty() ||
           (queued_bytes_ < kBatchBytes && queued_bytes_ + line.size() >= kBatchBytes);
    queued_bytes_ += line.size();
    queue_.push_back(std::move(line));
  }
  // The writer is woken for the first line of a batch (and for a full one), not for each line:
  // a wake-up is a system call on both threads.
  if (wake) wake_.notify_one();
  return true;
}

void AsyncWriter::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_ && !thread_.joinable()) return;
    closing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (owns_fd_ && fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (dropped_ > 0)
    fmt::print(stderr, "tlsglass: {}: {} lines dropped in all (the output could not keep up)\n",
               name_, dropped_);
}

std::uint64_t AsyncWriter::written() const {
  std::lock_guard lock(mutex_);
  return written_;
}

std::uint64_t AsyncWriter::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void AsyncWriter::run() {
  std::deque<std::string> batch;
  std::string buffer;
  for (;;) {
    bool report_drop = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and everything is out
      // Under load, what arrives within a few milliseconds goes out in the same write; a
      // record is late by at most kGather, and not at all at close.
      wake_.wait_for(lock, kGather,
                     [this] { return closing_ || queued_bytes_ >= kBatchBytes; });
      batch.swap(queue_);
      queued_bytes_ = 0;
      if (dropped_ > 0 && !drop_reported_) report_drop = drop_reported_ = true;
    }
    if (report_drop)
      fmt::print(stderr, "tlsglass: {}: output falling behind, dropping lines\n", name_);
    std::uint64_t lines = 0;
    while (!batch.empty()) {
      buffer.clear();
      while (!batch.empty() &&
             (buffer.empty() || buffer.size() + batch.front().size() <= kBatchBytes)) {
        buffer += batch.front();
        batch.pop_front();
        ++lines;
      }
      if (!write_failed_ && !write_all(buffer)) write_failed_ = true;
    }
    std::lock_guard lock(mutex_);
    if (!write_failed_) written_ += lines;
  }
}

bool AsyncWriter::write_all(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {  // a non-blocking descriptor we were given: wait until it drains
      pollfd wait{fd_, POLLOUT, 0};
      ::poll(&wait, 1, 1000);
      continue;
    }
    fmt::print(stderr, "tlsglass: cannot write {}: {}; further lines are lost\n", name_,
               std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace tlsglass::log
