// FlowTracker: TCP segments in, one flow per connection out (state in flow_state.hpp), each
// direction reassembled by StreamReassembly, resets judged by reset_evidence, the client
// found by client_side.
#include <algorithm>

#include "client_side.hpp"
#include "flow_state.hpp"
#include "flow_table.hpp"
#include "tlsglass/capture/tcp_flows.hpp"

namespace tlsglass::capture {

using trace::CloseKind;
using trace::Timestamp;
using namespace tracking;

class FlowTracker::Impl {
 public:
  Impl(FlowEvents& events, FlowLimits limits) : events_(events), limits_(limits) {}

  void on_segment(const TcpSegment& segment);
  void finish(Timestamp at);
  const TrackerStats& stats() const { return stats_; }

 private:
  // StreamReassembly's output for one side of one flow, at the time of the current event.
  class SenderSink final : public StreamReassembly::Sink {
   public:
    SenderSink(Impl& impl, Flow& flow, std::size_t index, Timestamp now)
        : impl_(impl), flow_(flow), index_(index), now_(now) {}
    bool bytes(tls::Bytes bytes) override {
      if (!impl_.events_.on_payload(flow_.id, flow_.side_of(index_), bytes, now_)) {
        flow_.payload_wanted = false;
      }
      return flow_.payload_wanted;
    }
    void gap(std::uint64_t missing) override {
      ++impl_.stats_.gaps;
      impl_.events_.on_gap(flow_.id, flow_.side_of(index_), missing, now_);
    }
    void fin() override {
      impl_.events_.on_close(flow_.id, flow_.side_of(index_), CloseKind::fin, now_, nullptr);
    }
    void conflict(std::uint64_t offset, std::uint64_t length) override {
      impl_.note_conflict(flow_, {index_, offset, length, now_});
    }

   private:
    Impl& impl_;
    Flow& flow_;
    std::size_t index_;
    Timestamp now_;
  };

  StreamReassembly::Limits stream_limits() const {
    return {limits_.max_out_of_order, limits_.max_out_of_order_segments,
            limits_.overlap_check_bytes};
  }
  bool starts_new_connection(const Flow& flow, const TcpSegment& segment) const;
  Flow& create(FlowKey key, const TcpSegment& segment);
  void process(Flow& flow, const TcpSegment& segment);
  void handle_syn(Flow& flow, std::size_t index, const TcpSegment& segment);
  static void note_answerable(Sender& me, Sender& peer, const TcpSegment& segment);
  void note_payload(Flow& flow, std::size_t index, std::uint32_t data_seq,
                    const TcpSegment& segment);
  void resolve_syn_data(Flow& flow, std::size_t client_index, std::uint32_t syn_ack_ack);
  void try_start(Flow& flow, bool forced);
  void start(Flow& flow, std::size_t client, bool guessed);
  void deliver(Flow& flow, std::size_t first, Timestamp now);
  void apply_payload_wanted(Flow& flow);
  void handle_reset(Flow& flow, std::size_t index, const TcpSegment& segment);
  bool hello_acknowledged(const Flow& flow, std::optional<std::uint32_t> rst_ack) const;
  ResetContext reset_context(const Flow& flow, std::size_t index, std::uint32_t rst_seq) const;
  void note_conflict(Flow& flow, PendingConflict conflict);
  void report_conflict(Flow& flow, const PendingConflict& conflict);
  void end_flow(Flow& flow, Timestamp at, bool evicted);
  void erase(Flow& flow);

