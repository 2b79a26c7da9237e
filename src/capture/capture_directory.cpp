#include "tlsglass/capture/capture_directory.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tlsglass/capture/pcap_writer.hpp"

namespace tlsglass::capture {

namespace {

constexpr std::size_t kMaxNameBytes = 64;

std::string file_safe(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (out.size() == kMaxNameBytes) break;
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-';
    out += keep ? c : '_';
  }
  return out;
}

}  // namespace

std::string capture_file_name(const std::string& dir, const trace::HandshakeRecord& record) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(record.timestamp);
  const auto micros = (record.timestamp - seconds).count();
  std::string who = record.client.server_name.value_or(
      record.destination ? record.destination->ip : record.destination_domain.value_or("unknown"));
  // The UTC time (fmt 9 formats a system_clock time in local time).
  return fmt::format("{}/{:%Y%m%dT%H%M%S}.{:06d}Z_{}_{}.pcap", dir,
                     fmt::gmtime(std::chrono::system_clock::to_time_t(seconds)), micros,
                     record.conn, file_safe(who));
}

std::unique_ptr<CaptureDirectory> CaptureDirectory::open(const std::string& dir, CaptureMode mode,
                                                         std::uint64_t max_bytes,
                                                         std::string& error) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = fmt::format("--capture-dir {}: {}", dir, std::strerror(errno));
    return nullptr;
  }
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    error = fmt::format("--capture-dir {}: not a directory", dir);
    return nullptr;
  }
  return std::make_unique<CaptureDirectory>(dir, mode, max_bytes);
}

CaptureDirectory::CaptureDirectory(std::string dir, CaptureMode mode, std::uint64_t max_bytes)
    : dir_(std::move(dir)), mode_(mode), max_bytes_(max_bytes) {
  thread_ = std::thread([this] { run(); });
}

CaptureDirectory::~CaptureDirectory() { close(); }

std::optional<std::string> CaptureDirectory::reserve(const trace::HandshakeRecord& record) {
  if (mode_ == CaptureMode::none) return std::nullopt;
  if (mode_ == CaptureMode::failed && record.cause == trace::Cause::ok) return std::nullopt;
  // What the connection moved so far, as an estimate of its file; the transcript's own cap
  // bounds the rest.
  const std::uint64_t estimate = record.bytes_client + record.bytes_server + 1024;
  if (reserved_bytes_.fetch_add(estimate) + estimate > max_bytes_) {
    reserved_bytes_.fetch_sub(estimate);
    say_once(said_full_, fmt::format("capture directory budget ({} bytes) spent: no more "
                                     "captures (the proxy goes on)",
                                     max_bytes_));
    return std::nullopt;
  }
  return capture_file_name(dir_, record);
}

void CaptureDirectory::submit(trace::Transcript transcript) {
  {
    std::lock_guard lock(mutex_);
    if (closing_ || queue_.size() >= kMaxQueued) {
      say_once(said_queue_, "captures are written more slowly than connections end: some dropped");
      return;
    }
    queue_.push_back(std::move(transcript));
  }
  wake_.notify_one();
}

void CaptureDirectory::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CaptureDirectory::say_once(std::atomic<bool>& said, const std::string& what) {
  if (said.exchange(true)) return;
  std::fprintf(stderr, "tlsglass: %s\n", what.c_str());
}

void CaptureDirectory::run() {
  for (;;) {
    trace::Transcript transcript;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      transcript = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string error;
    if (write_pcap(transcript, transcript.path, error)) {
      written_.fetch_add(1);
    } else {
      say_once(said_error_, error);
    }
  }
}

}  // namespace tlsglass::capture
