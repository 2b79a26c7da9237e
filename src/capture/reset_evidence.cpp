#include "reset_evidence.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace tlsglass::capture {

namespace {

// Packets of one side on one path keep their TTL; a route change moves it by a hop or two.
// A middlebox forging that side's RST starts from its own initial TTL (64, 128, 255) at its
// own distance, so a bigger difference says another sender.
constexpr int kTtlTolerance = 2;
// Consecutive IP IDs of one sender step up by a little (one per packet for a per-connection
// counter; more for a per-host counter shared with other traffic).
constexpr std::uint16_t kCountingStep = 1024;
// How far past the last ID the RST may be and still come from that counter.
constexpr std::uint16_t kRstIdReach = 4096;

}  // namespace

void PacketLook::note(const TcpSegment& segment) {
  ++packets_;
  last_ttl_ = segment.ttl;
  // ID 0 carries no counter (Linux sends its SYN-ACK with DF set and ID 0): not a step.
  if (!segment.ip_id || *segment.ip_id == 0) return;
  if (last_ip_id_) {
    const auto step = static_cast<std::uint16_t>(*segment.ip_id - *last_ip_id_);
    counting_steps_ = step >= 1 && step <= kCountingStep ? counting_steps_ + 1 : 0;
  }
  last_ip_id_ = segment.ip_id;
}

// The rules, each a sign on its own (DESIGN.md reset_mid_handshake):
// - no ACK flag while the sender was in the connection and had not closed it: an endpoint's
//   reset of a synchronised connection carries ACK (RFC 9293 §3.10.7.4 answers with a bare
//   RST only for a connection it no longer has, e.g. after its own FIN);
// - a reset "by the server" that had never acknowledged the client's first data: the
//   server's own stack would have acknowledged it in the RST if it had received it;
// - a TTL more than kTtlTolerance hops from the sender's previous packet;
// - an IP ID off the count the sender's earlier packets kept. Not after the sender's own
//   FIN, and not ID 0: a stack answers for a socket it has closed from a control socket of
//   its own (Linux: DF set, ID 0), which keeps no count with the connection's packets;
// - several RSTs with one sequence number, more than the peer's packets could have drawn
//   (an endpoint answers each packet with one RST; an injector sends a burst).
void judge_reset(ResetFacts& facts, const ResetContext& context) {
  facts.injected_signs.clear();
  const std::string_view who = trace::side_name(facts.by);
  const bool sender_seen = context.sender && context.sender->packets() > 0;
  // After its own FIN (seen, or hidden in what the capture missed) a side's stack answers
  // from a control path of its own: no ACK, an IP ID of its own.
  const bool sender_closed = context.sender_sent_fin || context.rst_beyond_capture;
  if (!facts.ack_flag && sender_seen && !sender_closed) {
    facts.injected_signs.push_back("the RST has no ACK flag");
  }
  if (facts.by == trace::Side::server && context.client_sent_data && !facts.hello_acknowledged) {
    facts.injected_signs.push_back("the server had not acknowledged the client's first data");
  }
  if (facts.ttl && facts.earlier_ttl &&
      std::abs(static_cast<int>(*facts.ttl) - static_cast<int>(*facts.earlier_ttl)) >
          kTtlTolerance) {
    facts.injected_signs.push_back(
        fmt::format("TTL {} where the {}'s packets had {}", *facts.ttl, who, *facts.earlier_ttl));
  }
  if (facts.ip_id && *facts.ip_id != 0 && facts.earlier_ip_id && !sender_closed && context.sender &&
      context.sender->ip_id_counting()) {
    const auto step = static_cast<std::uint16_t>(*facts.ip_id - *facts.earlier_ip_id);
    if (step == 0 || step > kRstIdReach) {
      facts.injected_signs.push_back(fmt::format("IP ID {} where the {}'s packets counted up to {}",
                                                 *facts.ip_id, who, *facts.earlier_ip_id));
    }
  }
  if (facts.resets_with_same_seq >= 2) {
    facts.injected_signs.push_back(
        fmt::format("{} RSTs with one sequence number", facts.resets_with_same_seq));
  }
}

}  // namespace tlsglass::capture
