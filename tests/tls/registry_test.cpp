// Specifications for the IANA name registries (src/tls/registry.cpp).
//
// Expected names come from the RFCs that define the code points (cited per case) and from the
// corpus's independent oracles: Zeek's ssl.log and Arkime's session JSON name the cipher suite,
// curve, alert and version of real connections whose code points tshark extracted.
#include "tlsglass/tls/registry.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/types.hpp"

namespace tls = tlsglass::tls;
using tls::Registry;
using Json = nlohmann::json;

namespace {

constexpr Registry kAllRegistries[] = {
    Registry::cipher_suite,
    Registry::named_group,
    Registry::signature_scheme,
    Registry::extension,
    Registry::alert,
    Registry::handshake_type,
    Registry::content_type,
    Registry::ec_point_format,
    Registry::psk_key_exchange_mode,
    Registry::certificate_compression,
};

// Registries whose code points are two octets on the wire (RFC 8701 GREASE applies).
constexpr Registry kSixteenBitRegistries[] = {
    Registry::cipher_suite,
    Registry::named_group,
    Registry::signature_scheme,
    Registry::extension,
    Registry::certificate_compression,
};

// RFC 8701 §2: the sixteen GREASE values 0x0A0A, 0x1A1A, ..., 0xFAFA.
std::vector<std::uint16_t> grease_values() {
  std::vector<std::uint16_t> values;
  for (int nibble = 0; nibble < 16; ++nibble) {
    const int octet = nibble << 4 | 0x0a;
    values.push_back(static_cast<std::uint16_t>(octet << 8 | octet));
  }
  return values;
}

struct CorpusCapture {
  std::string path;
  Json document;
};

// Every expected/<source>/<capture>.json of the corpus, parsed once; empty without a corpus.
const std::vector<CorpusCapture>& corpus_captures() {
  static const std::vector<CorpusCapture> captures = [] {
    std::vector<CorpusCapture> loaded;
    const auto dir = tlsglass::test::corpus_dir();
    if (!dir) return loaded;
    for (const auto& source : std::filesystem::directory_iterator(*dir + "/expected")) {
      if (!source.is_directory()) continue;
      for (const auto& file : std::filesystem::directory_iterator(source.path())) {
        if (file.path().extension() != ".json") continue;
        std::ifstream in(file.path());
        loaded.push_back({file.path().string(), Json::parse(in)});
      }
    }
    return loaded;
  }();
  return captures;
}

bool have_corpus() {
  if (!corpus_captures().empty()) return true;
  WARN("TLSGLASS_CORPUS is not set or has no expected/ directory: corpus cross-check skipped");
  return false;
}

// Calls visit(connection) for every connection of every capture.
template <typename Visit>
void for_each_connection(Visit visit) {
  for (const auto& capture : corpus_captures()) {
    for (const auto& [key, connection] : capture.document.at("connections").items()) {
      visit(capture.path + " " + key, connection);
    }
  }
}

const Json* object_member(const Json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Arkime stores single values as one-element lists.
std::optional<std::string> single_string(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array() && value.size() == 1 && value[0].is_string()) {
    return value[0].get<std::string>();
  }
  return std::nullopt;
}

void add_codes(const Json& hello, const char* field, std::set<std::uint16_t>& codes) {
  if (const auto* list = object_member(hello, field)) {
    for (const auto& code : *list) codes.insert(code.get<std::uint16_t>());
  }
}

// Code points of one registry found in tshark's view of every hello in the corpus.
struct CorpusCodes {
  std::set<std::uint16_t> cipher_suites, extensions, groups, signature_schemes;
};

CorpusCodes collect_corpus_codes() {
  CorpusCodes codes;
  for_each_connection([&](const std::string&, const Json& connection) {
    const auto* tshark = object_member(connection, "tshark");
    if (tshark == nullptr) return;
    if (const auto* hellos = object_member(*tshark, "client_hellos")) {
      for (const auto& hello : *hellos) {
        // An SSLv2 CLIENT-HELLO lists 3-byte cipher specs, a different registry.
        if (hello.value("sslv2", false)) continue;
        add_codes(hello, "ciphers", codes.cipher_suites);
        add_codes(hello, "extensions", codes.extensions);
        add_codes(hello, "groups", codes.groups);
        add_codes(hello, "sig_algs", codes.signature_schemes);
      }
    }
    if (const auto* hellos = object_member(*tshark, "server_hellos")) {
      for (const auto& hello : *hellos) {
        if (const auto* cipher = object_member(hello, "cipher")) {
          codes.cipher_suites.insert(cipher->get<std::uint16_t>());
        }
        add_codes(hello, "extensions", codes.extensions);
      }
    }
  });
  return codes;
}

// Counts how many distinct codes have a name; WARNs the rest and returns the non-GREASE ones
// that are not listed as known non-code-points.
std::set<std::uint16_t> unnamed_codes(Registry registry, const std::set<std::uint16_t>& codes,
                                      const std::set<std::uint16_t>& not_code_points,
                                      const char* what) {
  std::set<std::uint16_t> unnamed;
  std::size_t named = 0, grease = 0;
  for (const auto code : codes) {
    if (tls::is_grease(code)) {
      ++grease;
    } else if (tls::lookup(registry, code)) {
      ++named;
    } else {
      WARN(what << " " << tls::name_of(registry, code) << " seen in the corpus has no name");
      if (!not_code_points.contains(code)) unnamed.insert(code);
    }
  }
  WARN(what << ": " << codes.size() << " distinct codes in the corpus, " << named << " named, "
            << grease << " GREASE");
  return unnamed;
}

}  // namespace

