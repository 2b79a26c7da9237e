// --capture-dir: one pcap per connection, named DIR/<UTC time>_<conn>_<sni or ip>.pcap
// (DESIGN.md "Captures"), written on a thread of its own so that no event loop waits for a disk.
//
// The decision is made when the record is (reserve: the record names its capture), the file is
// written when the connection has closed (submit: the transcript then holds both closes). A
// budget for the whole directory bounds the disk used: once it is spent, the directory says so
// once on stderr and takes no more, and the relay goes on.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "tlsglass/trace/handshake_record.hpp"
#include "tlsglass/trace/transcript.hpp"

namespace tlsglass::capture {

enum class CaptureMode : std::uint8_t { none, failed, all };

class CaptureDirectory {
 public:
  static constexpr std::size_t kMaxQueued = 256;  // transcripts waiting for the disk

  // The directory must exist or be creatable (mode 0700). nullptr with `error` otherwise.
  static std::unique_ptr<CaptureDirectory> open(const std::string& dir, CaptureMode mode,
                                                std::uint64_t max_bytes, std::string& error);
  CaptureDirectory(std::string dir, CaptureMode mode, std::uint64_t max_bytes);
  ~CaptureDirectory();
  CaptureDirectory(const CaptureDirectory&) = delete;
  CaptureDirectory& operator=(const CaptureDirectory&) = delete;

  // Whether this record's connection is kept, and as which file. Thread-safe.
  std::optional<std::string> reserve(const trace::HandshakeRecord& record);
  // Queues a kept connection's transcript (transcript.path from reserve). Thread-safe, never
  // blocks: when the queue is full the capture is dropped, and said so once.
  void submit(trace::Transcript transcript);
  // Writes what is queued, then stops the thread.
  void close();

  std::uint64_t written() const { return written_.load(); }

 private:
  void run();
  void say_once(std::atomic<bool>& said, const std::string& what);

  const std::string dir_;
  const CaptureMode mode_;
  const std::uint64_t max_bytes_;
  std::atomic<std::uint64_t> reserved_bytes_{0};  // payload promised to files so far
  std::atomic<std::uint64_t> written_{0};          // files written
  std::atomic<bool> said_full_{false}, said_queue_{false}, said_error_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<trace::Transcript> queue_;
  bool closing_ = false;
  std::thread thread_;
};

// DIR/<UTC time>_<conn>_<sni or ip>.pcap, the name reduced to [A-Za-z0-9.-] (at most 64 bytes).
std::string capture_file_name(const std::string& dir, const trace::HandshakeRecord& record);

}  // namespace tlsglass::capture
