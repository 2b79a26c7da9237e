// What one connection's two sides sent, in order, with the time of each read and how each side
// closed: what the proxy keeps for --capture-dir (capture/ turns it into a pcap), bounded by
// max_bytes. The same shape as what replay feeds a trace::Session.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::trace {

struct TranscriptEvent {
  enum class Kind : std::uint8_t { data, fin, rst };
  Timestamp at{};
  Side from = Side::client;
  Kind kind = Kind::data;
  std::vector<std::uint8_t> bytes;  // data: one read, as it arrived
};

struct Transcript {
  std::uint64_t conn = 0;
  Endpoint client, server;
  Timestamp opened{};  // the client's connection was accepted (the synthetic 3-way handshake)
  std::vector<TranscriptEvent> events;
  std::size_t bytes = 0;      // payload kept
  std::size_t max_bytes = 0;  // payload kept at most; the rest is counted in dropped_bytes
  std::uint64_t dropped_bytes = 0;
  std::string path;  // where the capture goes (empty: not kept)

  void add_data(Side from, tls::Bytes data, Timestamp at) {
    if (data.empty()) return;
    const std::size_t room = max_bytes > bytes ? max_bytes - bytes : 0;
    const std::size_t kept = std::min(room, data.size());
    dropped_bytes += data.size() - kept;
    if (kept == 0) return;
    TranscriptEvent event;
    event.at = at;
    event.from = from;
    event.bytes.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(kept));
    events.push_back(std::move(event));
    bytes += kept;
  }
  void add_close(Side from, CloseKind kind, Timestamp at) {
    TranscriptEvent event;
    event.at = at;
    event.from = from;
    event.kind = kind == CloseKind::rst ? TranscriptEvent::Kind::rst : TranscriptEvent::Kind::fin;
    events.push_back(std::move(event));
  }
};

}  // namespace tlsglass::trace