TEST_CASE("Every registry table is sorted strictly ascending and free of duplicate codes") {
  for (const auto registry : kAllRegistries) {
    const auto table = tls::registry_table(registry);
    INFO("registry #" << static_cast<int>(registry));
    REQUIRE_FALSE(table.empty());
    for (std::size_t i = 1; i < table.size(); ++i) {
      INFO("entry " << i << " (" << table[i].name << ")");
      CHECK(table[i - 1].code < table[i].code);
    }
    for (const auto& entry : table) {
      CHECK_FALSE(entry.name.empty());
      // The tables name code points; GREASE is answered by name_of, never by a row.
      CHECK_FALSE(tls::is_grease(entry.code));
    }
  }
}

TEST_CASE("Every row of a table is found by lookup under its own code") {
  for (const auto registry : kAllRegistries) {
    for (const auto& entry : tls::registry_table(registry)) {
      const auto found = tls::lookup(registry, entry.code);
      REQUIRE(found.has_value());
      CHECK(*found == entry.name);
    }
  }
}

TEST_CASE("8-bit registries only hold one-octet codes") {
  for (const auto registry : {Registry::alert, Registry::handshake_type, Registry::content_type,
                              Registry::ec_point_format, Registry::psk_key_exchange_mode}) {
    for (const auto& entry : tls::registry_table(registry)) CHECK(entry.code <= 0xff);
  }
}

TEST_CASE("TLS 1.3 cipher suites carry their RFC 8446 B.4 names") {
  CHECK(tls::cipher_suite_name(0x1301) == "TLS_AES_128_GCM_SHA256");
  CHECK(tls::cipher_suite_name(0x1302) == "TLS_AES_256_GCM_SHA384");
  CHECK(tls::cipher_suite_name(0x1303) == "TLS_CHACHA20_POLY1305_SHA256");
  CHECK(tls::cipher_suite_name(0x1304) == "TLS_AES_128_CCM_SHA256");
  CHECK(tls::cipher_suite_name(0x1305) == "TLS_AES_128_CCM_8_SHA256");
}

