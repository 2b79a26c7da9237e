// The state FlowTracker keeps per connection: its key, and per endpoint what it sent (the
// stream being reassembled, SYN and ACK numbers, the first payload segment, the look of its
// packets, its RST). Private to capture/.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "reset_evidence.hpp"
#include "stream_reassembly.hpp"
#include "tlsglass/capture/tcp_flows.hpp"

namespace tlsglass::capture::tracking {

using trace::Side;
using trace::Timestamp;

// a is at or after b in sequence space (RFC 9293 §3.4: comparisons are modulo 2^32).
inline bool seq_at_or_after(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b) >= 0;
}

// Unacknowledged packets of the peer remembered per side (Sender::unanswered).
constexpr std::size_t kMaxUnanswered = 64;

// SYN-ACK initial sequence numbers remembered per side (a server may answer one SYN with
// several, see Sender::syn_ack_isns).
constexpr std::size_t kMaxSynAckIsns = 4;

// Where the peer's unanswered packets end, oldest first, at most kMaxUnanswered (the oldest
// gives way). In the flow itself, not on the heap as a deque's blocks would be: a connection
// has one of these per side, and most hold one or two entries.
class UnansweredEnds {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  void push_back(std::uint32_t end) {
    if (size_ == kMaxUnanswered) pop_front();
    ends_[size_++] = end;
  }
  void pop_front() {
    if (size_ == 0) return;
    std::copy(ends_.begin() + 1, ends_.begin() + size_, ends_.begin());
    --size_;
  }
  // Drops the ends `answered` says an ACK covers, keeping the order of the others.
  template <typename Answered>
  void erase_if(Answered answered) {
    size_ = static_cast<std::size_t>(
        std::remove_if(ends_.begin(), ends_.begin() + size_, answered) - ends_.begin());
  }

 private:
  std::array<std::uint32_t, kMaxUnanswered> ends_{};
  std::size_t size_ = 0;
};

// Both directions of a connection map to one key: the endpoints in a fixed order, as the
// packets carry them (no text: this is looked up for every packet).
struct FlowKey {
  SocketAddress low, high;
  bool operator==(const FlowKey&) const = default;
};

inline FlowKey key_of(const SocketAddress& a, const SocketAddress& b) {
  return a <= b ? FlowKey{a, b} : FlowKey{b, a};
}

// The first segment with payload a side sent, and how often it was sent again.
struct FirstPayload {
  std::uint32_t seq = 0, length = 0;
  Timestamp at{}, last_retransmission{};
  std::uint32_t retransmissions = 0;
  bool on_syn = false;  // TCP Fast Open data, void if the SYN-ACK refuses it
  std::uint32_t end() const { return seq + length; }
};

// One endpoint of a flow, and what it sent.
struct Sender {
  Sender(SocketAddress who, StreamReassembly::Limits limits) : endpoint(who), stream(limits) {}
  SocketAddress endpoint;
  StreamReassembly stream;
  PacketLook look;                       // its packets but RSTs
  std::optional<std::uint32_t> syn_isn;  // its SYN (without ACK)
  // Its SYN-ACKs: a server may answer with more than one initial sequence number (after a
  // TCP Fast Open SYN, say); the client's ACK tells which one the connection uses.
  std::vector<std::uint32_t> syn_ack_isns;
  std::optional<std::uint32_t> syn_ack_ack;  // what its SYN-ACK acknowledged
  std::optional<std::uint32_t> highest_ack;  // from its packets but RSTs
  std::optional<FirstPayload> first_payload;
  bool sent_fin = false;
  // Where the peer's packets that this side has not acknowledged end (in the peer's sequence
  // space; oldest first): each may draw one RST from a stack that no longer has the
  // connection, so an RST beyond those is unprompted.
  UnansweredEnds unanswered;
  std::optional<std::uint32_t> highest_end;  // past its last sequence number seen, RSTs aside
  std::optional<ResetFacts> reset;           // its first RST

  bool acknowledged(std::uint32_t seq) const {
    return highest_ack && seq_at_or_after(*highest_ack, seq);
  }
};

struct PendingConflict {
  std::size_t sender = 0;
  std::uint64_t offset = 0, length = 0;
  Timestamp at{};
};

struct Flow {
  Flow(FlowKey flow_key, const TcpSegment& first, std::uint64_t order,
       StreamReassembly::Limits limits)
      : key(std::move(flow_key)),
        senders{Sender(first.source, limits), Sender(first.destination, limits)},
        first_seen(first.at),
        created(order) {}

  FlowKey key;
  std::array<Sender, 2> senders;      // [0]: the source of the flow's first packet
  std::optional<std::size_t> client;  // index into senders, once known
  FlowInfo info;
  bool started = false;
  FlowId id = 0;
  Timestamp first_seen;
  std::uint64_t created;
  bool payload_wanted = true, payload_stopped = false;
  bool closed = false;  // FIN both ways, or an RST: a new SYN is a new connection
  std::uint32_t conflicts_reported = 0;
  std::vector<PendingConflict> pending_conflicts;  // found before the start
  Flow* newer = nullptr;  // neighbours in the tracker's RecencyList
  Flow* older = nullptr;

  std::size_t index_of(const SocketAddress& source) const {
    return senders[0].endpoint == source ? 0 : 1;
  }
  Side side_of(std::size_t index) const { return index == *client ? Side::client : Side::server; }
};

// The flows, most recently seen first: the oldest is the one evicted. Linked through the flows
// themselves - touched at every packet, so no list nodes of its own to allocate and chase.
class RecencyList {
 public:
  bool empty() const { return newest_ == nullptr; }
  Flow* oldest() const { return oldest_; }
  void push_front(Flow& flow) {
    flow.older = newest_;
    flow.newer = nullptr;
    (newest_ ? newest_->newer : oldest_) = &flow;
    newest_ = &flow;
  }
  void remove(Flow& flow) {
    (flow.newer ? flow.newer->older : newest_) = flow.older;
    (flow.older ? flow.older->newer : oldest_) = flow.newer;
    flow.newer = flow.older = nullptr;
  }
  void move_to_front(Flow& flow) {
    if (newest_ == &flow) return;
    remove(flow);
    push_front(flow);
  }
  void clear() { newest_ = oldest_ = nullptr; }

 private:
  Flow* newest_ = nullptr;
  Flow* oldest_ = nullptr;
};

}  // namespace tlsglass::capture::tracking
