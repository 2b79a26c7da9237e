#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <unordered_map>

#include "tlsglass/capture/pcap_reader.hpp"
#include "tlsglass/capture/replay.hpp"
#include "tlsglass/capture/tcp_flows.hpp"
#include "tlsglass/trace/session.hpp"

namespace tlsglass::capture {

namespace {

constexpr std::uint64_t kProgressEveryFrames = 4096;

// The tracker's per-connection calls, turned into the Session calls a live proxy makes.
class SessionFeeder : public FlowEvents {
 public:
  SessionFeeder(const ReplayConfig& config, std::uint64_t& next_conn, ReplayStats& stats)
      : config_(config), next_conn_(next_conn), stats_(stats) {}

  void on_flow_start(FlowId flow, const FlowInfo& info, trace::Timestamp at) override {
    trace::SessionConfig session;
    session.conn = next_conn_++;
    session.mode = "replay";
    session.source = info.client;
    session.destination = info.server;
    session.history = config_.history;
    Flow& entry = flows_[flow];
    entry.session = std::make_unique<trace::Session>(std::move(session));
    entry.handshake_due =
        at + std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::duration<double>(config_.handshake_timeout_s));
    ++stats_.connections;
  }

  bool on_payload(FlowId flow, trace::Side from, tls::Bytes bytes, trace::Timestamp at) override {
    Flow* entry = find(flow, at);
    if (!entry) return false;
    if (config_.keep_client_bytes && from == trace::Side::client &&
        entry->client_bytes.size() < kMaxClientBytes) {
      const std::size_t take = std::min(bytes.size(), kMaxClientBytes - entry->client_bytes.size());
      entry->client_bytes.insert(entry->client_bytes.end(), bytes.begin(), bytes.begin() + take);
    }
    entry->session->on_bytes(from, bytes, at);
    settle(*entry);
    return !entry->settled && entry->session->wants_bytes();
  }

  void on_gap(FlowId flow, trace::Side from, std::uint64_t missing, trace::Timestamp at) override {
    if (Flow* entry = find(flow, at)) {
      entry->session->on_gap(from, missing, at);
      settle(*entry);
    }
  }

  void on_close(FlowId flow, trace::Side by, trace::CloseKind kind, trace::Timestamp at,
                const ResetFacts* reset) override {
    Flow* entry = find(flow, at);
    if (!entry) return;
    if (reset && !reset->injected_signs.empty())
      entry->session->set_reset_injected_signs(reset->injected_signs);
    entry->session->on_close(by, kind, at);
    settle(*entry);
  }

  void on_unacknowledged_hello(FlowId flow, std::uint32_t retransmissions, trace::Timestamp,
                               trace::Timestamp last) override {
    auto it = flows_.find(flow);
    if (it == flows_.end() || it->second.written) return;
    // Also for a record held back since the server's silence settled it (see settle()).
    Flow& entry = it->second;
    if (!entry.settled) expire(entry, last);
    entry.session->on_unacknowledged_hello(retransmissions);
    if (!entry.settled) settle(entry);
  }

  // Later RSTs with the first one's sequence number sharpen the injected verdict, as long as
  // the record is still to be written (a reset nothing answered is held to the flow's end).
  void on_reset_repeated(FlowId flow, const ResetFacts& reset, trace::Timestamp) override {
    auto it = flows_.find(flow);
    if (it == flows_.end() || it->second.written) return;
    it->second.session->set_reset_injected_signs(reset.injected_signs);
  }

  void on_overlap_conflict(FlowId flow, trace::Side from, std::uint64_t offset,
                           std::uint64_t length, trace::Timestamp) override {
    auto it = flows_.find(flow);
    if (it == flows_.end() || it->second.written) return;
    it->second.session->on_conflicting_overlap(from, offset, length);
  }

  void on_flow_end(FlowId flow, trace::Timestamp at, bool) override {
    auto it = flows_.find(flow);
    if (it == flows_.end()) return;
    Flow& entry = it->second;
    if (!entry.settled) expire(entry, at);  // may settle it with a timeout
    if (!entry.settled) entry.session->on_end_of_data(at);
    if (!entry.written) write(entry);
    flows_.erase(it);
  }

 private:
  struct Flow {
    std::unique_ptr<trace::Session> session;
    trace::Timestamp handshake_due{};
    std::vector<std::uint8_t> client_bytes;
    bool settled = false;  // the outcome is known: nothing more is fed to the session
    bool written = false;
  };

  // As the live proxy does: the record is settled as soon as its outcome is known, with what
  // was seen up to then (later bytes of the connection are not counted in it). It is written at
  // once - unless the server never sent a byte: what the capture then still has to say (the
  // ClientHello's unacknowledged retransmissions) comes when the flow ends.
  void settle(Flow& entry) {
    if (entry.settled || !entry.session->outcome_known()) return;
    entry.settled = true;
    if (entry.session->bytes_from(trace::Side::server) > 0) write(entry);
  }
  void write(Flow& entry) {
    entry.written = true;
    ReplayedConnection done;
    done.record = entry.session->take_record();
    done.client_bytes = std::move(entry.client_bytes);
    entry.session.reset();  // nothing more is read for this flow
    if (config_.on_connection) config_.on_connection(std::move(done));
  }

  // The live proxy writes `timeout` when the handshake is still unfinished at its deadline and
  // the connection goes on; in a capture that shows as the next packet coming later than that.
  void expire(Flow& entry, trace::Timestamp at) {
    if (at >= entry.handshake_due && !entry.session->outcome_known()) {
      entry.session->on_timeout(entry.handshake_due);
      settle(entry);
    }
  }

  // The flow's session while its record is still to be written.
  Flow* find(FlowId flow, trace::Timestamp at) {
    auto it = flows_.find(flow);
    if (it == flows_.end() || it->second.settled) return nullptr;
    expire(it->second, at);
    return it->second.settled ? nullptr : &it->second;
  }

  const ReplayConfig& config_;
  std::uint64_t& next_conn_;
  ReplayStats& stats_;
  std::unordered_map<FlowId, Flow> flows_;
};

}  // namespace

CaptureReplay::CaptureReplay(ReplayConfig config) : config_(std::move(config)) {}

std::optional<std::string> CaptureReplay::replay_file(const std::string& path, ReplayStats& stats) {
  std::string error;
  auto reader = PcapReader::open(path, error);
  if (!reader) return error;
  const int link_type = reader->link_type();
  if (!link_type_supported(link_type)) {
    return fmt::format(
        "unsupported link type {} ({}): tlsglass reads Ethernet, Linux cooked (SLL, SLL2), raw "
        "IP and BSD loopback captures",
        link_type, reader->link_type_name());
  }
  SessionFeeder feeder(config_, next_conn_, stats);
  FlowTracker tracker(feeder);
  trace::Timestamp last{};
  while (auto frame = reader->next()) {
    ++stats.frames;
    last = frame->at;
    const DecodedFrame decoded = decode_frame(link_type, frame->bytes, frame->at);
    if (decoded.segment) {
      ++stats.tcp_segments;
      tracker.on_segment(*decoded.segment);
    } else {
      ++stats.skipped[std::string(frame_skip_name(decoded.skip))];
    }
    if (config_.on_progress && stats.frames % kProgressEveryFrames == 0)
      config_.on_progress(reader->position(), reader->size());
  }
  tracker.finish(last);
  if (config_.on_progress) config_.on_progress(reader->size(), reader->size());
  if (!reader->error().empty()) return reader->error();
  return std::nullopt;
}

}  // namespace tlsglass::capture