TEST_CASE("TLS 1.2 and legacy cipher suites carry the names of the RFCs that define them") {
  // RFC 5246 §A.5
  CHECK(tls::cipher_suite_name(0x0000) == "TLS_NULL_WITH_NULL_NULL");
  CHECK(tls::cipher_suite_name(0x0005) == "TLS_RSA_WITH_RC4_128_SHA");
  CHECK(tls::cipher_suite_name(0x000a) == "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
  CHECK(tls::cipher_suite_name(0x002f) == "TLS_RSA_WITH_AES_128_CBC_SHA");
  CHECK(tls::cipher_suite_name(0x003c) == "TLS_RSA_WITH_AES_128_CBC_SHA256");
  CHECK(tls::cipher_suite_name(0x006b) == "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256");
  // RFC 4346 §A.5 (export), RFC 5469 §2 (IDEA, DES), RFC 2712 §3 (Kerberos)
  CHECK(tls::cipher_suite_name(0x0003) == "TLS_RSA_EXPORT_WITH_RC4_40_MD5");
  CHECK(tls::cipher_suite_name(0x0007) == "TLS_RSA_WITH_IDEA_CBC_SHA");
  CHECK(tls::cipher_suite_name(0x0009) == "TLS_RSA_WITH_DES_CBC_SHA");
  CHECK(tls::cipher_suite_name(0x001e) == "TLS_KRB5_WITH_DES_CBC_SHA");
  // RFC 5932 §3 (Camellia), RFC 4279 §5 (PSK), RFC 4162 §2 (SEED)
  CHECK(tls::cipher_suite_name(0x0041) == "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA");
  CHECK(tls::cipher_suite_name(0x008a) == "TLS_PSK_WITH_RC4_128_SHA");
  CHECK(tls::cipher_suite_name(0x0096) == "TLS_RSA_WITH_SEED_CBC_SHA");
  // RFC 5288 §3 (GCM), RFC 5289 §3 (ECC + GCM), RFC 8422 §6 (ECC)
  CHECK(tls::cipher_suite_name(0x009c) == "TLS_RSA_WITH_AES_128_GCM_SHA256");
  CHECK(tls::cipher_suite_name(0xc02b) == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
  CHECK(tls::cipher_suite_name(0xc02f) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
  CHECK(tls::cipher_suite_name(0xc030) == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
  CHECK(tls::cipher_suite_name(0xc013) == "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
  CHECK(tls::cipher_suite_name(0xc018) == "TLS_ECDH_anon_WITH_AES_128_CBC_SHA");
  // RFC 5054 §2.7 (SRP), RFC 6209 §2 (ARIA), RFC 6655 §3 and RFC 7251 §2 (CCM)
  CHECK(tls::cipher_suite_name(0xc01a) == "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA");
  CHECK(tls::cipher_suite_name(0xc03c) == "TLS_RSA_WITH_ARIA_128_CBC_SHA256");
  CHECK(tls::cipher_suite_name(0xc09c) == "TLS_RSA_WITH_AES_128_CCM");
  CHECK(tls::cipher_suite_name(0xc0ae) == "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8");
  // RFC 7905 §2 (ChaCha20-Poly1305), RFC 8442 §3 (ECDHE_PSK AEAD), RFC 9150 §5, RFC 9189 §A
  CHECK(tls::cipher_suite_name(0xcca8) == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
  CHECK(tls::cipher_suite_name(0xcca9) == "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
  CHECK(tls::cipher_suite_name(0xd001) == "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256");
  CHECK(tls::cipher_suite_name(0xc0b4) == "TLS_SHA256_SHA256");
  CHECK(tls::cipher_suite_name(0xc0b5) == "TLS_SHA384_SHA384");
  CHECK(tls::cipher_suite_name(0xc100) == "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC");
}

TEST_CASE("Signalling cipher suite values are named after RFC 5746 and RFC 7507") {
  CHECK(tls::cipher_suite_name(0x00ff) == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV");  // RFC 5746 §3.3
  CHECK(tls::cipher_suite_name(0x5600) == "TLS_FALLBACK_SCSV");                  // RFC 7507 §2
}

TEST_CASE("Pre-standard ChaCha20 suites old Chrome sent are named apart from RFC 7905's") {
  // draft-agl-tls-chacha20poly1305 used 0xcc13-0xcc15; Zeek names them with an _OLD suffix.
  CHECK(tls::cipher_suite_name(0xcc13) == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD");
  CHECK(tls::cipher_suite_name(0xcc14) == "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256_OLD");
  CHECK(tls::cipher_suite_name(0xcc15) == "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD");
}

TEST_CASE("Named groups carry their RFC 8446 §4.2.7 and RFC 8422 names") {
  CHECK(tls::group_name(0x0017) == "secp256r1");
  CHECK(tls::group_name(0x0018) == "secp384r1");
  CHECK(tls::group_name(0x0019) == "secp521r1");
  CHECK(tls::group_name(0x001d) == "x25519");
  CHECK(tls::group_name(0x001e) == "x448");
  CHECK(tls::group_name(0x0100) == "ffdhe2048");  // RFC 7919 §2
  CHECK(tls::group_name(0x0101) == "ffdhe3072");
  CHECK(tls::group_name(0x0102) == "ffdhe4096");
  CHECK(tls::group_name(0x0103) == "ffdhe6144");
  CHECK(tls::group_name(0x0104) == "ffdhe8192");
  CHECK(tls::group_name(0x0001) == "sect163k1");             // RFC 8422 §5.1.1 (deprecated)
  CHECK(tls::group_name(0x001a) == "brainpoolP256r1");       // RFC 7027 §2
  CHECK(tls::group_name(0x001f) == "brainpoolP256r1tls13");  // RFC 8734 §2
  CHECK(tls::group_name(0xff01) == "arbitrary_explicit_prime_curves");
}

TEST_CASE("Post-quantum hybrid groups carry their draft names") {
  // draft-kwiatkowski-tls-ecdhe-mlkem §4
  CHECK(tls::group_name(0x11eb) == "SecP256r1MLKEM768");
  CHECK(tls::group_name(0x11ec) == "X25519MLKEM768");
  CHECK(tls::group_name(0x11ed) == "SecP384r1MLKEM1024");
  // draft-connolly-tls-mlkem-key-agreement §5
  CHECK(tls::group_name(0x0200) == "MLKEM512");
  CHECK(tls::group_name(0x0201) == "MLKEM768");
  CHECK(tls::group_name(0x0202) == "MLKEM1024");
  // draft-tls-westerbaan-xyber768d00 §4; draft-kwiatkowski-tls-ecdhe-kyber
  CHECK(tls::group_name(0x6399) == "X25519Kyber768Draft00");
  CHECK(tls::group_name(0x639a) == "SecP256r1Kyber768Draft00");
}

TEST_CASE("Signature schemes carry their RFC 8446 §4.2.3 names") {
  CHECK(tls::signature_scheme_name(0x0401) == "rsa_pkcs1_sha256");
  CHECK(tls::signature_scheme_name(0x0501) == "rsa_pkcs1_sha384");
  CHECK(tls::signature_scheme_name(0x0601) == "rsa_pkcs1_sha512");
  CHECK(tls::signature_scheme_name(0x0403) == "ecdsa_secp256r1_sha256");
  CHECK(tls::signature_scheme_name(0x0503) == "ecdsa_secp384r1_sha384");
  CHECK(tls::signature_scheme_name(0x0603) == "ecdsa_secp521r1_sha512");
  CHECK(tls::signature_scheme_name(0x0804) == "rsa_pss_rsae_sha256");
  CHECK(tls::signature_scheme_name(0x0805) == "rsa_pss_rsae_sha384");
  CHECK(tls::signature_scheme_name(0x0806) == "rsa_pss_rsae_sha512");
  CHECK(tls::signature_scheme_name(0x0807) == "ed25519");
  CHECK(tls::signature_scheme_name(0x0808) == "ed448");
  CHECK(tls::signature_scheme_name(0x0809) == "rsa_pss_pss_sha256");
  CHECK(tls::signature_scheme_name(0x080a) == "rsa_pss_pss_sha384");
  CHECK(tls::signature_scheme_name(0x080b) == "rsa_pss_pss_sha512");
  CHECK(tls::signature_scheme_name(0x0201) == "rsa_pkcs1_sha1");
  CHECK(tls::signature_scheme_name(0x0203) == "ecdsa_sha1");
  CHECK(tls::signature_scheme_name(0x0202) == "dsa_sha1_RESERVED");
  CHECK(tls::signature_scheme_name(0x0402) == "dsa_sha256_RESERVED");
  // RFC 8734 §2, RFC 8998 §3.2.1, draft-ietf-tls-mldsa §3
  CHECK(tls::signature_scheme_name(0x081a) == "ecdsa_brainpoolP256r1tls13_sha256");
  CHECK(tls::signature_scheme_name(0x0708) == "sm2sig_sm3");
  CHECK(tls::signature_scheme_name(0x0904) == "mldsa44");
  CHECK(tls::signature_scheme_name(0x0905) == "mldsa65");
  CHECK(tls::signature_scheme_name(0x0906) == "mldsa87");
}

TEST_CASE("Extensions carry their RFC 8446 §4.2 and IANA names") {
  CHECK(tls::extension_name(0) == "server_name");
  CHECK(tls::extension_name(1) == "max_fragment_length");
  CHECK(tls::extension_name(5) == "status_request");
  CHECK(tls::extension_name(10) == "supported_groups");
  CHECK(tls::extension_name(11) == "ec_point_formats");  // RFC 8422 §5.1.2
  CHECK(tls::extension_name(13) == "signature_algorithms");
  CHECK(tls::extension_name(14) == "use_srtp");
  CHECK(tls::extension_name(15) == "heartbeat");
  CHECK(tls::extension_name(16) == "application_layer_protocol_negotiation");
  CHECK(tls::extension_name(18) == "signed_certificate_timestamp");
  CHECK(tls::extension_name(19) == "client_certificate_type");
  CHECK(tls::extension_name(20) == "server_certificate_type");
  CHECK(tls::extension_name(21) == "padding");
  CHECK(tls::extension_name(22) == "encrypt_then_mac");        // RFC 7366 §2
  CHECK(tls::extension_name(23) == "extended_master_secret");  // RFC 7627 §5.1
  CHECK(tls::extension_name(27) == "compress_certificate");    // RFC 8879 §3
  CHECK(tls::extension_name(28) == "record_size_limit");       // RFC 8449 §4
  CHECK(tls::extension_name(35) == "session_ticket");          // RFC 8447 §8 renamed it
  CHECK(tls::extension_name(41) == "pre_shared_key");
  CHECK(tls::extension_name(42) == "early_data");
  CHECK(tls::extension_name(43) == "supported_versions");
  CHECK(tls::extension_name(44) == "cookie");
  CHECK(tls::extension_name(45) == "psk_key_exchange_modes");
  CHECK(tls::extension_name(47) == "certificate_authorities");
  CHECK(tls::extension_name(48) == "oid_filters");
  CHECK(tls::extension_name(49) == "post_handshake_auth");
  CHECK(tls::extension_name(50) == "signature_algorithms_cert");
  CHECK(tls::extension_name(51) == "key_share");
  CHECK(tls::extension_name(57) == "quic_transport_parameters");   // RFC 9001 §8.2
  CHECK(tls::extension_name(0xfd00) == "ech_outer_extensions");    // draft-ietf-tls-esni §5.1
  CHECK(tls::extension_name(0xfe0d) == "encrypted_client_hello");  // draft-ietf-tls-esni §5
  CHECK(tls::extension_name(0xff01) == "renegotiation_info");      // RFC 5746 §3.2
}

TEST_CASE("Widely seen extensions IANA never registered are named after their drafts") {
  CHECK(tls::extension_name(0x3374) == "next_protocol_negotiation");  // draft-agl-tls-nextprotoneg
  CHECK(tls::extension_name(0x4469) == "application_settings_old");   // draft-vvv-tls-alps
  CHECK(tls::extension_name(0x44cd) == "application_settings");
  CHECK(tls::extension_name(0x7550) == "channel_id");             // draft-balfanz-tls-channelid-01
  CHECK(tls::extension_name(0xffce) == "encrypted_server_name");  // draft-ietf-tls-esni-01
}

TEST_CASE("Extension constants the parsers use name the extensions they stand for") {
  CHECK(tls::extension_name(tls::ext::server_name) == "server_name");
  CHECK(tls::extension_name(tls::ext::alpn) == "application_layer_protocol_negotiation");
  CHECK(tls::extension_name(tls::ext::supported_groups) == "supported_groups");
  CHECK(tls::extension_name(tls::ext::key_share) == "key_share");
  CHECK(tls::extension_name(tls::ext::encrypted_client_hello) == "encrypted_client_hello");
  CHECK(tls::extension_name(tls::ext::renegotiation_info) == "renegotiation_info");
}

TEST_CASE("Alert descriptions carry their RFC 8446 §6 names") {
  CHECK(tls::alert_name(0) == "close_notify");
  CHECK(tls::alert_name(10) == "unexpected_message");
  CHECK(tls::alert_name(20) == "bad_record_mac");
  CHECK(tls::alert_name(22) == "record_overflow");
  CHECK(tls::alert_name(40) == "handshake_failure");
  CHECK(tls::alert_name(42) == "bad_certificate");
  CHECK(tls::alert_name(45) == "certificate_expired");
  CHECK(tls::alert_name(46) == "certificate_unknown");
  CHECK(tls::alert_name(47) == "illegal_parameter");
  CHECK(tls::alert_name(48) == "unknown_ca");
  CHECK(tls::alert_name(50) == "decode_error");
  CHECK(tls::alert_name(51) == "decrypt_error");
  CHECK(tls::alert_name(70) == "protocol_version");
  CHECK(tls::alert_name(71) == "insufficient_security");
  CHECK(tls::alert_name(80) == "internal_error");
  CHECK(tls::alert_name(86) == "inappropriate_fallback");  // RFC 7507 §2
  CHECK(tls::alert_name(90) == "user_canceled");
  CHECK(tls::alert_name(109) == "missing_extension");
  CHECK(tls::alert_name(110) == "unsupported_extension");
  CHECK(tls::alert_name(112) == "unrecognized_name");
  CHECK(tls::alert_name(113) == "bad_certificate_status_response");
  CHECK(tls::alert_name(115) == "unknown_psk_identity");
  CHECK(tls::alert_name(116) == "certificate_required");
  CHECK(tls::alert_name(120) == "no_application_protocol");
  CHECK(tls::alert_name(100) == "no_renegotiation");  // RFC 5246 §7.2.2
  CHECK(tls::alert_name(121) == "ech_required");      // draft-ietf-tls-esni §11.2
}

TEST_CASE("Handshake types carry their RFC 8446 §4 and RFC 5246 §7.4 names") {
  CHECK(tls::handshake_type_name(0) == "hello_request");
  CHECK(tls::handshake_type_name(1) == "client_hello");
  CHECK(tls::handshake_type_name(2) == "server_hello");
  CHECK(tls::handshake_type_name(3) == "hello_verify_request");  // RFC 6347 §4.3.2
  CHECK(tls::handshake_type_name(4) == "new_session_ticket");
  CHECK(tls::handshake_type_name(5) == "end_of_early_data");
  CHECK(tls::handshake_type_name(8) == "encrypted_extensions");
  CHECK(tls::handshake_type_name(11) == "certificate");
  CHECK(tls::handshake_type_name(12) == "server_key_exchange");
  CHECK(tls::handshake_type_name(13) == "certificate_request");
  CHECK(tls::handshake_type_name(14) == "server_hello_done");
  CHECK(tls::handshake_type_name(15) == "certificate_verify");
  CHECK(tls::handshake_type_name(16) == "client_key_exchange");
  CHECK(tls::handshake_type_name(20) == "finished");
  CHECK(tls::handshake_type_name(22) == "certificate_status");  // RFC 6066 §8
  CHECK(tls::handshake_type_name(24) == "key_update");
  CHECK(tls::handshake_type_name(25) == "compressed_certificate");  // RFC 8879 §4
  CHECK(tls::handshake_type_name(254) == "message_hash");
}

TEST_CASE("Every HandshakeType the parsers know has a registry name") {
  for (const auto type :
       {tls::HandshakeType::hello_request,          tls::HandshakeType::client_hello,
        tls::HandshakeType::server_hello,           tls::HandshakeType::hello_verify_request,
        tls::HandshakeType::new_session_ticket,     tls::HandshakeType::end_of_early_data,
        tls::HandshakeType::encrypted_extensions,   tls::HandshakeType::certificate,
        tls::HandshakeType::server_key_exchange,    tls::HandshakeType::certificate_request,
        tls::HandshakeType::server_hello_done,      tls::HandshakeType::certificate_verify,
        tls::HandshakeType::client_key_exchange,    tls::HandshakeType::finished,
        tls::HandshakeType::certificate_url,        tls::HandshakeType::certificate_status,
        tls::HandshakeType::supplemental_data,      tls::HandshakeType::key_update,
        tls::HandshakeType::compressed_certificate, tls::HandshakeType::message_hash}) {
    CHECK(tls::lookup(Registry::handshake_type, static_cast<std::uint8_t>(type)).has_value());
  }
}

TEST_CASE("Content types, point formats, PSK modes and compression algorithms are named") {
  // RFC 8446 §5.1, RFC 6520 §3 (heartbeat)
  CHECK(tls::name_of(Registry::content_type, 20) == "change_cipher_spec");
  CHECK(tls::name_of(Registry::content_type, 21) == "alert");
  CHECK(tls::name_of(Registry::content_type, 22) == "handshake");
  CHECK(tls::name_of(Registry::content_type, 23) == "application_data");
  CHECK(tls::name_of(Registry::content_type, 24) == "heartbeat");
  // RFC 8422 §5.1.2
  CHECK(tls::name_of(Registry::ec_point_format, 0) == "uncompressed");
  CHECK(tls::name_of(Registry::ec_point_format, 1) == "ansiX962_compressed_prime");
  CHECK(tls::name_of(Registry::ec_point_format, 2) == "ansiX962_compressed_char2");
  // RFC 8446 §4.2.9
  CHECK(tls::name_of(Registry::psk_key_exchange_mode, 0) == "psk_ke");
  CHECK(tls::name_of(Registry::psk_key_exchange_mode, 1) == "psk_dhe_ke");
  // RFC 8879 §3
  CHECK(tls::name_of(Registry::certificate_compression, 1) == "zlib");
  CHECK(tls::name_of(Registry::certificate_compression, 2) == "brotli");
  CHECK(tls::name_of(Registry::certificate_compression, 3) == "zstd");
}

TEST_CASE("All sixteen GREASE values are named GREASE in every 16-bit registry") {
  const auto values = grease_values();
  REQUIRE(values.size() == 16);
  CHECK(values.front() == 0x0a0a);
  CHECK(values.back() == 0xfafa);
  for (const auto registry : kSixteenBitRegistries) {
    for (const auto value : values) {
      INFO("registry #" << static_cast<int>(registry) << " value " << value);
      CHECK(tls::name_of(registry, value) == "GREASE");
      CHECK_FALSE(tls::lookup(registry, value).has_value());
    }
  }
}

TEST_CASE("Values that only look like GREASE are not called GREASE") {
  CHECK(tls::cipher_suite_name(0x0a1a) == "0x0a1a");  // octets differ
  CHECK(tls::cipher_suite_name(0x0b0b) == "0x0b0b");  // low nibble is not 0xa
  CHECK(tls::extension_name(0xaaab) == "0xaaab");
}

TEST_CASE("Unknown code points are written as lower-case hex of the registry's width") {
  CHECK(tls::cipher_suite_name(0x1234) == "0x1234");
  CHECK(tls::cipher_suite_name(0xabcd) == "0xabcd");
  CHECK(tls::group_name(0x0000) == "0x0000");
  CHECK(tls::signature_scheme_name(0x0e0e) == "0x0e0e");
  CHECK(tls::extension_name(0x00ff) == "0x00ff");
  CHECK(tls::name_of(Registry::certificate_compression, 0x0004) == "0x0004");
  CHECK(tls::alert_name(0xfe) == "0xfe");
  CHECK(tls::alert_name(0x03) == "0x03");
  CHECK(tls::handshake_type_name(0x07) == "0x07");
  CHECK(tls::name_of(Registry::content_type, 0x00) == "0x00");
  CHECK(tls::name_of(Registry::ec_point_format, 0xff) == "0xff");
  CHECK(tls::name_of(Registry::psk_key_exchange_mode, 0x02) == "0x02");
  CHECK_FALSE(tls::lookup(Registry::cipher_suite, 0x1234).has_value());
  CHECK_FALSE(tls::lookup(Registry::alert, 0xfe).has_value());
}

TEST_CASE("An out-of-range Registry value finds nothing and still yields a hex name") {
  const auto bogus = static_cast<Registry>(200);
  CHECK(tls::registry_table(bogus).empty());
  CHECK_FALSE(tls::lookup(bogus, 0x1301).has_value());
  CHECK(tls::name_of(bogus, 0x1301) == "0x1301");
}

TEST_CASE("Protocol versions are named as the record writes them") {
  // RFC 8446 §4.2.1 / RFC 5246 §6.2.1 / RFC 2246 §6.2.1 / RFC 6101 §5.2.1
  CHECK(tls::version_name(0x0304) == "1.3");
  CHECK(tls::version_name(0x0303) == "1.2");
  CHECK(tls::version_name(0x0302) == "1.1");
  CHECK(tls::version_name(0x0301) == "1.0");
  CHECK(tls::version_name(0x0300) == "3.0");
  // SSL 2.0 (draft-hickman-netscape-ssl-00: CLIENT-HELLO version 0x0002)
  CHECK(tls::version_name(0x0002) == "2.0");
  CHECK(tls::version_name(0x0200) == "2.0");
  // RFC 6347 §4.1 (DTLS 1.2), RFC 4347 §4.1 (DTLS 1.0), RFC 9147 §5.3 (DTLS 1.3)
  CHECK(tls::version_name(0xfeff) == "dtls1.0");
  CHECK(tls::version_name(0xfefd) == "dtls1.2");
  CHECK(tls::version_name(0xfefc) == "dtls1.3");
  // OpenSSL before 0.9.8f wrote DTLS 1.0 as 0x0100 (Wireshark: "DTLS 1.0 (OpenSSL pre 0.9.8f)")
  CHECK(tls::version_name(0x0100) == "dtls-pre1.0");
}

TEST_CASE("TLS 1.3 draft and experiment versions carry their draft number") {
  // draft-ietf-tls-tls13-23 §4.2.1: drafts use 0x7f00 | draft number.
  CHECK(tls::version_name(0x7f17) == "1.3-draft23");
  CHECK(tls::version_name(0x7f0e) == "1.3-draft14");
  CHECK(tls::version_name(0x7f1c) == "1.3-draft28");
  // Facebook's Fizz: 0xfb17 is its build of draft 23 (Wireshark: "TLS 1.3 (Facebook draft 23)")
  CHECK(tls::version_name(0xfb17) == "1.3-fb-draft23");
  CHECK(tls::version_name(0xfb1a) == "1.3-fb-draft26");
  // Chrome's 2017 TLS 1.3 experiment (corpus: zeek/chrome-63.0.3211.0-canary-tls_experiment)
  CHECK(tls::version_name(0x7e01) == "1.3-exp0x7e01");
  CHECK(tls::version_name(0x7e02) == "1.3-exp0x7e02");
}

TEST_CASE("GREASE and unknown versions are named GREASE and hex") {
  for (const auto value : grease_values()) CHECK(tls::version_name(value) == "GREASE");
  CHECK(tls::version_name(0x1a2b) == "0x1a2b");
  CHECK(tls::version_name(0x7f00) == "0x7f00");
  CHECK(tls::version_name(0x0000) == "0x0000");
  CHECK(tls::version_name(0x0305) == "0x0305");
}

TEST_CASE("SSL 2.0 and 3.0 are protocol ssl, everything later is tls") {
  CHECK(tls::version_protocol(0x0002) == "ssl");
  CHECK(tls::version_protocol(0x0200) == "ssl");
  CHECK(tls::version_protocol(0x0300) == "ssl");
  CHECK(tls::version_protocol(0x0301) == "tls");
  CHECK(tls::version_protocol(0x0303) == "tls");
  CHECK(tls::version_protocol(0x0304) == "tls");
  CHECK(tls::version_protocol(0x7f17) == "tls");
  CHECK(tls::version_protocol(0xfefd) == "tls");
}

TEST_CASE("ECDHE and ECDH suites are recognised as naming a curve in ServerKeyExchange") {
  // RFC 8422 §5.4 (ECDHE_*, ECDH_anon) and §2 (fixed ECDH)
  CHECK(tls::cipher_suite_uses_ecdhe(0xc02f));  // ECDHE_RSA
  CHECK(tls::cipher_suite_uses_ecdhe(0xc02b));  // ECDHE_ECDSA
  CHECK(tls::cipher_suite_uses_ecdhe(0xcca8));  // ECDHE_RSA ChaCha20 (RFC 7905)
  CHECK(tls::cipher_suite_uses_ecdhe(0xcc13));  // pre-standard ECDHE_RSA ChaCha20
  CHECK(tls::cipher_suite_uses_ecdhe(0xc004));  // ECDH_ECDSA
  CHECK(tls::cipher_suite_uses_ecdhe(0xc018));  // ECDH_anon
  CHECK(tls::cipher_suite_uses_ecdhe(0xc035));  // ECDHE_PSK (RFC 5489)
}

TEST_CASE("Non-EC suites, TLS 1.3 suites and unknown codes do not name a curve") {
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0x009e));  // DHE_RSA
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0x002f));  // RSA
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0x008c));  // PSK
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0xc0b0));  // ECCPWD (RFC 8492)
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0x1301));  // TLS 1.3: key_share instead
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0x00ff));  // SCSV
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0x0a0a));  // GREASE
  CHECK_FALSE(tls::cipher_suite_uses_ecdhe(0x1234));  // unassigned
}

