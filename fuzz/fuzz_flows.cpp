// libFuzzer target: decode_frame and FlowTracker on hostile frames, with the FlowEvents
// contract checked on every call. Input layout (so seeds can be real captures):
//   byte 0: the link type (an index into kLinkTypes);
//   byte 1: limits and consumer behaviour (bits 0-1 max_flows 1..4 or the default, bits 2-4
//           max_out_of_order 16 << n, bit 5 the consumer stops wanting payload after its
//           second call, bits 6-7 max_out_of_order_segments 2..8 or the default);
//   then frames, each a 2-byte big-endian length and that many bytes, 1 ms apart.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>

#include "tlsglass/capture/tcp_flows.hpp"

namespace {

using namespace tlsglass;

constexpr int kLinkTypes[] = {1, 113, 276, 101, 12, 14, 228, 229, 0, 108};

[[noreturn]] void broken() { std::abort(); }
#define REQUIRE_CONTRACT(condition) \
  do {                              \
    if (!(condition)) broken();     \
  } while (0)

// Checks what FlowEvents promises: a flow starts once, before any other call for it, and
// ends once, with nothing after; at most one FIN and one RST per side; RST facts with RSTs.
class ContractCheck : public capture::FlowEvents {
 public:
  explicit ContractCheck(bool stop_payload) : stop_payload_(stop_payload) {}

  void on_flow_start(capture::FlowId flow, const capture::FlowInfo& info,
                     trace::Timestamp) override {
    REQUIRE_CONTRACT(flows_.count(flow) == 0);
    REQUIRE_CONTRACT(!info.client.ip.empty() && !info.server.ip.empty());
    flows_[flow] = State{};
  }
  bool on_payload(capture::FlowId flow, trace::Side from, tls::Bytes bytes,
                  trace::Timestamp) override {
    State& state = live(flow);
    REQUIRE_CONTRACT(!bytes.empty());
    REQUIRE_CONTRACT(!state.fin[index(from)]);  // nothing after a side's FIN
    // Touch every byte, so a view past its buffer shows under ASan.
    std::uint8_t sum = 0;
    for (std::uint8_t b : bytes) sum = static_cast<std::uint8_t>(sum + b);
    sink_ ^= sum;
    return !stop_payload_ || ++state.payload_calls < 2;
  }
  void on_gap(capture::FlowId flow, trace::Side from, std::uint64_t missing,
              trace::Timestamp) override {
    State& state = live(flow);
    REQUIRE_CONTRACT(missing > 0);
    REQUIRE_CONTRACT(!state.fin[index(from)]);
  }
  void on_close(capture::FlowId flow, trace::Side by, trace::CloseKind kind, trace::Timestamp,
                const capture::ResetFacts* reset) override {
    State& state = live(flow);
    const bool rst = kind == trace::CloseKind::rst;
    REQUIRE_CONTRACT(rst == (reset != nullptr));
    bool& seen = rst ? state.rst[index(by)] : state.fin[index(by)];
    REQUIRE_CONTRACT(!seen);
    seen = true;
    if (reset) {
      REQUIRE_CONTRACT(reset->by == by);
      REQUIRE_CONTRACT(reset->resets_with_same_seq == 1);
    }
  }
  void on_unacknowledged_hello(capture::FlowId flow, std::uint32_t retransmissions,
                               trace::Timestamp first, trace::Timestamp last) override {
    State& state = live(flow);
    REQUIRE_CONTRACT(!state.hello_reported);
    state.hello_reported = true;
    REQUIRE_CONTRACT(retransmissions > 0);
    REQUIRE_CONTRACT(first <= last);
  }
  void on_reset_repeated(capture::FlowId flow, const capture::ResetFacts& reset,
                         trace::Timestamp) override {
    State& state = live(flow);
    REQUIRE_CONTRACT(state.rst[index(reset.by)]);
    REQUIRE_CONTRACT(reset.resets_with_same_seq >= 2);
    REQUIRE_CONTRACT(!reset.injected_signs.empty());
  }
  void on_overlap_conflict(capture::FlowId flow, trace::Side, std::uint64_t, std::uint64_t length,
                           trace::Timestamp) override {
    live(flow);
    REQUIRE_CONTRACT(length > 0);
  }
  void on_flow_end(capture::FlowId flow, trace::Timestamp, bool) override {
    live(flow).ended = true;
  }

  void check_all_ended() const {
    for (const auto& [id, state] : flows_) REQUIRE_CONTRACT(state.ended);
  }

 private:
  struct State {
    bool ended = false, hello_reported = false;
    bool fin[2] = {false, false}, rst[2] = {false, false};
    int payload_calls = 0;
  };
  static std::size_t index(trace::Side side) { return side == trace::Side::client ? 0 : 1; }
  State& live(capture::FlowId flow) {
    auto it = flows_.find(flow);
    REQUIRE_CONTRACT(it != flows_.end());
    REQUIRE_CONTRACT(!it->second.ended);
    return it->second;
  }

  bool stop_payload_;
  std::map<capture::FlowId, State> flows_;
  std::uint8_t sink_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const int link = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
  const std::uint8_t knobs = data[1];
  capture::FlowLimits limits;
  if ((knobs & 3) != 3) limits.max_flows = 1 + (knobs & 3);
  limits.max_out_of_order = std::size_t{16} << ((knobs >> 2) & 7);
  if ((knobs >> 6) != 3) limits.max_out_of_order_segments = 2u << (knobs >> 6);
  limits.max_overlap_conflicts = 2;
  limits.overlap_check_bytes = 64;
  ContractCheck events((knobs & 0x20) != 0);
  capture::FlowTracker tracker(events, limits);

  trace::Timestamp at{};
  std::size_t pos = 2;
  while (pos + 2 <= size) {
    const std::size_t length = static_cast<std::size_t>(data[pos] << 8 | data[pos + 1]);
    pos += 2;
    const std::size_t n = length < size - pos ? length : size - pos;
    at += std::chrono::milliseconds(1);
    const auto decoded = capture::decode_frame(link, tls::Bytes(data + pos, n), at);
    pos += n;
    if (!decoded.segment) continue;
    const auto& segment = *decoded.segment;
    REQUIRE_CONTRACT(segment.payload.size() <= segment.payload_length);
    REQUIRE_CONTRACT(segment.payload.empty() ||
                     (segment.payload.data() >= data &&
                      segment.payload.data() + segment.payload.size() <= data + size));
    tracker.on_segment(segment);
  }
  tracker.finish(at);
  events.check_all_ended();
  return 0;
}
