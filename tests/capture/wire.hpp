// Test-only packet building, field by field as the RFCs lay the headers out. Deliberately
// separate from the code under test (nothing here is shared with src/capture/), and small
// enough to check by eye against the RFC diagrams cited at each function.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace wire {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(Bytes& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}
inline Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// RFC 1071 Internet checksum (our decoder does not check it; real captures have it right).
inline std::uint16_t checksum(const Bytes& bytes) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) sum += bytes[i] << 8 | bytes[i + 1];
  if (bytes.size() % 2) sum += bytes.back() << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// RFC 9293 §3.1 Figure 1: ports, sequence number, acknowledgment number, data offset (4
// bits, in 32-bit words) + reserved (4 bits), flags (CWR ECE URG ACK PSH RST SYN FIN),
// window, checksum, urgent pointer, options (padded by the caller to 4-byte multiples).
inline Bytes tcp(std::uint16_t sport, std::uint16_t dport, std::uint32_t seq, std::uint32_t ack,
                 std::uint8_t flags, const Bytes& payload = {}, const Bytes& options = {}) {
  Bytes out;
  put16(out, sport);
  put16(out, dport);
  put32(out, seq);
  put32(out, ack);
  out.push_back(static_cast<std::uint8_t>(((20 + options.size()) / 4) << 4));
  out.push_back(flags);
  put16(out, 65535);  // window
  put16(out, 0);      // checksum (not computed: it needs the pseudo-header)
  put16(out, 0);      // urgent pointer
  out.insert(out.end(), options.begin(), options.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// RFC 791 §3.1: version 4 + IHL (32-bit words), TOS, total length, identification,
// flags (reserved, DF 0x4000, MF 0x2000) + fragment offset (8-byte units), TTL, protocol,
// header checksum, source, destination, options.
struct Ipv4 {
  std::array<std::uint8_t, 4> source{192, 0, 2, 1}, destination{198, 51, 100, 2};
  std::uint8_t ttl = 64, protocol = 6;
  std::uint16_t id = 0x1234, flags_fragment = 0x4000;  // DF
  Bytes options;                                       // a multiple of 4 bytes
  std::optional<std::uint16_t> total_length;           // default: header + payload
};
inline Bytes ipv4(const Ipv4& f, const Bytes& payload) {
  Bytes out;
  const std::size_t header = 20 + f.options.size();
  out.push_back(static_cast<std::uint8_t>(0x40 | header / 4));
  out.push_back(0);
  put16(out, f.total_length.value_or(static_cast<std::uint16_t>(header + payload.size())));
  put16(out, f.id);
  put16(out, f.flags_fragment);
  out.push_back(f.ttl);
  out.push_back(f.protocol);
  put16(out, 0);
  out.insert(out.end(), f.source.begin(), f.source.end());
  out.insert(out.end(), f.destination.begin(), f.destination.end());
  out.insert(out.end(), f.options.begin(), f.options.end());
  const std::uint16_t sum = checksum(out);
  out[10] = static_cast<std::uint8_t>(sum >> 8);
  out[11] = static_cast<std::uint8_t>(sum);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// RFC 8200 §3: version 6 + traffic class + flow label (4 bytes), payload length, next
// header, hop limit, source (16), destination (16). `payload` includes extension headers.
inline Bytes ipv6(std::uint8_t next_header, const Bytes& payload, std::uint8_t hop_limit = 64,
                  std::optional<std::uint16_t> payload_length = {}) {
  Bytes out{0x60, 0x00, 0x00, 0x00};
  put16(out, payload_length.value_or(static_cast<std::uint16_t>(payload.size())));
  out.push_back(next_header);
  out.push_back(hop_limit);
  const Bytes source{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};  // 2001:db8::1
  const Bytes destination{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
  out.insert(out.end(), source.begin(), source.end());
  out.insert(out.end(), destination.begin(), destination.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// IEEE 802.3 Ethernet II: destination MAC, source MAC, EtherType.
inline Bytes ethernet(std::uint16_t type, const Bytes& payload) {
  Bytes out{0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  put16(out, type);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// IEEE 802.1Q tag: TPID (0x8100, or 0x88a8 for an 802.1ad service tag), then TCI (PCP 3
// bits, DEI 1 bit, VLAN ID 12 bits); the inner EtherType follows.
inline Bytes vlan_tag(std::uint16_t tpid, std::uint16_t vlan_id) {
  Bytes out;
  put16(out, tpid);
  put16(out, vlan_id & 0x0fff);
  return out;
}

}  // namespace wire
