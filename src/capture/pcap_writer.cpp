#include "tlsglass/capture/pcap_writer.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tlsglass::capture {

namespace {

using trace::Side;
using trace::TranscriptEvent;

constexpr std::size_t kEthernet = 14, kIpv4 = 20, kIpv6 = 40, kTcp = 20;
// One TCP segment carries at most this much: an IPv4 total length is 16 bits.
constexpr std::size_t kMaxSegment = 65535 - kIpv4 - kTcp;
constexpr std::uint32_t kClientIsn = 0x10000000, kServerIsn = 0x20000000;
constexpr std::uint16_t kWindow = 65535;

namespace flag {
constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10;
}

void put16(std::vector<std::uint8_t>& out, std::size_t at, std::uint16_t v) {
  out[at] = static_cast<std::uint8_t>(v >> 8);
  out[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(std::vector<std::uint8_t>& out, std::size_t at, std::uint32_t v) {
  put16(out, at, static_cast<std::uint16_t>(v >> 16));
  put16(out, at + 2, static_cast<std::uint16_t>(v));
}

// RFC 1071 ones' complement sum.
std::uint32_t sum16(const std::uint8_t* data, std::size_t n, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
  if (n % 2) sum += static_cast<std::uint32_t>(data[n - 1] << 8);
  return sum;
}
std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// An address as the wire has it: 4 or 16 bytes.
struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};

Address address_of(const std::string& ip) {
  Address out;
  if (inet_pton(AF_INET, ip.c_str(), out.bytes.data()) == 1) return out;
  if (inet_pton(AF_INET6, ip.c_str(), out.bytes.data()) == 1) {
    out.v6 = true;
    return out;
  }
  // Not an address (should not happen for a proxied connection): a documentation one.
  inet_pton(AF_INET, "192.0.2.1", out.bytes.data());
  return out;
}

class Synthesizer {
 public:
  explicit Synthesizer(const trace::Transcript& transcript)
      : client_(address_of(transcript.client.ip)),
        server_(address_of(transcript.server.ip)),
        client_port_(transcript.client.port),
        server_port_(transcript.server.port) {
    // Both ends in one family: an IPv4 client of an IPv6 server shows as IPv4-mapped.
    if (client_.v6 != server_.v6) {
      for (Address* a : {&client_, &server_}) {
        if (a->v6) continue;
        std::array<std::uint8_t, 16> mapped{};
        mapped[10] = mapped[11] = 0xff;
        std::memcpy(mapped.data() + 12, a->bytes.data(), 4);
        a->bytes = mapped;
        a->v6 = true;
      }
    }
  }

  void segment(trace::Timestamp at, Side from, std::uint8_t flags,
               const std::uint8_t* payload = nullptr, std::size_t length = 0) {
    const bool v6 = client_.v6;
    const std::size_t ip_header = v6 ? kIpv6 : kIpv4;
    Frame frame;
    frame.at = at;
    std::vector<std::uint8_t>& b = frame.bytes;
    b.assign(kEthernet + ip_header + kTcp + length, 0);
    // Ethernet: locally administered MACs, 02:..:01 the client, 02:..:02 the server.
    const std::uint8_t src_mac = from == Side::client ? 1 : 2;
    b[0] = 0x02, b[5] = static_cast<std::uint8_t>(3 - src_mac);
    b[6] = 0x02, b[11] = src_mac;
    put16(b, 12, v6 ? 0x86dd : 0x0800);
    const Address& src = from == Side::client ? client_ : server_;
    const Address& dst = from == Side::client ? server_ : client_;
    const std::size_t ip = kEthernet;
    const std::size_t tcp_length = kTcp + length;
    if (v6) {
      b[ip] = 0x60;
      put16(b, ip + 4, static_cast<std::uint16_t>(tcp_length));
      b[ip + 6] = 6;  // TCP
      b[ip + 7] = 64;
      std::memcpy(&b[ip + 8], src.bytes.data(), 16);
      std::memcpy(&b[ip + 24], dst.bytes.data(), 16);
    } else {
      b[ip] = 0x45;
      put16(b, ip + 2, static_cast<std::uint16_t>(kIpv4 + tcp_length));
      put16(b, ip + 4, ip_id_[static_cast<int>(from)]++);
      put16(b, ip + 6, 0x4000);  // don't fragment
      b[ip + 8] = 64;
      b[ip + 9] = 6;
      std::memcpy(&b[ip + 12], src.bytes.data(), 4);
      std::memcpy(&b[ip + 16], dst.bytes.data(), 4);
      put16(b, ip + 10, fold(sum16(&b[ip], kIpv4)));
    }
    const std::size_t t = ip + ip_header;
    const int s = static_cast<int>(from);
    put16(b, t, from == Side::client ? client_port_ : server_port_);
    put16(b, t + 2, from == Side::client ? server_port_ : client_port_);
    put32(b, t + 4, next_seq_[s]);
    const bool acks = (flags & flag::ack) != 0;
    put32(b, t + 8, acks ? next_seq_[1 - s] : 0);
    b[t + 12] = 0x50;  // data offset: 5 words
    b[t + 13] = flags;
    put16(b, t + 14, kWindow);
    if (length) std::memcpy(&b[t + kTcp], payload, length);
    // Pseudo-header (RFC 793 / RFC 8200 §8.1), then the segment.
    std::uint32_t sum = 0;
    if (v6) {
      sum = sum16(src.bytes.data(), 16, sum);
      sum = sum16(dst.bytes.data(), 16, sum);
      sum += static_cast<std::uint32_t>(tcp_length) + 6;
    } else {
      sum = sum16(src.bytes.data(), 4, sum);
      sum = sum16(dst.bytes.data(), 4, sum);
      sum += 6 + static_cast<std::uint32_t>(tcp_length);
    }
    put16(b, t + 16, fold(sum16(&b[t], tcp_length, sum)));
    next_seq_[s] += static_cast<std::uint32_t>(length) + ((flags & (flag::syn | flag::fin)) ? 1 : 0);
    frames_.push_back(std::move(frame));
  }

  std::vector<Frame> take() { return std::move(frames_); }

 private:
  Address client_, server_;
  std::uint16_t client_port_, server_port_;
  std::array<std::uint32_t, 2> next_seq_{kClientIsn, kServerIsn};
  std::array<std::uint16_t, 2> ip_id_{0x1000, 0x2000};
  std::vector<Frame> frames_;
};

}  // namespace

std::vector<Frame> synthesize_frames(const trace::Transcript& transcript) {
  Synthesizer out(transcript);
  const trace::Timestamp t0 = transcript.opened;
  out.segment(t0, Side::client, flag::syn);
  out.segment(t0, Side::server, flag::syn | flag::ack);
  out.segment(t0, Side::client, flag::ack);
  std::array<bool, 2> closed{false, false};
  for (const TranscriptEvent& event : transcript.events) {
    const int side = static_cast<int>(event.from);
    if (closed[side]) continue;  // nothing follows a side's FIN or RST on the wire
    switch (event.kind) {
      case TranscriptEvent::Kind::data:
        for (std::size_t at = 0; at < event.bytes.size(); at += kMaxSegment) {
          const std::size_t n = std::min(kMaxSegment, event.bytes.size() - at);
          out.segment(event.at, event.from, flag::psh | flag::ack, event.bytes.data() + at, n);
        }
        break;
      case TranscriptEvent::Kind::fin:
        out.segment(event.at, event.from, flag::fin | flag::ack);
        closed[side] = true;
        break;
      case TranscriptEvent::Kind::rst:
        out.segment(event.at, event.from, flag::rst | flag::ack);
        closed[0] = closed[1] = true;  // an RST ends both directions
        break;
    }
  }
  return out.take();
}

bool write_pcap(const trace::Transcript& transcript, const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = fmt::format("cannot create {}: {}", path, std::strerror(errno));
    return false;
  }
  FILE* file = fdopen(fd, "wb");
  if (!file) {
    error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
    ::close(fd);
    return false;
  }
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 262144, PCAP_TSTAMP_PRECISION_MICRO);
  pcap_dumper_t* dumper = dead ? pcap_dump_fopen(dead, file) : nullptr;
  if (!dumper) {
    error = fmt::format("cannot write {}: {}", path, dead ? pcap_geterr(dead) : "libpcap");
    if (dead) pcap_close(dead);
    std::fclose(file);
    return false;
  }
  for (const Frame& frame : synthesize_frames(transcript)) {
    pcap_pkthdr header{};
    const auto micros = frame.at.time_since_epoch().count();
    header.ts.tv_sec = static_cast<time_t>(micros / 1000000);
    header.ts.tv_usec = static_cast<suseconds_t>(micros % 1000000);
    header.caplen = header.len = static_cast<bpf_u_int32>(frame.bytes.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.bytes.data());
  }
  // Flushed and closed here: a capture is complete on disk before the next one starts, and
  // survives a kill -9 of the proxy afterwards.
  const bool flushed = pcap_dump_flush(dumper) == 0;
  pcap_dump_close(dumper);  // closes `file`
  pcap_close(dead);
  if (!flushed) error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
  return flushed;
}

}  // namespace tlsglass::capture
