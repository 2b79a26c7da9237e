// Whether a TCP reset looks sent by the endpoint it claims to come from, or injected by a
// middlebox (DESIGN.md, cause reset_mid_handshake): the RST is compared with what that side's
// own earlier packets looked like. Private to capture/.
#pragma once

#include <cstdint>
#include <optional>

#include "tlsglass/capture/tcp_flows.hpp"

namespace tlsglass::capture {

// The IP-level look of one side's packets, RSTs left out: the yardstick for its RST.
class PacketLook {
 public:
  void note(const TcpSegment& segment);

  std::optional<std::uint8_t> last_ttl() const { return last_ttl_; }
  std::optional<std::uint16_t> last_ip_id() const { return last_ip_id_; }
  // The side's IP IDs counted up in small steps over its last packets (a per-connection or
  // per-host counter, as Linux and Windows keep): an RST far off that count was not made by
  // the same stack.
  bool ip_id_counting() const { return counting_steps_ >= 1; }
  std::uint64_t packets() const { return packets_; }

 private:
  std::optional<std::uint8_t> last_ttl_;
  std::optional<std::uint16_t> last_ip_id_;
  std::uint32_t counting_steps_ = 0;
  std::uint64_t packets_ = 0;
};

// What the tracker knows about the flow when the RST comes, beyond the RST itself.
struct ResetContext {
  const PacketLook* sender = nullptr;  // the resetting side's earlier packets
  bool sender_sent_fin = false;        // it had closed its direction
  // The RST's sequence number is past all the side was seen sending: the capture missed
  // some of its packets (perhaps its FIN), so it may have closed unseen.
  bool rst_beyond_capture = false;
  bool client_sent_data = false;
};

// Fills facts.injected_signs from the other fields of `facts` (rules in the .cpp).
void judge_reset(ResetFacts& facts, const ResetContext& context);

}  // namespace tlsglass::capture