TEST_CASE("Every cipher suite, extension, group and signature scheme in the corpus is named") {
  if (!have_corpus()) return;
  const auto codes = collect_corpus_codes();
  REQUIRE_FALSE(codes.cipher_suites.empty());
  REQUIRE_FALSE(codes.extensions.empty());
  REQUIRE_FALSE(codes.groups.empty());
  REQUIRE_FALSE(codes.signature_schemes.empty());

  // The TLS 1.3 draft-14 ServerHello of suricata-verify/tls13-draft14 has no session id field
  // (draft-ietf-tls-tls13-14 §4.1.3); tshark 4.0 reads it with the final layout, takes the
  // cipher suite's first octet (0xc0 of 0xc02b) as a session-id length and reports the two
  // octets 192 bytes later, 0xacad, as the cipher suite. No peer sent 0xacad.
  const std::set<std::uint16_t> kNotCipherSuites = {0xacad};

  CHECK(unnamed_codes(Registry::cipher_suite, codes.cipher_suites, kNotCipherSuites, "cipher suite")
            .empty());
  CHECK(unnamed_codes(Registry::extension, codes.extensions, {}, "extension").empty());
  CHECK(unnamed_codes(Registry::named_group, codes.groups, {}, "group").empty());
  CHECK(unnamed_codes(Registry::signature_scheme, codes.signature_schemes, {}, "signature scheme")
            .empty());
}

