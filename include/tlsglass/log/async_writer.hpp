// Lines written from any thread without blocking it: a bounded queue, and one writer thread
// that appends to the file and flushes after each batch. When the file cannot keep up, lines
// beyond the bound are dropped and counted - the event loops never wait for a disk or a pipe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace tlsglass::log {

struct AsyncWriterLimits {
  std::size_t max_lines = 64 * 1024;         // lines queued at most
  std::size_t max_bytes = 64 * 1024 * 1024;  // bytes queued at most
};

class AsyncWriter {
 public:
  // Appends to `path` (created 0600 if missing), or writes to stdout for "-". nullptr and a
  // one-line reason in `error` when the file cannot be opened.
  static std::unique_ptr<AsyncWriter> open(const std::string& path, std::string& error,
                                           AsyncWriterLimits limits = {});
  // Writes to a descriptor it does not own (stderr for the console lines).
  AsyncWriter(int fd, bool owns_fd, std::string name, AsyncWriterLimits limits = {});
  ~AsyncWriter();  // close()
  AsyncWriter(const AsyncWriter&) = delete;
  AsyncWriter& operator=(const AsyncWriter&) = delete;

  // Queues one line (a newline is added). Never blocks on I/O; false when the line was
  // dropped because the queue is full.
  bool write_line(std::string line);
  // Writes out everything queued, then stops the writer thread. Idempotent.
  void close();

  std::uint64_t written() const;
  std::uint64_t dropped() const;

 private:
  void run();
  bool write_all(const std::string& bytes);

  int fd_;
  bool owns_fd_;
  std::string name_;
  AsyncWriterLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t dropped_ = 0;
  bool drop_reported_ = false;
  bool write_failed_ = false;
  bool closing_ = false;
  std::thread thread_;
};

}  // namespace tlsglass::log
