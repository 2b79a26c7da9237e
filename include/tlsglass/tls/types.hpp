// Wire-level enumerations shared by the tls/ parsers (RFC 8446 §5.1, §4; RFC 5246 §6.2.1, §7.4).
#pragma once

#include <cstdint>

namespace tlsglass::tls {

enum class ContentType : std::uint8_t {
  change_cipher_spec = 20,
  alert = 21,
  handshake = 22,
  application_data = 23,
  heartbeat = 24,
};

enum class HandshakeType : std::uint8_t {
  hello_request = 0,
  client_hello = 1,
  server_hello = 2,
  hello_verify_request = 3,
  new_session_ticket = 4,
  end_of_early_data = 5,
  encrypted_extensions = 8,
  certificate = 11,
  server_key_exchange = 12,
  certificate_request = 13,
  server_hello_done = 14,
  certificate_verify = 15,
  client_key_exchange = 16,
  finished = 20,
  certificate_url = 21,
  certificate_status = 22,
  supplemental_data = 23,
  key_update = 24,
  compressed_certificate = 25,
  message_hash = 254,
};

// Protocol versions as they appear on the wire.
namespace version {
inline constexpr std::uint16_t ssl2 = 0x0002;
inline constexpr std::uint16_t ssl3 = 0x0300;
inline constexpr std::uint16_t tls10 = 0x0301;
inline constexpr std::uint16_t tls11 = 0x0302;
inline constexpr std::uint16_t tls12 = 0x0303;
inline constexpr std::uint16_t tls13 = 0x0304;
}  // namespace version

// Extension code points used by the parsers (IANA "TLS ExtensionType Values").
namespace ext {
inline constexpr std::uint16_t server_name = 0;
inline constexpr std::uint16_t status_request = 5;
inline constexpr std::uint16_t supported_groups = 10;
inline constexpr std::uint16_t ec_point_formats = 11;
inline constexpr std::uint16_t signature_algorithms = 13;
inline constexpr std::uint16_t alpn = 16;
inline constexpr std::uint16_t encrypt_then_mac = 22;
inline constexpr std::uint16_t padding = 21;
inline constexpr std::uint16_t extended_master_secret = 23;
inline constexpr std::uint16_t compress_certificate = 27;
inline constexpr std::uint16_t record_size_limit = 28;
inline constexpr std::uint16_t session_ticket = 35;
inline constexpr std::uint16_t pre_shared_key = 41;
inline constexpr std::uint16_t early_data = 42;
inline constexpr std::uint16_t supported_versions = 43;
inline constexpr std::uint16_t psk_key_exchange_modes = 45;
inline constexpr std::uint16_t signature_algorithms_cert = 50;
inline constexpr std::uint16_t key_share = 51;
inline constexpr std::uint16_t encrypted_client_hello = 0xfe0d;
inline constexpr std::uint16_t renegotiation_info = 0xff01;
}  // namespace ext

// RFC 8701: GREASE code points are 0x?a?a with both bytes equal.
constexpr bool is_grease(std::uint16_t v) {
  return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

}  // namespace tlsglass::tls
