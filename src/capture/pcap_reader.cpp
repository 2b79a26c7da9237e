#include "tlsglass/capture/pcap_reader.hpp"

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tlsglass::capture {

struct PcapReader::Handle {
  pcap_t* pcap = nullptr;
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
  char message[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, message);
  if (!pcap) {
    error = open_error_words(path, message);
    return nullptr;
  }
  std::unique_ptr<PcapReader> reader(new PcapReader());
  reader->handle_ = std::make_unique<Handle>();
  reader->handle_->pcap = pcap;
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
