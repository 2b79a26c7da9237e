// Test-only: a FlowEvents that writes every call as a line (so a test states the exact call
// sequence it expects), keeps each flow's streams, and checks the call-order contract.
#pragma once

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tlsglass/capture/tcp_flows.hpp"

namespace capture_test {

using namespace tlsglass;

// One piece of a reassembled direction: bytes, or a gap of `missing` bytes.
struct StreamPiece {
  std::string bytes;
  std::uint64_t missing = 0;
};

struct FlowRecord {
  capture::FlowInfo info;
  std::vector<StreamPiece> client, server;
  std::vector<capture::ResetFacts> resets;
  bool ended = false;
};

class FlowEventsLog : public capture::FlowEvents {
 public:
  std::vector<std::string> lines;
  std::map<capture::FlowId, FlowRecord> flows;
  std::vector<capture::FlowId> start_order;
  std::vector<std::string> contract_violations;
  bool want_payload = true;

  void on_flow_start(capture::FlowId flow, const capture::FlowInfo& info,
                     trace::Timestamp) override {
    if (flows.count(flow)) violation(flow, "started twice");
    flows[flow].info = info;
    start_order.push_back(flow);
    lines.push_back(fmt::format("#{} start client {}:{} server {}:{}{}{}", flow, info.client.ip,
                                info.client.port, info.server.ip, info.server.port,
                                info.saw_syn ? " syn" : "", info.client_guessed ? " guessed" : ""));
  }
  bool on_payload(capture::FlowId flow, trace::Side from, tls::Bytes bytes,
                  trace::Timestamp) override {
    check_live(flow, "payload");
    if (bytes.empty()) violation(flow, "empty payload");
    const std::string text(bytes.begin(), bytes.end());
    side(flow, from).push_back({text, 0});
    lines.push_back(fmt::format("#{} {} '{}'", flow, trace::side_name(from), printable(text)));
    return want_payload;
  }
  void on_gap(capture::FlowId flow, trace::Side from, std::uint64_t missing,
              trace::Timestamp) override {
    check_live(flow, "gap");
    side(flow, from).push_back({"", missing});
    lines.push_back(fmt::format("#{} {} gap {}", flow, trace::side_name(from), missing));
  }
  void on_close(capture::FlowId flow, trace::Side by, trace::CloseKind kind, trace::Timestamp,
                const capture::ResetFacts* reset) override {
    check_live(flow, "close");
    if ((kind == trace::CloseKind::rst) != (reset != nullptr)) violation(flow, "reset facts");
    std::string line = fmt::format("#{} {} {}", flow, trace::side_name(by),
                                   kind == trace::CloseKind::fin ? "fin" : "rst");
    if (reset) {
      flows[flow].resets.push_back(*reset);
      line += describe(*reset);
    }
    lines.push_back(line);
  }
  void on_unacknowledged_hello(capture::FlowId flow, std::uint32_t retransmissions,
                               trace::Timestamp first, trace::Timestamp last) override {
    check_live(flow, "unacknowledged hello");
    lines.push_back(
        fmt::format("#{} unacknowledged hello x{} over {}ms", flow, retransmissions,
                    std::chrono::duration_cast<std::chrono::milliseconds>(last - first).count()));
  }
  void on_reset_repeated(capture::FlowId flow, const capture::ResetFacts& reset,
                         trace::Timestamp) override {
    check_live(flow, "reset repeated");
    lines.push_back(
        fmt::format("#{} {} rst again{}", flow, trace::side_name(reset.by), describe(reset)));
  }
  void on_overlap_conflict(capture::FlowId flow, trace::Side from, std::uint64_t offset,
                           std::uint64_t length, trace::Timestamp) override {
    check_live(flow, "conflict");
    lines.push_back(
        fmt::format("#{} {} conflict at {} for {}", flow, trace::side_name(from), offset, length));
  }
  void on_flow_end(capture::FlowId flow, trace::Timestamp, bool evicted) override {
    check_live(flow, "end");
    flows[flow].ended = true;
    lines.push_back(fmt::format("#{} end{}", flow, evicted ? " evicted" : ""));
  }

  // The bytes of one direction up to its first gap (`skip_leading_gap`: after a gap at
  // its very start), and whether a gap stopped it.
  static std::string until_gap(const std::vector<StreamPiece>& pieces, bool skip_leading_gap) {
    std::string out;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i].missing) {
        if (i == 0 && skip_leading_gap) continue;
        break;
      }
      out += pieces[i].bytes;
    }
    return out;
  }

 private:
  std::vector<StreamPiece>& side(capture::FlowId flow, trace::Side from) {
    return from == trace::Side::client ? flows[flow].client : flows[flow].server;
  }
  void check_live(capture::FlowId flow, const char* what) {
    auto it = flows.find(flow);
    if (it == flows.end())
      violation(flow, std::string(what) + " before start");
    else if (it->second.ended)
      violation(flow, std::string(what) + " after end");
  }
  void violation(capture::FlowId flow, const std::string& what) {
    contract_violations.push_back(fmt::format("#{}: {}", flow, what));
  }
  static std::string printable(const std::string& text) {
    std::string out;
    for (char c : text) out += (c >= 0x20 && c < 0x7f) ? c : '.';
    return out;
  }
  static std::string describe(const capture::ResetFacts& reset) {
    std::string out = fmt::format(" x{}", reset.resets_with_same_seq);
    for (const auto& sign : reset.injected_signs) out += " [" + sign + "]";
    return out;
  }
};

}  // namespace capture_test