TEST_CASE("Cipher suite names agree with Zeek's and Arkime's for the same connections") {
  if (!have_corpus()) return;
  int compared = 0;
  for_each_connection([&](const std::string& where, const Json& connection) {
    const auto* tshark = object_member(connection, "tshark");
    const auto* baseline = object_member(connection, "baseline");
    if (tshark == nullptr || baseline == nullptr) return;
    const auto* code = object_member(*tshark, "server_cipher");
    if (code == nullptr) return;
    std::vector<std::string> oracle_names;
    if (const auto* ssl = object_member(*baseline, "ssl")) {  // Zeek ssl.log
      if (const auto* cipher = object_member(*ssl, "cipher")) {
        if (auto name = single_string(*cipher)) oracle_names.push_back(*name);
      }
    }
    if (const auto* session = object_member(*baseline, "tls")) {  // Arkime
      if (const auto* cipher = object_member(*session, "cipher")) {
        if (auto name = single_string(*cipher)) oracle_names.push_back(*name);
      }
    }
    for (const auto& expected : oracle_names) {
      INFO(where);
      CHECK(tls::cipher_suite_name(code->get<std::uint16_t>()) == expected);
      ++compared;
    }
  });
  INFO("connections compared: " << compared);
  CHECK(compared > 50);
}

