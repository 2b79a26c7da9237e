// What comes before TLS on a stream, or instead of it: an HTTP CONNECT request, a SOCKS
// exchange, a STARTTLS dialogue - or a peer that does not speak TLS at all (DESIGN.md cause
// not_tls). Pure functions over the first bytes of one direction; HTTP is read with llhttp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::trace {

enum class PreludeKind : std::uint8_t {
  none,
  http_connect,  // "CONNECT host:port HTTP/1.1" then a response head, then TLS
  http_request,  // any other HTTP request: a client speaking HTTP where TLS was expected
  socks4,
  socks5,
  plaintext,     // anything else before TLS (STARTTLS dialogues, banners)
};
std::string_view prelude_kind_name(PreludeKind kind);

// Enough bytes to tell what the stream starts with: a TLS record header is 5 bytes, and the
// byte after it says which handshake message follows.
inline constexpr std::size_t kStartProbeBytes = 6;

enum class StartVerdict : std::uint8_t { need_more, tls, not_tls };

// Whether `start` (the first bytes of a direction) opens a TLS record - type 20..24, version
// 0x03xx - or an SSLv2-format CLIENT-HELLO / SERVER-HELLO. Decides on fewer bytes when they
// already rule TLS out.
StartVerdict classify_start(tls::Bytes start);

PreludeKind classify_client_prelude(tls::Bytes start);

// Offset of the first record header in `bytes` that opens a ClientHello (client) or a
// ServerHello / plaintext alert (server), searched from `from`.
std::optional<std::size_t> find_tls_start(tls::Bytes bytes, bool client, std::size_t from = 0);

// The start line of an HTTP message ("HTTP/1.1 400 Bad Request", "GET / HTTP/1.1"), when
// `bytes` starts with a complete one that llhttp accepts.
std::optional<std::string> http_start_line(tls::Bytes bytes, bool response);

// Length of a complete HTTP message head (through the blank line), when llhttp reads one.
std::optional<std::size_t> http_head_length(tls::Bytes bytes, bool response);

// The host a CONNECT request asked for ("example.com" of "CONNECT example.com:443 HTTP/1.1").
std::optional<std::string> connect_target_host(tls::Bytes bytes);

// "connection refused": RFC 1928 §6's words for a SOCKS5 reply code (REP).
const char* socks5_reply_words(std::uint8_t reply);

// What a SOCKS5 server's side of the negotiation says before its tunnel opens (RFC 1928
// method selection, RFC 1929 status, the reply): nullopt while it is incomplete or all went
// well, else why the tunnel never opened ("the SOCKS5 proxy answered X'05' (connection
// refused)").
std::optional<std::string> socks5_refusal(tls::Bytes server_bytes);

// A short quote of a non-TLS stream for the record: the HTTP start line when there is one,
// else the first line (at most `max_bytes`), as received (escaped later by log/).
std::string quote_stream_start(tls::Bytes bytes, std::size_t max_bytes = 120);

}  // namespace tlsglass::trace
