#include "tlsglass/trace/offline_feed.hpp"

#include <vector>

#include "tlsglass/trace/prelude.hpp"

namespace tlsglass::trace {

namespace {

// Cuts a stream into units a peer would plausibly have sent as one flight element: whole TLS
// records, and runs of plaintext up to the next record that opens this side's TLS.
std::vector<tls::Bytes> split_units(tls::Bytes stream, bool client) {
  std::vector<tls::Bytes> units;
  std::size_t pos = 0;
  bool tls_started = false;
  while (pos < stream.size()) {
    const tls::Bytes rest = stream.subspan(pos);
    std::size_t length = rest.size();
    const StartVerdict start = classify_start(rest);
    if (start == StartVerdict::tls && rest.size() >= 5 && !(rest[0] & 0x80)) {
      length = 5 + (static_cast<std::size_t>(rest[3]) << 8 | rest[4]);
      tls_started = true;
    } else if (start == StartVerdict::tls && (rest[0] & 0x80) && rest.size() >= 2) {
      length = 2 + (static_cast<std::size_t>(rest[0] & 0x7f) << 8 | rest[1]);  // SSLv2 header
      tls_started = true;
    } else if (!tls_started) {
      if (auto next = find_tls_start(rest, client, 1)) length = *next;
    }
    length = std::min(length, rest.size());
    units.push_back(rest.subspan(0, length));
    pos += length;
  }
  return units;
}

}  // namespace

void feed_unsynchronised(Session& session, tls::Bytes client, tls::Bytes server, Timestamp at) {
  const std::vector<tls::Bytes> units[2] = {split_units(client, true), split_units(server, false)};
  std::size_t next[2] = {0, 0};
  auto left = [&](Side side) { return next[static_cast<int>(side)] < units[static_cast<int>(side)].size(); };
  Side free_turn = Side::client;  // after the handshake: request, response, ...
  while (left(Side::client) || left(Side::server)) {
    Side side;
    if (auto expected = session.expected_sender()) {
      side = *expected;
    } else {
      side = free_turn;
      free_turn = other(free_turn);
    }
    if (!left(side)) side = other(side);
    const int index = static_cast<int>(side);
    session.on_bytes(side, units[index][next[index]++], at);
  }
  session.on_end_of_data(at);
}

}  // namespace tlsglass::trace
