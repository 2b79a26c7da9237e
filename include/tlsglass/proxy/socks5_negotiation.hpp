// The SOCKS5 negotiation a client runs before its tunnel, from the server's side: RFC 1928
// (method selection, the CONNECT request, the reply) and RFC 1929 (username/password).
//
// Pure: bytes in, the bytes to answer and the target out; the Connection writes and dials.
// Like a CONNECT head, the negotiation may arrive in pieces or pipelined with the first tunnel
// bytes (the ClientHello), so the result says where the tunnel starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/proxy/proxy.hpp"
#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::proxy {

// RFC 1928 §6, the REP field.
enum class SocksReply : std::uint8_t {
  succeeded = 0x00,
  general_failure = 0x01,
  not_allowed = 0x02,  // connection not allowed by ruleset (--allow-dest)
  network_unreachable = 0x03,
  host_unreachable = 0x04,
  connection_refused = 0x05,
  ttl_expired = 0x06,
  command_not_supported = 0x07,
  address_type_not_supported = 0x08,
};

struct SocksStep {
  enum class State : std::uint8_t {
    need_more,  // write `reply` (when not empty: a method selection, an auth status), read on
    complete,   // write `reply`, then dial `target`; the tunnel starts at `tunnel_offset`
    refused,    // write `reply` (may be empty), then close: `reason` says why
  };
  State state = State::need_more;
  std::string reply;
  HostPort target;
  std::size_t tunnel_offset = 0;  // into the last chunk fed
  std::string reason;
};

class Socks5Negotiation {
 public:
  // `credentials`: when set, the client must authenticate with them (RFC 1929, method 0x02);
  // otherwise only "no authentication required" (0x00) is accepted.
  explicit Socks5Negotiation(std::optional<SocksCredentials> credentials);

  // Feeds the next bytes the client sent. After `complete` or `refused`, feed nothing more.
  SocksStep feed(tls::Bytes chunk);

 private:
  enum class Stage : std::uint8_t { greeting, auth, request };
  // How many bytes of `buffer_` the current message needs (0: not known yet).
  std::size_t message_length() const;
  SocksStep refuse(std::string reply, std::string reason);

  std::optional<SocksCredentials> credentials_;
  Stage stage_ = Stage::greeting;
  std::vector<std::uint8_t> buffer_;  // one message at a time: at most 513 bytes
};

// The reply to a CONNECT request (RFC 1928 §6): `reply`, and BND.ADDR/BND.PORT - the address
// the proxy's connection to the server has on its side (all zero when there is none).
std::string socks_reply_bytes(SocksReply reply, const std::optional<trace::Endpoint>& bound = {});

// "host unreachable": the RFC's words for a reply code, for the record.
const char* socks_reply_words(SocksReply reply);

}  // namespace tlsglass::proxy
