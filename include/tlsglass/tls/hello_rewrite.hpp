// The captured ClientHello, taken out of a client's stream and made ready to be sent again
// (`tlsglass replay --to`): where it ends in the stream, the handshake message reassembled from
// its records, the same message framed into a chosen number of records, and the same message
// with another server_name. Pure and bounded like the rest of tls/: every read goes through
// ByteReader, nothing larger than RecordLimits is buffered, malformed input is a named error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/tls/record_reader.hpp"

namespace tlsglass::tls {

enum class HelloRewriteError : std::uint8_t {
  none,
  not_tls,            // the stream does not start with a TLS record (garbage, or a prelude)
  sslv2_hello,        // an SSLv2-format CLIENT-HELLO: it has no TLS records to re-frame
  not_client_hello,   // the first record or message is something else (alert, ServerHello...)
  incomplete,         // the bytes end before the ClientHello does
  record_too_long,    // a record longer than RecordLimits::max_record_length
  message_too_large,  // a ClientHello longer than RecordLimits::max_handshake_message
  malformed_hello,    // its fields or extensions do not frame (RFC 8446 §4.1.2), or two SNIs
  bad_host_name,      // an empty host name (RFC 6066 §3: HostName<1..2^16-1>)
  too_large,          // the rewritten hello would overflow its extensions length (uint16)
};

std::string_view hello_rewrite_error_name(HelloRewriteError error);

// The first ClientHello of a client's stream, as it was carried.
struct ReassembledClientHello {
  std::vector<std::uint8_t> message;  // handshake header (type, uint24 length) + body
  std::uint16_t record_version = 0;   // legacy_record_version of the record that began it
  std::uint32_t records = 0;          // records that carried it
  // Offset just past the record that completed it: what a re-send of "the client's handshake
  // bytes up to the end of the ClientHello" sends. For an SSLv2 hello (error sslv2_hello)
  // this is set too: its one record can be sent as it is, only not re-framed.
  std::size_t stream_end = 0;
  // Handshake bytes after the hello inside its last record (none from any real client); they
  // are part of [0, stream_end) but not of `message`.
  std::size_t trailing_bytes = 0;
  HelloRewriteError error = HelloRewriteError::none;

  bool ok() const { return error == HelloRewriteError::none; }
};

// Reassembles the first ClientHello from the TLS records at the start of `client_stream`
// (RFC 8446 §5.1: a handshake message may span records). Only handshake records may come
// before it is complete. The stream must start with a record: strip any plaintext prelude
// (CONNECT, STARTTLS...) first. Bytes after the completing record are never looked at.
ReassembledClientHello client_hello_message(Bytes client_stream, RecordLimits limits = {});

// Offset just past the record that completes the first ClientHello; nullopt when the stream
// holds no complete ClientHello in TLS records (incomplete, malformed framing, SSLv2, not TLS).
std::optional<std::size_t> client_hello_end(Bytes client_stream, RecordLimits limits = {});

// RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14.
inline constexpr std::size_t kMaxPlaintextRecord = std::size_t{1} << 14;
// More records than this serve no test (a 2 KB hello in 4096 one-byte records is already
// 10 KB of headers) and only grow the output.
inline constexpr std::size_t kMaxHandshakeRecords = 4096;

// How many records frame_handshake() uses for a `message_size`-byte message when asked for
// `requested`: at least the fewest that keep every payload within 2^14 (so 1 -- "single" --
// means that minimum for a message larger than one record holds), at most one per byte and
// kMaxHandshakeRecords. 0 for an empty message.
std::size_t handshake_record_count(std::size_t message_size, std::size_t requested);

// `message` (one or more whole handshake messages) cut into handshake_record_count() records
// of type handshake and `record_version` (RFC 8446 §5.1: legacy_record_version, 0x0301 in a
// first ClientHello), sizes as even as possible: the first (size % count) records carry one
// byte more than the rest. Record boundaries ignore message boundaries, as §5.1 allows.
std::vector<std::uint8_t> frame_handshake(Bytes message, std::size_t requested_records,
                                          std::uint16_t record_version);

// A ClientHello message with another server_name.
struct RewrittenClientHello {
  std::vector<std::uint8_t> message;  // handshake header + body; empty on error
  HelloRewriteError error = HelloRewriteError::none;
  // The hello offers a PSK (RFC 8446 §4.2.11.2): its binders were computed over the original
  // bytes, so a server that checks them fails the rewritten hello (decrypt_error/illegal_
  // parameter) or falls back to a full handshake. Set only when the bytes changed.
  bool stale_psk_binders = false;
  // The hello carries an outer encrypted_client_hello: the inner hello was sealed with the
  // outer hello as associated data (draft-ietf-tls-esni §5.2), so the server can no longer
  // open it and answers as to the outer hello. Set only when the bytes changed.
  bool stale_ech = false;

  bool ok() const { return error == HelloRewriteError::none; }
};

// `message` (a ClientHello handshake message: header + body, as client_hello_message() gives
// it) with its server_name extension (RFC 6066 §3) set to one host_name entry holding
// `host_name`: replaced where it stands, or added as the first extension when absent (first,
// because pre_shared_key must stay last, RFC 8446 §4.2.11). nullopt removes the extension (a
// hello that has none comes back unchanged). An empty name is bad_host_name: RFC 6066 allows
// no empty HostName; the caller maps "--sni ''" to nullopt if it means "no SNI". The name is
// sent as given (no IDNA, no validation): testing odd names is the point.
//
// Every other byte is kept: same extensions in the same order, same key shares, random and
// session id. The extensions block length and the handshake length are fixed up. Hence:
//   - replacing a name keeps JA3 and JA4 identical (neither covers the name itself);
//   - adding or removing one changes JA3's extension list, and JA4's SNI flag ('d'/'i') and
//     extension count, exactly as a client sending or omitting SNI would;
//   - a padding extension (RFC 7685, type 21) is left as it is, so the hello's size changes
//     by the difference in name lengths: a hello padded to dodge a middlebox's size bug
//     (BoringSSL pads 256..511-byte hellos to 512) may land back in that range.
RewrittenClientHello with_server_name(Bytes message, std::optional<std::string_view> host_name);

}  // namespace tlsglass::tls
