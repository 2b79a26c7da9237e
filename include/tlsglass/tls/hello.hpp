// ClientHello and ServerHello (incl. HelloRetryRequest), decoded from a handshake message
// body. Parsing is pure and total: malformed input yields what could be read plus `error`,
// never an exception or an out-of-bounds read.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::tls {

enum class HelloError : std::uint8_t {
  none,
  truncated,            // a field runs past the end of the message
  trailing_bytes,       // bytes left after the last field / inside an extension
  bad_length,           // an inner length disagrees with its container (odd list length, ...)
  duplicate_extension,  // RFC 8446 §4.2: at most one extension of each type
  bad_extension,        // an extension's body does not follow its RFC
  no_cipher_suites,
};

std::string_view hello_error_name(HelloError error);

struct KeyShareEntry {
  std::uint16_t group = 0;
  std::uint16_t key_length = 0;
};

struct ClientHello {
  bool sslv2 = false;                  // SSLv2-format CLIENT-HELLO (RFC 5246 appendix E.2)
  std::uint16_t legacy_version = 0;
  std::array<std::uint8_t, 32> random{};  // SSLv2: challenge, right-aligned
  std::vector<std::uint8_t> session_id;
  std::vector<std::uint16_t> cipher_suites;       // wire order, GREASE included
  std::vector<std::uint32_t> sslv2_cipher_specs;  // SSLv2 only: 3-byte specs, wire order
  std::vector<std::uint8_t> compression_methods;
  bool has_extensions_block = false;
  std::vector<std::uint16_t> extensions;  // every extension type in wire order, GREASE included

  // Decoded extensions (present only when the extension was sent and decoded).
  std::optional<std::string> server_name;  // host_name entry, raw bytes (not validated)
  std::vector<std::uint16_t> supported_versions;
  std::vector<std::uint16_t> supported_groups;
  std::vector<KeyShareEntry> key_shares;
  std::vector<std::uint16_t> signature_algorithms;
  std::vector<std::uint16_t> signature_algorithms_cert;
  std::vector<std::string> alpn;  // raw protocol names (may hold any bytes)
  std::vector<std::uint8_t> ec_point_formats;
  std::vector<std::uint8_t> psk_key_exchange_modes;
  std::uint16_t psk_identities = 0;  // pre_shared_key: number of identities offered
  std::optional<std::uint8_t> status_request_type;  // 1 = ocsp
  std::optional<std::uint16_t> record_size_limit;
  std::vector<std::uint16_t> compress_certificate_algorithms;
  std::optional<std::uint16_t> padding_length;
  std::uint16_t session_ticket_length = 0;  // 0 = empty (new ticket requested)
  std::uint16_t renegotiation_info_length = 0;
  bool ech = false;  // encrypted_client_hello (0xfe0d) of type outer: the real SNI is hidden

  HelloError error = HelloError::none;
  std::uint16_t error_extension = 0;  // the extension being decoded when error was set

  bool has_extension(std::uint16_t type) const;
};

struct ServerHello {
  bool sslv2 = false;  // SSLv2 SERVER-HELLO
  std::uint16_t legacy_version = 0;
  std::array<std::uint8_t, 32> random{};
  std::vector<std::uint8_t> session_id;
  std::uint16_t cipher_suite = 0;
  std::vector<std::uint32_t> sslv2_cipher_specs;  // SSLv2 only
  std::uint8_t compression_method = 0;
  bool has_extensions_block = false;
  std::vector<std::uint16_t> extensions;

  std::optional<std::uint16_t> selected_version;   // supported_versions
  std::optional<std::uint16_t> key_share_group;    // key_share (HRR: the group asked for)
  std::optional<std::string> alpn;                 // TLS <=1.2 (in 1.3 it is encrypted)
  std::optional<std::uint16_t> selected_psk;       // pre_shared_key: chosen identity
  std::vector<std::uint8_t> ec_point_formats;
  bool extended_master_secret = false;
  bool hello_retry_request = false;  // RFC 8446 §4.1.3: the special random

  HelloError error = HelloError::none;
  std::uint16_t error_extension = 0;

  // The version the server chose: supported_versions if present, else legacy_version
  // (SSLv2: 0x0002).
  std::uint16_t negotiated_version() const;
  bool has_extension(std::uint16_t type) const;
};

// `body` is the handshake message body (after the 4-byte handshake header).
ClientHello parse_client_hello(Bytes body);
ServerHello parse_server_hello(Bytes body);

// SSLv2 messages: `body` starts after the 1-byte message type (RFC 5246 appendix E.2 and the
// SSL 2.0 draft). CLIENT-HELLO: version, cipher_specs_length, session_id_length,
// challenge_length, then the three fields. SERVER-HELLO: session_id_hit, certificate_type,
// version, certificate_length, cipher_specs_length, connection_id_length, then the fields.
ClientHello parse_sslv2_client_hello(Bytes body);
ServerHello parse_sslv2_server_hello(Bytes body);

}  // namespace tlsglass::tls
