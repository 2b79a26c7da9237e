#include "tlsglass/capture/pcap_reader.hpp"

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tlsglass::capture {

// The file is read through stdio with a larger buffer than its default (the file system's
// block, 4 KiB): a read system call per 4 KiB was a tenth of a replay.
constexpr std::size_t kReadBuffer = 1 << 20;

struct PcapReader::Handle {
  std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(kReadBuffer);
  pcap_t* pcap = nullptr;  // owns the FILE: pcap_close closes it, before `buffer` goes
  ~Handle() {
    if (pcap) pcap_close(pcap);
  }
};

namespace {

// libpcap's messages name the file and the detail; a user wants the gist first.
std::string open_error_words(const std::string& path, const char* message) {
  const std::string text = message;
  if (text.find("unknown file format") != std::string::npos ||
      text.find("bad dump file format") != std::string::npos)
    return "not a pcap or pcapng file";
  if (text.find("truncated") != std::string::npos) return "the file is truncated (" + text + ")";
  if (text.find(path) != std::string::npos && text.find(": ") != std::string::npos)
    return text.substr(text.rfind(": ") + 2);  // "No such file or directory"
  return text;
}

}  // namespace

std::unique_ptr<PcapReader> PcapReader::open(const std::string& path, std::string& error) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    error = std::strerror(errno);
    return nullptr;
  }
  if (S_ISDIR(info.st_mode)) {
    error = "is a directory";
    return nullptr;
  }
  // What pcap_open_offline does, with our buffer on the FILE.
  FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    error = std::strerror(errno);
    return nullptr;
  }
  auto handle = std::make_unique<Handle>();
  std::setvbuf(file, handle->buffer.get(), _IOFBF, kReadBuffer);
  char message[PCAP_ERRBUF_SIZE] = {};
  handle->pcap = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, message);
  if (!handle->pcap) {
    std::fclose(file);  // not pcap's on failure
    error = open_error_words(path, message);
    return nullptr;
  }
  std::unique_ptr<PcapReader> reader(new PcapReader());
  reader->handle_ = std::move(handle);
  reader->size_ = static_cast<std::uint64_t>(info.st_size);
  return reader;
}

PcapReader::~PcapReader() = default;

int PcapReader::link_type() const { return pcap_datalink(handle_->pcap); }

std::string PcapReader::link_type_name() const {
  const char* name = pcap_datalink_val_to_name(link_type());
  return name ? name : fmt::format("link type {}", link_type());
}

std::optional<CapturedFrame> PcapReader::next() {
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int status = pcap_next_ex(handle_->pcap, &header, &data);
  if (status == 1) {
    CapturedFrame frame;
    frame.at = trace::Timestamp(std::chrono::seconds(header->ts.tv_sec) +
                                std::chrono::microseconds(header->ts.tv_usec));
    frame.bytes = tls::Bytes(data, header->caplen);
    frame.original_length = header->len;
    return frame;
  }
  if (status == PCAP_ERROR) {
    const std::string text = pcap_geterr(handle_->pcap);
    error_ = text.find("truncated") != std::string::npos
                 ? fmt::format("the file is truncated mid-packet ({})", text)
                 : text;
  }
  return std::nullopt;  // PCAP_ERROR_BREAK: end of file
}

std::uint64_t PcapReader::position() const {
  FILE* file = pcap_file(handle_->pcap);
  if (!file) return 0;
  const long at = std::ftell(file);
  return at < 0 ? 0 : static_cast<std::uint64_t>(at);
}

}  // namespace tlsglass::capture
