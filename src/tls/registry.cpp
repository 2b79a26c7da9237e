// Names for TLS code points: one sorted constexpr table per IANA registry (the data lives in
// registry_tables.inc), looked up through a table of positions by code point, plus the protocol-version names, which
// follow rules rather than a table because drafts and experiments encode a number in the
// low octet.
#include "tlsglass/tls/registry.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

#include "tlsglass/tls/types.hpp"

namespace tlsglass::tls {
namespace {

#include "registry_tables.inc"

// How wide a registry's code points are on the wire; it decides both the width of the "0x.."
// fallback and whether RFC 8701 GREASE can occur (GREASE values are all 16-bit).
enum class CodeWidth { one_octet, two_octets };

struct RegistryDescription {
  Registry registry;
  std::span<const RegistryEntry> entries;
  CodeWidth width;
};

// Indexed by the Registry enumerator's value; checked below.
constexpr RegistryDescription kRegistries[] = {
    {Registry::cipher_suite, kCipherSuites, CodeWidth::two_octets},
    {Registry::named_group, kNamedGroups, CodeWidth::two_octets},
    {Registry::signature_scheme, kSignatureSchemes, CodeWidth::two_octets},
    {Registry::extension, kExtensions, CodeWidth::two_octets},
    {Registry::alert, kAlerts, CodeWidth::one_octet},
    {Registry::handshake_type, kHandshakeTypes, CodeWidth::one_octet},
    {Registry::content_type, kContentTypes, CodeWidth::one_octet},
    {Registry::ec_point_format, kEcPointFormats, CodeWidth::one_octet},
    {Registry::psk_key_exchange_mode, kPskKeyExchangeModes, CodeWidth::one_octet},
    // RFC 8879 §3: CertificateCompressionAlgorithm is a uint16.
    {Registry::certificate_compression, kCertificateCompressionAlgorithms, CodeWidth::two_octets},
};

constexpr bool registries_in_enum_order() {
  for (std::size_t i = 0; i < std::size(kRegistries); ++i) {
    if (kRegistries[i].registry != static_cast<Registry>(i)) return false;
  }
  return true;
}
static_assert(registries_in_enum_order(), "kRegistries must be indexed by Registry");

constexpr bool strictly_ascending(std::span<const RegistryEntry> entries) {
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i - 1].code >= entries[i].code) return false;
  }
  return true;
}

constexpr bool all_tables_strictly_ascending() {
  for (const auto& description : kRegistries) {
    if (!strictly_ascending(description.entries)) return false;
  }
  return true;
}
// Binary search needs it; a misplaced row fails the build rather than a lookup.
static_assert(all_tables_strictly_ascending(), "registry tables must be sorted by code");

const RegistryDescription* describe(Registry registry) {
  const auto index = static_cast<std::size_t>(registry);
  if (index >= std::size(kRegistries)) return nullptr;
  return &kRegistries[index];
}

// Where each code point's entry is in its registry's table (position + 1; 0: not named), for
// all registries: a binary search per name was a tenth of writing a record, and a record names
// some sixty code points. Static storage, zero until filled: only the pages holding codes the
// tables name, or that lookups ask for, are ever backed by memory.
using CodePositions = std::array<std::uint16_t, 1 << 16>;

const CodePositions& code_positions(std::size_t registry) {
  static CodePositions positions[std::size(kRegistries)];
  static const bool filled = [] {
    for (std::size_t r = 0; r < std::size(kRegistries); ++r) {
      const auto entries = kRegistries[r].entries;
      for (std::size_t i = 0; i < entries.size(); ++i)
        positions[r][entries[i].code] = static_cast<std::uint16_t>(i + 1);
    }
    return true;
  }();
  (void)filled;
  return positions[registry];
}

constexpr bool tables_fit_positions() {
  for (const auto& description : kRegistries) {
    if (description.entries.size() >= std::numeric_limits<std::uint16_t>::max()) return false;
  }
  return true;
}
static_assert(tables_fit_positions());

std::optional<std::string_view> find(std::span<const RegistryEntry> entries, std::uint16_t code) {
  const auto it = std::lower_bound(
      entries.begin(), entries.end(), code,
      [](const RegistryEntry& entry, std::uint16_t wanted) { return entry.code < wanted; });
  if (it == entries.end() || it->code != code) return std::nullopt;
  return it->name;
}

// "0x" + lower-case hex, at least `min_digits` digits (4 whenever the value needs them).
std::string hex_code(std::uint16_t code, int min_digits) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  const int digits = code > 0xff ? 4 : min_digits;
  std::string out = "0x";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out += kDigits[(code >> shift) & 0xf];
  }
  return out;
}