  FlowEvents& events_;
  FlowLimits limits_;
  TrackerStats stats_;
  FlowTable flows_;
  RecencyList recency_;
  FlowId next_id_ = 1;
  std::uint64_t created_ = 0;
};

void FlowTracker::Impl::on_segment(const TcpSegment& segment) {
  ++stats_.segments;
  FlowKey key = key_of(segment.source, segment.destination);
  Flow* found = flows_.find(key);
  const bool syn_only =
      (segment.flags & (tcp_flag::syn | tcp_flag::ack | tcp_flag::rst)) == tcp_flag::syn;
  if (found && syn_only && starts_new_connection(*found, segment)) {
    end_flow(*found, segment.at, false);
    erase(*found);
    found = nullptr;
  }
  Flow& flow = found ? *found : create(key, segment);
  recency_.move_to_front(flow);
  process(flow, segment);
}

// Port reuse: a SYN on a 4-tuple we know opens a new connection unless it is this flow's SYN
// again (its sender, its initial sequence number, the connection still open).
bool FlowTracker::Impl::starts_new_connection(const Flow& flow, const TcpSegment& segment) const {
  if (flow.closed) return true;
  const std::size_t index = flow.index_of(segment.source);
  const Sender& sender = flow.senders[index];
  if (sender.syn_isn) return *sender.syn_isn != segment.seq;
  // A SYN that arrived after the SYN-ACK answering it (the capture reordered them).
  const Sender& peer = flow.senders[1 - index];
  if (peer.syn_ack_ack && sender.look.packets() == 0) {
    const auto distance = static_cast<std::uint32_t>(*peer.syn_ack_ack - (segment.seq + 1));
    return distance > segment.payload_length;
  }
  return true;  // a flow seen mid-connection: a SYN can only start another
}

Flow& FlowTracker::Impl::create(FlowKey key, const TcpSegment& segment) {
  if (limits_.max_flows > 0 && flows_.size() >= limits_.max_flows && !recency_.empty()) {
    Flow& oldest = *recency_.oldest();
    ++stats_.evicted;
    end_flow(oldest, segment.at, true);
    erase(oldest);
  }
  Flow& flow = flows_.insert(std::make_unique<Flow>(key, segment, created_++, stream_limits()));
  recency_.push_front(flow);
  for (auto& sender : flow.senders) sender.stream.set_holding(true);
  return flow;
}

void FlowTracker::Impl::erase(Flow& flow) {
  recency_.remove(flow);
  flows_.erase(flow);  // destroys `flow`
}

void FlowTracker::Impl::process(Flow& flow, const TcpSegment& segment) {
  const std::size_t index = flow.index_of(segment.source);
  Sender& me = flow.senders[index];
  Sender& peer = flow.senders[1 - index];
  const bool syn = segment.flags & tcp_flag::syn, ack = segment.flags & tcp_flag::ack;
  const bool rst = segment.flags & tcp_flag::rst, fin = segment.flags & tcp_flag::fin;
  if (!rst) note_answerable(me, peer, segment);

  if (syn && !rst) handle_syn(flow, index, segment);
  // The ACK that completes the handshake names the server's initial sequence number the
  // connection goes on with, when its SYN-ACKs offered more than one.
  if (!syn && ack && !rst && !peer.stream.started() && peer.stream.next_seq() != segment.ack &&
      std::count(peer.syn_ack_isns.begin(), peer.syn_ack_isns.end(), segment.ack - 1) > 0) {
    peer.stream.anchor(segment.ack);
  }
  if (!rst && ack) {
    if (!me.highest_ack || seq_at_or_after(segment.ack, *me.highest_ack)) {
      me.highest_ack = segment.ack;
    }
    peer.stream.acknowledged(segment.ack);
  }
  // Without a SYN, a side's stream starts at its first payload or FIN (StreamReassembly
  // anchors there), not at a bare ACK: that may be a keep-alive, one sequence number before
  // where the stream is. RFC 9293 §3.5.3: data on an RST is a diagnostic, not stream bytes.
  const std::uint32_t data_seq = syn ? segment.seq + 1 : segment.seq;
  if (segment.payload_length > 0 && !rst) note_payload(flow, index, data_seq, segment);
  if (fin && !rst) {
    me.sent_fin = true;
    me.stream.add_fin(data_seq + segment.payload_length);
  }
  if (!rst) me.look.note(segment);

  if (!flow.started) try_start(flow, fin || rst);
  if (!flow.started) return;
  deliver(flow, index, segment.at);
  if (rst) handle_reset(flow, index, segment);
  if (rst || (flow.senders[0].sent_fin && flow.senders[1].sent_fin)) flow.closed = true;
}

// A packet (not an RST: RFC 9293 §3.10.7, an RST is never answered) that the peer's stack
// may answer; its ACK answers the packets of the peer it covers.
void FlowTracker::Impl::note_answerable(Sender& me, Sender& peer, const TcpSegment& segment) {
  const bool syn = segment.flags & tcp_flag::syn, fin = segment.flags & tcp_flag::fin;
  const std::uint32_t end = segment.seq + segment.payload_length + (syn ? 1 : 0) + (fin ? 1 : 0);
  if (!me.highest_end || seq_at_or_after(end, *me.highest_end)) me.highest_end = end;
  if (segment.flags & tcp_flag::ack) {
    me.unanswered.erase_if(
        [&](std::uint32_t peer_end) { return seq_at_or_after(segment.ack, peer_end); });
  }
  peer.unanswered.push_back(end);  // the oldest gives way when full
}

void FlowTracker::Impl::handle_syn(Flow& flow, std::size_t index, const TcpSegment& segment) {
  Sender& me = flow.senders[index];
  Sender& peer = flow.senders[1 - index];
  const bool ack = segment.flags & tcp_flag::ack;
  if (!ack) {
    // RFC 9293 §3.4: the SYN takes one sequence number; data starts at ISN + 1.
    if (!me.syn_isn) me.syn_isn = segment.seq;
    if (!me.stream.anchored()) me.stream.anchor(segment.seq + 1);
    flow.info.saw_syn = true;
    if (!flow.client) flow.client = index;
    return;
  }
  if (std::count(me.syn_ack_isns.begin(), me.syn_ack_isns.end(), segment.seq) == 0 &&
      me.syn_ack_isns.size() < kMaxSynAckIsns) {
    me.syn_ack_isns.push_back(segment.seq);
  }
  if (!me.stream.anchored()) me.stream.anchor(segment.seq + 1);
  me.syn_ack_ack = segment.ack;
  // The client's SYN was not captured: what the SYN-ACK acknowledges is where it goes on.
  if (!peer.stream.anchored()) peer.stream.anchor(segment.ack);
  if (!flow.client) flow.client = 1 - index;
  resolve_syn_data(flow, 1 - index, segment.ack);
}

// RFC 7413 §3: the server acknowledges the SYN's data if it took it, or only the SYN (ISN+1),
// and the client then sends the data again as ordinary segments.
void FlowTracker::Impl::resolve_syn_data(Flow& flow, std::size_t client_index,
                                         std::uint32_t syn_ack_ack) {
  Sender& client = flow.senders[client_index];
  if (!client.syn_isn) return;
  if (syn_ack_ack == *client.syn_isn + 1) {
    client.stream.drop_tentative();
    if (client.first_payload && client.first_payload->on_syn) client.first_payload.reset();
  } else {
    client.stream.confirm_tentative();
  }
}

void FlowTracker::Impl::note_payload(Flow& flow, std::size_t index, std::uint32_t data_seq,
                                     const TcpSegment& segment) {
  Sender& me = flow.senders[index];
  const Sender& peer = flow.senders[1 - index];
  const bool on_syn = (segment.flags & (tcp_flag::syn | tcp_flag::ack)) == tcp_flag::syn;
  if (!me.first_payload) {
    me.first_payload =
        FirstPayload{data_seq, segment.payload_length, segment.at, segment.at, 0, on_syn};
  } else if (me.first_payload->seq == data_seq &&
             me.first_payload->length == segment.payload_length &&
             !peer.acknowledged(me.first_payload->end())) {
    ++me.first_payload->retransmissions;
    me.first_payload->last_retransmission = segment.at;
  }
  if (!flow.payload_wanted) return;
  SenderSink sink(*this, flow, index, segment.at);
  me.stream.add(data_seq, segment.payload, segment.payload_length, on_syn, sink);
  // SYN data after the SYN-ACK that settled it (a capture that reordered them).
  if (on_syn && peer.syn_ack_ack) resolve_syn_data(flow, index, *peer.syn_ack_ack);
  apply_payload_wanted(flow);
}

void FlowTracker::Impl::try_start(Flow& flow, bool forced) {
  if (flow.client) {
    start(flow, *flow.client, false);
    return;
  }
  // Mid-connection: the first bytes each side sent, as far as they tell.
  bool decidable = forced;
  for (std::size_t i = 0; i < 2; ++i) {
    const auto opening = flow.senders[i].stream.opening(kOpeningBytes);
    if (flow.senders[i].stream.over_limit()) decidable = true;
    if (opening.empty()) continue;
    switch (classify_opening(opening)) {
      case Opening::client_hello:
        start(flow, i, false);
        return;
      case Opening::server_hello:
        start(flow, 1 - i, false);
        return;
      case Opening::other:
        decidable = true;
        break;
      case Opening::too_short:
        break;
    }
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const auto opening = flow.senders[i].stream.opening(kOpeningBytes);
    if (!opening.empty() && classify_opening(opening) == Opening::too_short && !forced &&
        !flow.senders[i].stream.over_limit()) {
      decidable = false;  // a hello may still be coming together
    }
  }
  if (!decidable) return;
  const bool first_is_client =
      guess_client_by_port(flow.senders[0].endpoint.port, flow.senders[1].endpoint.port, true);
  start(flow, first_is_client ? 0 : 1, true);
}

void FlowTracker::Impl::start(Flow& flow, std::size_t client, bool guessed) {
  flow.client = client;
  // The addresses become text here, once per connection.
  flow.info.client = flow.senders[client].endpoint.endpoint();
  flow.info.server = flow.senders[1 - client].endpoint.endpoint();
  flow.info.client_guessed = guessed;
  flow.started = true;
  flow.id = next_id_++;
  ++stats_.flows;
  events_.on_flow_start(flow.id, flow.info, flow.first_seen);
  for (auto& sender : flow.senders) sender.stream.set_holding(false);
  for (const auto& conflict : flow.pending_conflicts) report_conflict(flow, conflict);
  flow.pending_conflicts.clear();
}

void FlowTracker::Impl::deliver(Flow& flow, std::size_t first, Timestamp now) {
  for (const std::size_t index : {first, 1 - first}) {
    SenderSink sink(*this, flow, index, now);
    flow.senders[index].stream.deliver(sink);
    apply_payload_wanted(flow);
  }
}

void FlowTracker::Impl::apply_payload_wanted(Flow& flow) {
  if (flow.payload_wanted || flow.payload_stopped) return;
  flow.payload_stopped = true;
  for (auto& sender : flow.senders) sender.stream.stop_payload();
}

void FlowTracker::Impl::note_conflict(Flow& flow, PendingConflict conflict) {
  ++stats_.conflicting_overlaps;
  if (flow.started) {
    report_conflict(flow, conflict);
  } else if (flow.pending_conflicts.size() < limits_.max_overlap_conflicts) {
    flow.pending_conflicts.push_back(conflict);
  }
}

void FlowTracker::Impl::report_conflict(Flow& flow, const PendingConflict& conflict) {
  if (flow.conflicts_reported >= limits_.max_overlap_conflicts) return;
  ++flow.conflicts_reported;
  events_.on_overlap_conflict(flow.id, flow.side_of(conflict.sender), conflict.offset,
                              conflict.length, conflict.at);
}

bool FlowTracker::Impl::hello_acknowledged(const Flow& flow,
                                           std::optional<std::uint32_t> rst_ack) const {
  const Sender& client = flow.senders[*flow.client];
  const Sender& server = flow.senders[1 - *flow.client];
  if (!client.first_payload) return true;
  const std::uint32_t end = client.first_payload->end();
  return server.acknowledged(end) || (rst_ack && seq_at_or_after(*rst_ack, end));
}

ResetContext FlowTracker::Impl::reset_context(const Flow& flow, std::size_t index,
                                              std::uint32_t rst_seq) const {
  ResetContext context;
  context.sender = &flow.senders[index].look;
  context.sender_sent_fin = flow.senders[index].sent_fin;
  const auto& end = flow.senders[index].highest_end;
  context.rst_beyond_capture = end && static_cast<std::int32_t>(rst_seq - *end) > 0;
  context.client_sent_data = flow.senders[*flow.client].first_payload.has_value();
  return context;
}

void FlowTracker::Impl::handle_reset(Flow& flow, std::size_t index, const TcpSegment& segment) {
  Sender& me = flow.senders[index];
  const Side by = flow.side_of(index);
  const bool prompted = !me.unanswered.empty();
  if (prompted) me.unanswered.pop_front();
  if (me.reset) {
    if (segment.seq != me.reset->seq || prompted) return;
    ++me.reset->resets_with_same_seq;
    judge_reset(*me.reset, reset_context(flow, index, segment.seq));
    events_.on_reset_repeated(flow.id, *me.reset, segment.at);
    return;
  }
  ResetFacts facts;
  facts.by = by;
  facts.ack_flag = segment.flags & tcp_flag::ack;
  facts.seq = segment.seq;
  // The server's RST acknowledges what its stack received; only then does it count.
  const bool counts_as_ack = facts.ack_flag && by == Side::server;
  facts.hello_acknowledged =
      hello_acknowledged(flow, counts_as_ack ? std::optional(segment.ack) : std::nullopt);
  facts.ttl = segment.ttl;
  facts.earlier_ttl = me.look.last_ttl();
  facts.ip_id = segment.ip_id;
  facts.earlier_ip_id = me.look.last_ip_id();
  judge_reset(facts, reset_context(flow, index, segment.seq));
  me.reset = facts;
  // What this side sent before its reset is all it will send: holes in it are gaps now.
  SenderSink sink(*this, flow, index, segment.at);
  me.stream.flush(sink);
  apply_payload_wanted(flow);
  events_.on_close(flow.id, by, CloseKind::rst, segment.at, &*me.reset);
}

void FlowTracker::Impl::end_flow(Flow& flow, Timestamp at, bool evicted) {
  if (!flow.started) try_start(flow, true);
  for (const std::size_t index : {*flow.client, 1 - *flow.client}) {
    SenderSink sink(*this, flow, index, at);
    flow.senders[index].stream.flush(sink);
    apply_payload_wanted(flow);
  }
  const Sender& client = flow.senders[*flow.client];
  const Sender& server = flow.senders[1 - *flow.client];
  if (client.first_payload && client.first_payload->retransmissions > 0 &&
      !server.acknowledged(client.first_payload->end())) {
    events_.on_unacknowledged_hello(flow.id, client.first_payload->retransmissions,
                                    client.first_payload->at,
                                    client.first_payload->last_retransmission);
  }
  events_.on_flow_end(flow.id, at, evicted);
}

void FlowTracker::Impl::finish(Timestamp at) {
  std::vector<Flow*> order;
  order.reserve(flows_.size());
  flows_.for_each([&order](Flow& flow) { order.push_back(&flow); });
  // Started flows in the order they started, then the others in the order they were seen.
  std::sort(order.begin(), order.end(), [](const Flow* a, const Flow* b) {
    if (a->started != b->started) return a->started;
    return a->started ? a->id < b->id : a->created < b->created;
  });
  for (Flow* flow : order) end_flow(*flow, at, false);
  flows_.clear();
  recency_.clear();
}

FlowTracker::FlowTracker(FlowEvents& events, FlowLimits limits)
    : impl_(std::make_unique<Impl>(events, limits)) {}
FlowTracker::~FlowTracker() = default;
void FlowTracker::on_segment(const TcpSegment& segment) { impl_->on_segment(segment); }
void FlowTracker::finish(trace::Timestamp at) { impl_->finish(at); }
const TrackerStats& FlowTracker::stats() const { return impl_->stats(); }

}  // namespace tlsglass::capture
