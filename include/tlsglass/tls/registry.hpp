// Names from the IANA TLS registries. One sorted constexpr table per registry lives in
// src/tls/registry.cpp; lookups index a table of positions by code point.
//
// name_of_*() returns the IANA name, "GREASE" for RFC 8701 values, and "0x1a2b" (lower-case
// hex, 4 digits; 2 digits for 8-bit registries) for unknown code points.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tlsglass::tls {

struct RegistryEntry {
  std::uint16_t code;
  std::string_view name;
};

enum class Registry {
  cipher_suite,      // TLS Cipher Suites (incl. legacy and SSLv2-compatible 0x00xx suites)
  named_group,       // TLS Supported Groups (incl. X25519MLKEM768, X25519Kyber768Draft00)
  signature_scheme,  // TLS SignatureScheme
  extension,         // TLS ExtensionType Values
  alert,             // TLS Alerts (description)
  handshake_type,    // TLS HandshakeType
  content_type,      // TLS ContentType
  ec_point_format,   // EC Point Format
  psk_key_exchange_mode,
  certificate_compression,  // TLS Certificate Compression Algorithm IDs (RFC 8879)
};

// The whole sorted table, for tests (sortedness, no duplicates).
std::span<const RegistryEntry> registry_table(Registry registry);

// The IANA name, or nullopt for an unknown code point (GREASE is not in the tables).
std::optional<std::string_view> lookup(Registry registry, std::uint16_t code);

// Name for logs: IANA name, "GREASE", or "0x1a2b".
std::string name_of(Registry registry, std::uint16_t code);

inline std::string cipher_suite_name(std::uint16_t code) {
  return name_of(Registry::cipher_suite, code);
}
inline std::string group_name(std::uint16_t code) { return name_of(Registry::named_group, code); }
inline std::string signature_scheme_name(std::uint16_t code) {
  return name_of(Registry::signature_scheme, code);
}
inline std::string extension_name(std::uint16_t code) {
  return name_of(Registry::extension, code);
}
inline std::string alert_name(std::uint8_t code) { return name_of(Registry::alert, code); }
inline std::string handshake_type_name(std::uint8_t code) {
  return name_of(Registry::handshake_type, code);
}

// Protocol version as the record writes it: "1.3", "1.2", "1.1", "1.0", "3.0" (SSLv3),
// "2.0" (SSLv2, 0x0002 or 0x0200), drafts as "1.3-draft23" (0x7f17), Facebook's/Google's
// experimental 0x7e01.. as "1.3-exp0x7e01", GREASE as "GREASE", else "0x1a2b".
std::string version_name(std::uint16_t version);

// "tls" or "ssl", the ECS tls.version_protocol of a version.
std::string_view version_protocol(std::uint16_t version);

// Key exchange of a TLS <=1.2 cipher suite, from its IANA name: true for ECDHE/ECDH suites,
// whose ServerKeyExchange names a curve (RFC 8422 §5.4).
bool cipher_suite_uses_ecdhe(std::uint16_t code);

}  // namespace tlsglass::tls
