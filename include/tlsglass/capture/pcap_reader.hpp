// Reading a capture file (pcap or pcapng) frame by frame through libpcap.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::capture {

struct CapturedFrame {
  trace::Timestamp at{};
  tls::Bytes bytes;  // valid until the next call to next()
  std::uint32_t original_length = 0;  // on the wire; more than bytes.size() when snaplen cut it
};

class PcapReader {
 public:
  // Opens `path`; on failure returns nullptr and sets `error` to a one-line reason
  // ("not a pcap or pcapng file", "truncated", the OS error...).
  static std::unique_ptr<PcapReader> open(const std::string& path, std::string& error);
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  int link_type() const;
  std::string link_type_name() const;  // "EN10MB", "LINUX_SLL2", ...
  // The next frame, or nullopt at the end of the file or on an error (then error() is set:
  // a file cut short mid-record says so).
  std::optional<CapturedFrame> next();
  const std::string& error() const { return error_; }
  // How far into the file the reader is, and its size, for a progress bar.
  std::uint64_t position() const;
  std::uint64_t size() const { return size_; }

 private:
  PcapReader() = default;
  struct Handle;
  std::unique_ptr<Handle> handle_;
  std::string error_;
  std::uint64_t size_ = 0;
};

}  // namespace tlsglass::capture
