// `replay --to HOST:PORT [--sni NAME] [--split ...]`: a captured connection's ClientHello sent
// again to a live server, framed as asked, and the server's answer analysed as a live
// connection (trace::Session, mode "resend").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "tlsglass/capture/replay.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::cli {

struct Split {
  enum class Kind : std::uint8_t { captured, single, records, segments };
  Kind kind = Kind::captured;
  std::size_t count = 1;
};
// "single", "records:N", "segments:N" (N from 1 to 4096); nullopt and `error` otherwise.
std::optional<Split> parse_split(const std::string& text, std::string& error);

struct ResendTarget {
  std::string host;
  std::uint16_t port = 0;
  std::optional<std::string> sni;  // "" removes the server_name extension
  Split split;
  double answer_timeout_s = 5;
};

// The record of re-sending `captured`'s ClientHello, or a reason it was not re-sent (no
// ClientHello in the capture, an SSLv2 hello asked to be re-framed, ...).
std::variant<trace::HandshakeRecord, std::string> resend_captured_hello(
    const capture::ReplayedConnection& captured, const ResendTarget& target, std::uint64_t conn);

}  // namespace tlsglass::cli
