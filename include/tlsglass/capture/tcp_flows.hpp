// Captured frames in, per-connection ordered byte streams out: the read side of capture/.
//
// decode_frame() takes one frame of a link type libpcap names (Ethernet with 802.1Q/QinQ VLAN
// tags or PPPoE, Linux cooked SLL and SLL2, raw IP, BSD loopback) down to a TCP segment over
// IPv4 or IPv6 (with extension headers; IP-in-IP tunnels give the inner connection).
// FlowTracker groups segments into connections and reassembles each direction by sequence
// number, handing the bytes to FlowEvents in order, once - the same calls a live proxy makes
// to trace::Session for its reads. Pure: no I/O, no libpcap; every buffer is bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlsglass/capture/ip_address.hpp"
#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::capture {

// TCP header flags (RFC 9293 §3.1).
namespace tcp_flag {
inline constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10;
}

// One frame decoded down to TCP. `payload` views the caller's frame buffer.
struct TcpSegment {
  trace::Timestamp at{};
  SocketAddress source, destination;  // addresses as the IP header has them (text: ip.text())
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  std::uint8_t ttl = 0;                 // IPv4 TTL or IPv6 hop limit
  std::optional<std::uint16_t> ip_id;   // IPv4 only
  tls::Bytes payload;                   // the captured payload bytes
  // The payload's length per the IP header: the sequence space the segment covers. More than
  // payload.size() when the capture cut the frame (snaplen); the tracker reports the cut
  // bytes as a gap.
  std::uint32_t payload_length = 0;
};

// Why a frame was not a TCP segment we can use. `not_tcp` (ARP, UDP, ICMP...) is normal
// traffic, not an error; the others mean the frame is damaged or of a kind we do not read.
enum class FrameSkip : std::uint8_t {
  not_tcp,
  truncated,          // headers cut short (snaplen) or inconsistent (a damaged length field);
                      // a cut in the payload still gives a segment (see payload_length)
  ip_fragment,        // an IPv4/IPv6 fragment, even the first (not reassembled)
  unsupported,        // e.g. an unknown ethertype inside a known link type
};
std::string_view frame_skip_name(FrameSkip skip);

struct DecodedFrame {
  std::optional<TcpSegment> segment;
  FrameSkip skip = FrameSkip::not_tcp;  // meaningful when !segment
};

// Link types (pcap LINKTYPE_* values, and the DLT_RAW values 12 and 14 that pcap_datalink()
// returns for LINKTYPE_RAW) decode_frame reads.
bool link_type_supported(int link_type);
DecodedFrame decode_frame(int link_type, tls::Bytes frame, trace::Timestamp at);

// What a capture shows about a reset, for the verdict's "injected: likely" (DESIGN.md
// reset_mid_handshake). Filled by the tracker; judged by it too (signs are plain sentences).
struct ResetFacts {
  trace::Side by = trace::Side::server;
  bool ack_flag = false;                   // an endpoint's RST in a connection carries ACK
  // The server had acknowledged the end of the client's first payload segment (the
  // ClientHello, usually) - by an earlier packet, or by its own RST's ACK field. True when
  // the client had sent no payload.
  bool hello_acknowledged = true;
  // This RST's TTL and IP ID vs those of that side's last packet before it (RSTs aside).
  std::optional<std::uint8_t> ttl, earlier_ttl;
  std::optional<std::uint16_t> ip_id, earlier_ip_id;
  std::uint32_t seq = 0;                   // the RST's sequence number
  // RSTs with this sequence number, counting the first and those beyond what the peer's
  // packets since could have drawn: a stack that lost the connection answers each packet
  // with one RST; a burst of more is an injector's.
  std::uint32_t resets_with_same_seq = 1;
  // Sentences like "the RST has no ACK flag", "TTL 64 where the server's packets had 52";
  // non-empty means the reset was likely injected by a middlebox. Judged whatever the stage
  // (rules in src/capture/reset_evidence.cpp): they matter for a reset mid-handshake; after a
  // completed handshake a stack's RST on exit is normal, and a middlebox's is harmless.
  std::vector<std::string> injected_signs;
};

using FlowId = std::uint64_t;

struct FlowInfo {
  trace::Endpoint client, server;
  bool saw_syn = false;        // false: the capture started mid-connection
  bool client_guessed = false; // neither a SYN nor a hello told: the higher port is the client
};