// Versions with a fixed name. RFC 8446 §5.1 / RFC 5246 §6.2.1 for TLS, RFC 6101 §5.2.1 for
// SSL 3.0; SSL 2.0 says 0x0002 in its CLIENT-HELLO, and some stacks write it as 0x0200 in a
// record version. DTLS counts down from 0xfeff (RFC 6347 §4.1, RFC 9147 §4); 0x0100 is
// OpenSSL's pre-RFC DTLS (DTLS1_BAD_VER, OpenSSL < 0.9.8f).
constexpr RegistryEntry kVersionNames[] = {
    {0x0002, "2.0"},     {0x0100, "dtls-pre1.0"}, {0x0200, "2.0"},     {0x0300, "3.0"},
    {0x0301, "1.0"},     {0x0302, "1.1"},         {0x0303, "1.2"},     {0x0304, "1.3"},
    {0xfefc, "dtls1.3"}, {0xfefd, "dtls1.2"},     {0xfeff, "dtls1.0"},
};
static_assert(strictly_ascending(kVersionNames));

// Version families that carry a number in the low octet.
constexpr std::uint8_t kTls13DraftHigh = 0x7f;     // 0x7f00 | draft (draft-ietf-tls-tls13 §4.2.1)
constexpr std::uint8_t kFacebookDraftHigh = 0xfb;  // Facebook's Fizz: 0xfb00 | draft
constexpr std::uint8_t kGoogleExperimentHigh = 0x7e;  // Chrome's 2017 TLS 1.3 experiments

}  // namespace

std::span<const RegistryEntry> registry_table(Registry registry) {
  const auto* description = describe(registry);
  if (description == nullptr) return {};
  return description->entries;
}

std::optional<std::string_view> lookup(Registry registry, std::uint16_t code) {
  const auto* description = describe(registry);
  if (description == nullptr) return std::nullopt;
  const std::uint16_t position = code_positions(static_cast<std::size_t>(registry))[code];
  if (position == 0) return std::nullopt;
  return description->entries[position - 1u].name;
}

std::string name_of(Registry registry, std::uint16_t code) {
  const auto* description = describe(registry);
  const bool two_octets = description == nullptr || description->width == CodeWidth::two_octets;
  // RFC 8701 §2: GREASE values are reserved in the 16-bit registries only.
  if (two_octets && is_grease(code)) return "GREASE";
  if (auto name = lookup(registry, code)) return std::string(*name);
  return hex_code(code, two_octets ? 4 : 2);
}

std::string version_name(std::uint16_t version) {
  // RFC 8701 §2 reserves the GREASE values in supported_versions too.
  if (is_grease(version)) return "GREASE";
  if (auto name = find(kVersionNames, version)) return std::string(*name);
  const auto high = static_cast<std::uint8_t>(version >> 8);
  const auto low = static_cast<std::uint8_t>(version & 0xff);
  if (low != 0) {
    if (high == kTls13DraftHigh) return "1.3-draft" + std::to_string(low);
    if (high == kFacebookDraftHigh) return "1.3-fb-draft" + std::to_string(low);
    if (high == kGoogleExperimentHigh) return "1.3-exp" + hex_code(version, 4);
  }
  return hex_code(version, 4);
}

std::string_view version_protocol(std::uint16_t version) {
  // SSL 2.0 and SSL 3.0 are "ssl"; everything since TLS 1.0 (RFC 2246), DTLS included, "tls".
  constexpr std::array<std::uint16_t, 3> kSslVersions = {0x0002, 0x0200, 0x0300};
  const bool ssl =
      std::find(kSslVersions.begin(), kSslVersions.end(), version) != kSslVersions.end();
  return ssl ? "ssl" : "tls";
}

bool cipher_suite_uses_ecdhe(std::uint16_t code) {
  // RFC 8422 §5.4: ECDHE_* and ECDH_anon suites send ECParameters in the ServerKeyExchange
  // (fixed ECDH_ECDSA/ECDH_RSA send none). "TLS_ECDH_" also matches ECDH_anon; "TLS_ECDHE_"
  // includes ECDHE_PSK, whose ServerKeyExchange puts a psk_identity_hint first (RFC 5489 §2).
  const auto name = lookup(Registry::cipher_suite, code);
  if (!name) return false;
  return name->starts_with("TLS_ECDHE_") || name->starts_with("TLS_ECDH_");
}

}  // namespace tlsglass::tls