TEST_CASE("Group names agree with the curve Zeek logs for the same connections") {
  if (!have_corpus()) return;
  int compared = 0;
  for_each_connection([&](const std::string& where, const Json& connection) {
    const auto* tshark = object_member(connection, "tshark");
    const auto* baseline = object_member(connection, "baseline");
    if (tshark == nullptr || baseline == nullptr) return;
    const auto* group = object_member(*tshark, "server_group");
    const auto* ssl = object_member(*baseline, "ssl");
    if (group == nullptr || ssl == nullptr) return;
    const auto* curve = object_member(*ssl, "curve");
    if (curve == nullptr || !curve->is_string()) return;
    INFO(where);
    CHECK(tls::group_name(group->get<std::uint16_t>()) == curve->get<std::string>());
    ++compared;
  });
  INFO("connections compared: " << compared);
  CHECK(compared > 20);
}

TEST_CASE("Alert names agree with the last_alert Zeek logs for the same connections") {
  if (!have_corpus()) return;
  int compared = 0;
  for_each_connection([&](const std::string& where, const Json& connection) {
    const auto* tshark = object_member(connection, "tshark");
    const auto* baseline = object_member(connection, "baseline");
    if (tshark == nullptr || baseline == nullptr) return;
    const auto* ssl = object_member(*baseline, "ssl");
    if (ssl == nullptr) return;
    const auto* last_alert = object_member(*ssl, "last_alert");
    const auto* alerts = object_member(*tshark, "alerts");
    if (last_alert == nullptr || alerts == nullptr) return;
    std::optional<std::uint8_t> last_plaintext;
    for (const auto& alert : *alerts) {
      if (const auto* description = object_member(alert, "description")) {
        last_plaintext = description->get<std::uint8_t>();
      }
    }
    if (!last_plaintext) return;
    INFO(where);
    CHECK(tls::alert_name(*last_plaintext) == last_alert->get<std::string>());
    ++compared;
  });
  INFO("connections compared: " << compared);
  CHECK(compared >= 5);
}