// The consumer of reassembled streams (the replay driver). Calls for one flow come in capture
// order: start, then payload/gap/close in the order the bytes became contiguous, then end.
class FlowEvents {
 public:
  virtual ~FlowEvents() = default;
  // Called once the client is known (at the SYN, else at the first payload or close); `at`
  // is the time of the flow's first packet even when the call comes later.
  virtual void on_flow_start(FlowId flow, const FlowInfo& info, trace::Timestamp at) = 0;
  // New contiguous bytes of one direction (each byte delivered once; one call per segment, or
  // per run of segments an arriving segment made contiguous). Return false when the consumer
  // needs no more payload of this flow: the tracker then stops buffering it (flags and
  // resets are still tracked).
  virtual bool on_payload(FlowId flow, trace::Side from, tls::Bytes bytes, trace::Timestamp at) = 0;
  // Bytes of one direction missing from the capture (never filled in): `missing` bytes
  // between what was delivered and the next bytes delivered - or, when the flow ends or that
  // side resets, before its FIN or the end of what the peer acknowledged.
  virtual void on_gap(FlowId flow, trace::Side from, std::uint64_t missing, trace::Timestamp at) = 0;
  // A FIN (delivered after all bytes before it) or an RST (at once - after what that side
  // had sent before it, holes reported as gaps - with what the capture says about it). At
  // most one FIN and one RST per side: a side that sent a FIN may still reset later; later
  // RSTs of a side come through on_reset_repeated.
  virtual void on_close(FlowId flow, trace::Side by, trace::CloseKind kind, trace::Timestamp at,
                        const ResetFacts* reset) = 0;
  // Retransmissions of the client's first payload segment that the server never
  // acknowledged (a silent drop): reported once per flow, when the flow ends. `first` is when
  // the segment was first sent, `last` its last retransmission.
  virtual void on_unacknowledged_hello(FlowId flow, std::uint32_t retransmissions,
                                       trace::Timestamp first, trace::Timestamp last) = 0;
  // Optional. Another RST from a side that already reset, with the sequence number of its
  // first and not an answer to a packet of the peer (see resets_with_same_seq): `reset` is
  // that first RST's facts with resets_with_same_seq counted up and the injected_signs judged
  // again (several RSTs with one sequence number is itself a sign).
  virtual void on_reset_repeated(FlowId flow, const ResetFacts& reset, trace::Timestamp at) {
    (void)flow, (void)reset, (void)at;
  }
  // Optional. A copy of bytes already held or delivered arrived with different content; the
  // first copy was kept. `offset` is where the differing bytes start in that direction's
  // stream (0 = its first byte), `length` how far they reach. At most
  // FlowLimits::max_overlap_conflicts calls per flow; TrackerStats counts them all.
  virtual void on_overlap_conflict(FlowId flow, trace::Side from, std::uint64_t offset,
                                   std::uint64_t length, trace::Timestamp at) {
    (void)flow, (void)from, (void)offset, (void)length, (void)at;
  }
  // The flow is over: end of capture, or its 4-tuple was reused by a new connection, or the
  // tracker had to evict it (`evicted`). No more calls for `flow` after this.
  virtual void on_flow_end(FlowId flow, trace::Timestamp at, bool evicted) = 0;
};

struct FlowLimits {
  std::size_t max_flows = 65536;  // live flows (0: no limit); the least recently seen is evicted
  std::size_t max_out_of_order = 256 * 1024;     // bytes held per direction ahead of a hole
  std::size_t max_out_of_order_segments = 4096;  // segments held per direction ahead of a hole
  std::size_t max_overlap_conflicts = 16;        // on_overlap_conflict calls per flow
  // Delivered bytes kept per direction (since its last gap) so that a late retransmission can
  // be compared with the copy already delivered; older retransmissions are dropped unchecked.
  std::size_t overlap_check_bytes = 4096;
};

struct TrackerStats {
  std::uint64_t segments = 0, flows = 0, evicted = 0, conflicting_overlaps = 0, gaps = 0;
};

class FlowTracker {
 public:
  explicit FlowTracker(FlowEvents& events, FlowLimits limits = {});
  ~FlowTracker();
  FlowTracker(const FlowTracker&) = delete;
  FlowTracker& operator=(const FlowTracker&) = delete;

  void on_segment(const TcpSegment& segment);
  // End of the capture: deliver what can be delivered (bytes after a hole as a gap), report
  // unacknowledged hellos, end every flow - in the order the flows started.
  void finish(trace::Timestamp at);
  const TrackerStats& stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsglass::capture
