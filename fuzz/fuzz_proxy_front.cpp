// libFuzzer target: what a client sends before its tunnel - an HTTP CONNECT head
// (ConnectRequestReader) and a SOCKS5 negotiation (Socks5Negotiation) - plus the reading of a
// SOCKS5 server's answers in a capture (trace::socks5_refusal). Input layout:
//   byte 0: bit 0 which reader, bit 1 SOCKS5 credentials required, bits 2-7 the chunk size
//           (1..64 bytes per feed);
//   then the client's bytes.
// Checked on every call: the tunnel offset lies inside the chunk, replies stay small (one
// SOCKS5 reply is at most 22 bytes, a few are pipelined), and a finished reader is fed nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tlsglass/proxy/connect_request.hpp"
#include "tlsglass/proxy/socks5_negotiation.hpp"
#include "tlsglass/trace/prelude.hpp"

namespace {

using namespace tlsglass;

[[noreturn]] void broken() { std::abort(); }
#define REQUIRE_CONTRACT(condition) \
  do {                              \
    if (!(condition)) broken();     \
  } while (0)

void fuzz_connect(tls::Bytes input, std::size_t chunk) {
  proxy::ConnectRequestReader reader(16 * 1024);
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    const tls::Bytes piece = input.subspan(at, std::min(chunk, input.size() - at));
    const proxy::ConnectHead head = reader.feed(piece);
    if (head.state == proxy::ConnectHead::State::need_more) continue;
    if (head.state == proxy::ConnectHead::State::complete) {
      REQUIRE_CONTRACT(head.tunnel_offset <= piece.size());
      REQUIRE_CONTRACT(!head.target.host.empty() && head.target.port != 0);
    } else {
      REQUIRE_CONTRACT(!head.reason.empty() || head.answer != proxy::Answer::established);
    }
    return;
  }
}

void fuzz_socks(tls::Bytes input, std::size_t chunk, bool credentials) {
  std::optional<proxy::SocksCredentials> required;
  if (credentials) required = proxy::SocksCredentials{"user", "password"};
  proxy::Socks5Negotiation negotiation(required);
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    const tls::Bytes piece = input.subspan(at, std::min(chunk, input.size() - at));
    const proxy::SocksStep step = negotiation.feed(piece);
    REQUIRE_CONTRACT(step.reply.size() <= 3 * 22);
    if (step.state == proxy::SocksStep::State::need_more) continue;
    if (step.state == proxy::SocksStep::State::complete) {
      REQUIRE_CONTRACT(step.tunnel_offset <= piece.size());
      REQUIRE_CONTRACT(!step.target.host.empty() && step.target.port != 0);
    } else {
      REQUIRE_CONTRACT(!step.reason.empty());
    }
    return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  const tls::Bytes input(data + 1, size - 1);
  const std::size_t chunk = 1 + (control >> 2);
  if (control & 1) {
    fuzz_socks(input, chunk, (control & 2) != 0);
  } else {
    fuzz_connect(input, chunk);
  }
  // The same bytes as a SOCKS5 server's side of a capture.
  if (auto refusal = trace::socks5_refusal(input)) REQUIRE_CONTRACT(!refusal->empty());
  return 0;
}