TEST_CASE("Version names agree with the versions Zeek and Arkime log for the same connections") {
  if (!have_corpus()) return;
  // The oracles' spellings, translated to ours.
  const std::map<std::string, std::string> kZeekOrArkimeToOurs = {
      {"SSLv2", "2.0"},       {"SSLv3", "3.0"},   {"TLSv10", "1.0"},      {"TLSv11", "1.1"},
      {"TLSv12", "1.2"},      {"TLSv13", "1.3"},  {"TLSv1", "1.0"},       {"TLSv1.1", "1.1"},
      {"TLSv1.2", "1.2"},     {"TLSv1.3", "1.3"}, {"DTLSv10", "dtls1.0"}, {"DTLSv12", "dtls1.2"},
      {"DTLSv13", "dtls1.3"},
  };
  const auto translate = [&](const std::string& oracle) -> std::optional<std::string> {
    if (const auto it = kZeekOrArkimeToOurs.find(oracle); it != kZeekOrArkimeToOurs.end()) {
      return it->second;
    }
    for (const std::string prefix : {"TLSv13-draft", "TLSv1.3-draft-"}) {  // Zeek, Arkime
      if (oracle.starts_with(prefix)) return "1.3-draft" + oracle.substr(prefix.size());
    }
    return std::nullopt;  // e.g. Zeek's "unknown-32257"
  };
  int compared = 0;
  for_each_connection([&](const std::string& where, const Json& connection) {
    const auto* tshark = object_member(connection, "tshark");
    const auto* baseline = object_member(connection, "baseline");
    if (tshark == nullptr || baseline == nullptr) return;
    const auto* version = object_member(*tshark, "server_version");
    if (version == nullptr) return;
    for (const char* block : {"ssl", "tls"}) {
      const auto* record = object_member(*baseline, block);
      if (record == nullptr) continue;
      const auto* oracle = object_member(*record, "version");
      if (oracle == nullptr) continue;
      const auto spelled = single_string(*oracle);
      if (!spelled) continue;
      const auto expected = translate(*spelled);
      if (!expected) continue;
      INFO(where << " (" << *spelled << ")");
      CHECK(tls::version_name(version->get<std::uint16_t>()) == *expected);
      ++compared;
    }
  });
  INFO("connections compared: " << compared);
  CHECK(compared > 50);
}
