// ClientHello decoding, checked against tshark's view of real hellos (tests/data/fixtures and
// the shared corpus) and against hand-made hellos whose bytes are written out from the RFCs.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/fingerprint.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/types.hpp"

namespace {

using namespace tlsglass;
using json = nlohmann::json;
using test::ByteVec;
using test::from_hex;

struct WireMessage {
  std::uint8_t type = 0;
  bool sslv2 = false;
  ByteVec body;
  int records = 0;  // records the message was spread over
};

// The clear-text handshake messages at the start of one direction of a stream, framed as RFC
// 8446 §5.1 says: handshake records are joined (a message may span records) and cut into
// messages, ChangeCipherSpec records are stepped over, anything else ends the walk. An SSLv2
// record (high bit set, two-byte header) is one message. Kept here rather than using
// RecordReader so that the hello parser is checked on its own.
std::vector<WireMessage> handshake_messages(const ByteVec& s, std::size_t pos = 0) {
  std::vector<WireMessage> out;
  ByteVec pending;
  int records = 0;
  while (pos < s.size()) {
    if (s[pos] & 0x80) {
      const std::size_t length = pos + 2 <= s.size() ? (s[pos] & 0x7f) << 8 | s[pos + 1] : 0;
      if (length == 0 || pos + 2 + length > s.size()) break;
      out.push_back(
          {s[pos + 2], true, ByteVec(s.begin() + pos + 3, s.begin() + pos + 2 + length), 1});
      pos += 2 + length;
      continue;
    }
    if (pos + 5 > s.size()) break;
    const std::size_t length = s[pos + 3] << 8 | s[pos + 4];
    if (pos + 5 + length > s.size() || (s[pos] != 20 && s[pos] != 22)) break;
    if (s[pos] == 22) {
      pending.insert(pending.end(), s.begin() + pos + 5, s.begin() + pos + 5 + length);
      ++records;
    }
    pos += 5 + length;
    while (pending.size() >= 4) {
      const std::size_t size = pending[1] << 16 | pending[2] << 8 | pending[3];
      if (pending.size() < 4 + size) break;
      out.push_back(
          {pending[0], false, ByteVec(pending.begin() + 4, pending.begin() + 4 + size), records});
      pending.erase(pending.begin(), pending.begin() + 4 + size);
      records = pending.empty() ? 0 : 1;
    }
  }
  return out;
}

std::vector<WireMessage> of_type(std::vector<WireMessage> all, std::uint8_t type) {
  std::erase_if(all, [&](const WireMessage& m) { return m.type != type; });
  return all;
}

tls::Bytes bytes(const ByteVec& v) { return tls::Bytes(v.data(), v.size()); }

json load_json(const std::string& path) { return json::parse(test::read_file(path)); }

std::vector<std::uint16_t> ints(const json& list) {
  std::vector<std::uint16_t> out;
  for (const auto& v : list) out.push_back(v.get<std::uint16_t>());
  return out;
}

std::vector<std::uint16_t> key_share_groups(const tls::ClientHello& hello) {
  std::vector<std::uint16_t> out;
  for (const auto& share : hello.key_shares) out.push_back(share.group);
  return out;
}

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

// tshark's sig_algs is every SignatureScheme list of the hello in wire order:
// signature_algorithms (13), signature_algorithms_cert (50) and delegated_credentials (34,
// RFC 9345 §4.1.1, which the hello does not decode). Ours must be what comes before and after
// the last.
void check_signature_schemes(const tls::ClientHello& hello,
                             const std::vector<std::uint16_t>& shark) {
  std::vector<std::uint16_t> before, after;
  bool past_delegated_credentials = false;
  for (const auto type : hello.extensions) {
    past_delegated_credentials = past_delegated_credentials || type == 34;
    auto& out = past_delegated_credentials ? after : before;
    if (type == tls::ext::signature_algorithms) {
      out.insert(out.end(), hello.signature_algorithms.begin(), hello.signature_algorithms.end());
    }
    if (type == tls::ext::signature_algorithms_cert) {
      out.insert(out.end(), hello.signature_algorithms_cert.begin(),
                 hello.signature_algorithms_cert.end());
    }
  }
  REQUIRE(shark.size() >= before.size() + after.size());
  CHECK(std::equal(before.begin(), before.end(), shark.begin()));
  CHECK(std::equal(after.rbegin(), after.rend(), shark.rbegin()));
  if (!past_delegated_credentials) CHECK(shark.size() == before.size());
}

// Every field tshark reports for a ClientHello, compared with ours.
void check_against_tshark(const tls::ClientHello& hello, const json& shark) {
  CHECK(hello.legacy_version == shark["legacy_version"].get<std::uint16_t>());
  if (hello.sslv2) {
    std::vector<std::uint32_t> specs;
    for (const auto& v : shark["ciphers"]) specs.push_back(v.get<std::uint32_t>());
    CHECK(hello.sslv2_cipher_specs == specs);
  } else {
    CHECK(hello.cipher_suites == ints(shark["ciphers"]));
  }
  CHECK(hello.extensions == ints(shark["extensions"]));
  CHECK(hello.supported_versions == ints(shark["supported_versions"]));
  CHECK(hello.supported_groups == ints(shark["groups"]));
  CHECK(key_share_groups(hello) == ints(shark["key_share_groups"]));
  check_signature_schemes(hello, ints(shark["sig_algs"]));
  CHECK(hello.session_id.size() == shark["session_id_length"].get<std::size_t>());
  std::vector<std::uint8_t> compression;
  for (const auto& v : shark["compression_methods"]) compression.push_back(v.get<std::uint8_t>());
  CHECK(hello.compression_methods == compression);
  const auto alpn = shark["alpn"].get<std::vector<std::string>>();
  if (std::all_of(alpn.begin(), alpn.end(), printable)) CHECK(hello.alpn == alpn);
  if (shark["sni"].is_null()) {
    CHECK_FALSE(hello.server_name);
  } else {
    CHECK(hello.server_name == shark["sni"].get<std::string>());
  }
  if (shark.contains("ja3_full") && !shark["ja3_full"].is_null()) {
    CHECK(tls::ja3(hello).full == shark["ja3_full"].get<std::string>());
  }
}

// ---- Hand-made hellos ----

ByteVec cat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
ByteVec u16(std::size_t v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
ByteVec vec8(const ByteVec& items) {
  return cat({{static_cast<std::uint8_t>(items.size())}, items});
}
ByteVec vec16(const ByteVec& items) { return cat({u16(items.size()), items}); }
ByteVec extension(std::uint16_t type, const ByteVec& data) { return cat({u16(type), vec16(data)}); }

// legacy_version 1.2, a random of 0x11, a 32-byte session id of 0x22, two TLS 1.3 suites,
// null compression; then the extensions block.
const ByteVec kFixedFields = cat({from_hex("0303"), ByteVec(32, 0x11), vec8(ByteVec(32, 0x22)),
                                  vec16(from_hex("1301 1302")), vec8({0})});

ByteVec hello_with(const ByteVec& extensions) { return cat({kFixedFields, vec16(extensions)}); }

const ByteVec kSni = extension(0, from_hex("000e 00 000b 6578616d706c652e636f6d"));  // example.com
const ByteVec kGroups = extension(10, from_hex("0004 001d 0017"));

}  // namespace

TEST_CASE("Every ClientHello in the real-handshake fixtures decodes as tshark reads it") {
  int hellos = 0;
  for (const auto& dir : std::filesystem::directory_iterator(test::data_path("fixtures"))) {
    if (!dir.is_directory()) continue;
    const json expected = load_json(dir.path() / "expected.json");
    const auto messages =
        of_type(handshake_messages(test::read_file(dir.path() / "client.bin")), 1);
    const auto& shark = expected["client_hellos"];
    INFO(dir.path().filename().string());
    REQUIRE(messages.size() >= shark.size());
    for (std::size_t i = 0; i < shark.size(); ++i) {
      INFO("ClientHello #" << i);
      const tls::ClientHello hello = tls::parse_client_hello(bytes(messages[i].body));
      CHECK(hello.error == tls::HelloError::none);
      CHECK(hello.has_extensions_block);
      CHECK(messages[i].body.size() == shark[i]["length"].get<std::size_t>());
      check_against_tshark(hello, shark[i]);
      ++hellos;
    }
  }
  CHECK(hellos >= 25);
}

TEST_CASE("A ClientHello split over two records parses as tshark reads it") {
  const std::string dir = test::data_path("fixtures/openssl-split-records");
  const auto messages = of_type(handshake_messages(test::read_file(dir + "/client.bin")), 1);
  REQUIRE(!messages.empty());
  const json expected = load_json(dir + "/expected.json");
  CHECK(messages[0].records == expected["client_hello"]["records"].get<int>());
  CHECK(messages[0].records == 2);
  const tls::ClientHello hello = tls::parse_client_hello(bytes(messages[0].body));
  CHECK(hello.error == tls::HelloError::none);
  CHECK(hello.alpn.size() == 42);  // openssl s_client -alpn with a long list, to force the split
  check_against_tshark(hello, expected["client_hellos"][0]);
}

TEST_CASE("Chromium's ClientHello keeps GREASE in wire order and counts as ECH outer") {
  const std::string dir = test::data_path("fixtures/chromium-tls13");
  const auto messages = of_type(handshake_messages(test::read_file(dir + "/client.bin")), 1);
  REQUIRE(!messages.empty());
  const tls::ClientHello hello = tls::parse_client_hello(bytes(messages[0].body));
  CHECK(tls::is_grease(hello.cipher_suites.front()));
  CHECK(tls::is_grease(hello.extensions.front()));
  CHECK(tls::is_grease(hello.extensions.back()));
  CHECK(hello.has_extension(tls::ext::encrypted_client_hello));
  CHECK(hello.ech);  // Chromium sends a GREASE ECH, which looks like an outer one on the wire
  CHECK(hello.key_shares.size() == 3);
  CHECK(hello.key_shares[1].group == 0x11ec);     // X25519MLKEM768
  CHECK(hello.key_shares[1].key_length == 1216);  // ML-KEM-768 encapsulation key + X25519
  CHECK(hello.key_shares[2].key_length == 32);    // X25519
  CHECK(hello.compress_certificate_algorithms == std::vector<std::uint16_t>{2});  // brotli
}

TEST_CASE("Every ClientHello in the shared corpus decodes as tshark reads it") {
  const auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("TLSGLASS_CORPUS is not set or has no expected/: corpus comparison skipped");
    return;
  }
  int compared = 0, sslv2 = 0, clean = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(*corpus + "/expected")) {
    if (file.path().extension() != ".json") continue;
    const json capture = load_json(file.path());
    for (const auto& [name, connection] : capture["connections"].items()) {
      const json streams = connection.value("streams", json());
      const json hellos = connection["tshark"].value("client_hellos", json());
      if (!streams.is_object() || !hellos.is_array() || hellos.empty()) continue;
      const ByteVec stream = test::read_file(*corpus + "/" + streams["client"].get<std::string>());
      // Skip a plaintext prelude (STARTTLS, CONNECT, ...): start at the first ClientHello record.
      std::size_t start = 0;
      if (!(stream.size() > 3 && (stream[0] & 0x80) && stream[2] == 1)) {
        while (start + 6 <= stream.size() &&
               !(stream[start] == 22 && stream[start + 1] == 3 && stream[start + 5] == 1)) {
          ++start;
        }
      }
      const auto messages = of_type(handshake_messages(stream, start), 1);
      const std::size_t n = std::min(messages.size(), hellos.size());
      for (std::size_t i = 0; i < n; ++i) {
        INFO(file.path().filename().string() << " " << name << " ClientHello #" << i);
        const auto& m = messages[i];
        const tls::ClientHello hello = m.sslv2 ? tls::parse_sslv2_client_hello(bytes(m.body))
                                               : tls::parse_client_hello(bytes(m.body));
        check_against_tshark(hello, hellos[i]);
        clean += hello.error == tls::HelloError::none;
        sslv2 += hello.sslv2;
        ++compared;
      }
    }
  }
  INFO(compared << " hellos compared, " << clean << " without error");
  CHECK(compared >= 300);
  CHECK(sslv2 >= 5);
  CHECK(clean == compared);  // the corpus holds no malformed ClientHello
}

TEST_CASE("A ClientHello cut at any length is truncated, except right after compression") {
  const std::string dir = test::data_path("fixtures/curl-tls13");
  const auto messages = of_type(handshake_messages(test::read_file(dir + "/client.bin")), 1);
  REQUIRE(!messages.empty());
  const ByteVec& full = messages[0].body;
  // legacy_version, random, session id (1 + n), suites (2 + n), compression (1 + n).
  const std::size_t suites_start = 2 + 32 + 1 + full[34] + 2;
  const std::size_t suites_end =
      suites_start + (full[suites_start - 2] << 8 | full[suites_start - 1]);
  const std::size_t compression_end = suites_end + 1 + full[suites_end];
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO("cut at " << n << " of " << full.size());
    const ByteVec cut(full.begin(), full.begin() + n);  // its own allocation, for ASan
    const tls::ClientHello hello = tls::parse_client_hello(bytes(cut));
    if (n == compression_end) {
      CHECK(hello.error == tls::HelloError::none);  // a valid hello with no extensions block
      CHECK_FALSE(hello.has_extensions_block);
    } else {
      CHECK(hello.error == tls::HelloError::truncated);
    }
    if (n >= 2) CHECK(hello.legacy_version == 0x0303);
    if (n >= suites_end) CHECK(hello.cipher_suites.size() == (suites_end - suites_start) / 2);
  }
  CHECK(tls::parse_client_hello(bytes(full)).error == tls::HelloError::none);
}

TEST_CASE("A ClientHello whose extensions block runs past the message still shows its extensions") {
  const ByteVec whole = hello_with(cat({kSni, kGroups}));
  const ByteVec body(whole.begin(), whole.end() - 3);  // the message ends inside supported_groups
  const tls::ClientHello hello = tls::parse_client_hello(bytes(body));
  CHECK(hello.error == tls::HelloError::truncated);
  CHECK(hello.server_name == "example.com");
  CHECK(hello.extensions == std::vector<std::uint16_t>{0, 10});
  CHECK(hello.supported_groups.empty());
}

TEST_CASE("An overlong length is truncated at message level and bad_length inside a block") {
  SECTION("cipher_suites longer than the message") {
    ByteVec body = kFixedFields;
    body[67] = 0xff;
    const auto hello = tls::parse_client_hello(bytes(body));
    CHECK(hello.error == tls::HelloError::truncated);
    CHECK(hello.cipher_suites.size() == 3);  // what is there: 1301, 1302 and the compression
  }
  SECTION("an extension longer than the extensions block") {
    ByteVec body = hello_with(cat({kSni, kGroups}));
    body[body.size() - 7] += 1;  // supported_groups' length, one past the block
    const auto hello = tls::parse_client_hello(bytes(body));
    CHECK(hello.error == tls::HelloError::bad_length);
    CHECK(hello.error_extension == tls::ext::supported_groups);
    CHECK(hello.has_extension(tls::ext::supported_groups));
    CHECK(hello.server_name == "example.com");
  }
  SECTION("a list longer than its extension") {
    const auto hello =
        tls::parse_client_hello(bytes(hello_with(extension(10, from_hex("0006 001d 0017")))));
    CHECK(hello.error == tls::HelloError::bad_length);
    CHECK(hello.error_extension == tls::ext::supported_groups);
  }
  SECTION("a list shorter than its extension") {
    const auto hello =
        tls::parse_client_hello(bytes(hello_with(extension(10, from_hex("0002 001d 0017")))));
    CHECK(hello.error == tls::HelloError::trailing_bytes);
    CHECK(hello.supported_groups == std::vector<std::uint16_t>{0x1d});
  }
  SECTION("bytes after the extensions block") {
    const auto hello = tls::parse_client_hello(bytes(cat({hello_with(kSni), {0}})));
    CHECK(hello.error == tls::HelloError::trailing_bytes);
    CHECK(hello.error_extension == 0);
  }
}

TEST_CASE("A zero-length extensions block is a valid ClientHello with no extensions") {
  const auto hello = tls::parse_client_hello(bytes(hello_with({})));
  CHECK(hello.error == tls::HelloError::none);
  CHECK(hello.has_extensions_block);
  CHECK(hello.extensions.empty());
  CHECK(hello.cipher_suites == std::vector<std::uint16_t>{0x1301, 0x1302});
  CHECK(hello.session_id == ByteVec(32, 0x22));
  CHECK(hello.random[31] == 0x11);
}

TEST_CASE("A ClientHello that ends after compression_methods has no extensions block") {
  const auto hello = tls::parse_client_hello(bytes(kFixedFields));  // SSL 3.0 / TLS 1.0 style
  CHECK(hello.error == tls::HelloError::none);
  CHECK_FALSE(hello.has_extensions_block);
  CHECK(hello.compression_methods == std::vector<std::uint8_t>{0});
}

TEST_CASE("A duplicated extension is reported, listed twice and decoded once") {
  const auto hello = tls::parse_client_hello(
      bytes(hello_with(cat({kGroups, extension(10, from_hex("0002 0018")), kSni}))));
  CHECK(hello.error == tls::HelloError::duplicate_extension);
  CHECK(hello.error_extension == tls::ext::supported_groups);
  CHECK(hello.extensions == std::vector<std::uint16_t>{10, 10, 0});
  CHECK(hello.supported_groups == std::vector<std::uint16_t>{0x1d, 0x17});
  CHECK(hello.server_name == "example.com");  // parsing goes on after the duplicate
}

TEST_CASE("Two GREASE extensions of the same value are duplicates too") {
  const auto hello = tls::parse_client_hello(
      bytes(hello_with(cat({extension(0x2a2a, {}), extension(0x2a2a, {0})}))));
  CHECK(hello.error == tls::HelloError::duplicate_extension);
  CHECK(hello.error_extension == 0x2a2a);
}

TEST_CASE("Odd-length lists are bad_length") {
  SECTION("cipher_suites") {
    ByteVec body =
        cat({from_hex("0303"), ByteVec(32, 0), vec8({}), vec16(from_hex("1301 13")), vec8({0})});
    const auto hello = tls::parse_client_hello(bytes(body));
    CHECK(hello.error == tls::HelloError::bad_length);
    CHECK(hello.cipher_suites == std::vector<std::uint16_t>{0x1301});
    CHECK(hello.compression_methods == std::vector<std::uint8_t>{0});
  }
  SECTION("signature_algorithms, with the later extensions still decoded") {
    const auto hello = tls::parse_client_hello(
        bytes(hello_with(cat({extension(13, from_hex("0003 0403 05")), kSni}))));
    CHECK(hello.error == tls::HelloError::bad_length);
    CHECK(hello.error_extension == tls::ext::signature_algorithms);
    CHECK(hello.server_name == "example.com");
  }
  SECTION("supported_versions") {
    const auto hello =
        tls::parse_client_hello(bytes(hello_with(extension(43, from_hex("03 0304 03")))));
    CHECK(hello.error == tls::HelloError::bad_length);
    CHECK(hello.error_extension == tls::ext::supported_versions);
  }
}

TEST_CASE("An empty cipher_suites list is no_cipher_suites") {
  ByteVec body = cat({from_hex("0303"), ByteVec(32, 0), vec8({}), vec16({}), vec8({0}), vec16({})});
  CHECK(tls::parse_client_hello(bytes(body)).error == tls::HelloError::no_cipher_suites);
}

TEST_CASE("An ECH outer extension sets ech, an inner one does not") {
  // draft-ietf-tls-esni §5: type, HPKE KDF and AEAD ids, config_id, enc<0..2^16-1>,
  // payload<1..2^16-1>.
  const ByteVec outer =
      cat({from_hex("00 0001 0001 2a"), vec16(ByteVec(32, 0xee)), vec16(ByteVec(48, 0xaa))});
  SECTION("outer") {
    const auto hello =
        tls::parse_client_hello(bytes(hello_with(cat({kSni, extension(0xfe0d, outer)}))));
    CHECK(hello.error == tls::HelloError::none);
    CHECK(hello.ech);
    CHECK(hello.server_name == "example.com");  // the public name
  }
  SECTION("inner") {
    const auto hello = tls::parse_client_hello(bytes(hello_with(extension(0xfe0d, {1}))));
    CHECK(hello.error == tls::HelloError::none);
    CHECK_FALSE(hello.ech);
  }
  SECTION("an outer one without its payload") {
    const ByteVec cut(outer.begin(), outer.end() - 50);
    const auto hello = tls::parse_client_hello(bytes(hello_with(extension(0xfe0d, cut))));
    CHECK(hello.ech);
    CHECK(hello.error == tls::HelloError::bad_length);
    CHECK(hello.error_extension == tls::ext::encrypted_client_hello);
  }
  SECTION("an unknown type") {
    const auto hello = tls::parse_client_hello(bytes(hello_with(extension(0xfe0d, {7}))));
    CHECK(hello.error == tls::HelloError::bad_extension);
    CHECK_FALSE(hello.ech);
  }
}

TEST_CASE("Zero-length extensions that the RFCs allow are accepted") {
  // extended_master_secret, encrypt_then_mac, early_data, session_ticket (asking for a ticket),
  // post_handshake_auth (49).
  const auto hello = tls::parse_client_hello(
      bytes(hello_with(cat({extension(23, {}), extension(22, {}), extension(42, {}),
                            extension(35, {}), extension(49, {})}))));
  CHECK(hello.error == tls::HelloError::none);
  CHECK(hello.extensions == std::vector<std::uint16_t>{23, 22, 42, 35, 49});
  CHECK(hello.session_ticket_length == 0);
  CHECK(tls::parse_client_hello(bytes(hello_with(extension(23, {0})))).error ==
        tls::HelloError::trailing_bytes);
  CHECK(tls::parse_client_hello(bytes(hello_with(extension(0, {})))).error ==
        tls::HelloError::bad_length);  // a ClientHello's server_name has a list
}

TEST_CASE("Each decoded extension follows its RFC's structure") {
  const ByteVec body = hello_with(cat({
      extension(0, from_hex("0014 01 0003 616263 00 000b 6578616d706c652e636f6d")),  // other, host
      extension(5, from_hex("01 0000 0000")),                       // status_request: ocsp
      extension(11, from_hex("03 00 01 02")),                       // ec_point_formats
      extension(16, from_hex("000c 02 6832 08 687474702f312e31")),  // h2, http/1.1
      extension(21, ByteVec(7, 0)),                                 // padding
      extension(27, from_hex("04 0002 0001")),                      // brotli, zlib
      extension(28, from_hex("4001")),                              // record_size_limit 16385
      extension(35, ByteVec(5, 0x99)),                              // a session ticket
      extension(43, from_hex("04 0304 0303")),
      extension(45, from_hex("01 01")),  // psk_dhe_ke
      extension(50, from_hex("0002 0804")),
      extension(51,
                cat({from_hex("002c 001d 0020"), ByteVec(32, 1), from_hex("0017 0004 01020304")})),
      extension(0xff01, from_hex("00")),
      // pre_shared_key: two identities (3 and 1 bytes, each with a ticket age), two binders.
      extension(41, cat({from_hex("0010 0003 aabbcc 00000001 0001 dd 00000002"),
                         vec16(cat({vec8(ByteVec(32, 5)), vec8(ByteVec(32, 6))}))})),
  }));
  const auto hello = tls::parse_client_hello(bytes(body));
  CHECK(hello.error == tls::HelloError::none);
  CHECK(hello.server_name == "example.com");
  CHECK(hello.status_request_type == 1);
  CHECK(hello.ec_point_formats == std::vector<std::uint8_t>{0, 1, 2});
  CHECK(hello.alpn == std::vector<std::string>{"h2", "http/1.1"});
  CHECK(hello.padding_length == 7);
  CHECK(hello.compress_certificate_algorithms == std::vector<std::uint16_t>{2, 1});
  CHECK(hello.record_size_limit == 16385);
  CHECK(hello.session_ticket_length == 5);
  CHECK(hello.supported_versions == std::vector<std::uint16_t>{0x0304, 0x0303});
  CHECK(hello.psk_key_exchange_modes == std::vector<std::uint8_t>{1});
  CHECK(hello.signature_algorithms_cert == std::vector<std::uint16_t>{0x0804});
  REQUIRE(hello.key_shares.size() == 2);
  CHECK(hello.key_shares[0].group == 0x1d);
  CHECK(hello.key_shares[0].key_length == 32);
  CHECK(hello.key_shares[1].group == 0x17);
  CHECK(hello.key_shares[1].key_length == 4);
  CHECK(hello.renegotiation_info_length == 0);
  CHECK(hello.psk_identities == 2);
  CHECK_FALSE(hello.ech);
}

TEST_CASE("RFC violations inside well-framed extensions are bad_extension") {
  auto error_of = [](const ByteVec& ext) {
    return tls::parse_client_hello(bytes(hello_with(ext)));
  };
  CHECK(error_of(extension(16, from_hex("0003 03 6832"))).error == tls::HelloError::bad_length);
  CHECK(error_of(extension(16, from_hex("0004 02 6832 00"))).error ==
        tls::HelloError::bad_extension);
  CHECK(error_of(extension(28, from_hex("003f"))).error == tls::HelloError::bad_extension);
  CHECK(error_of(extension(21, from_hex("0000 01"))).error == tls::HelloError::bad_extension);
  CHECK(error_of(extension(51, from_hex("0008 001d 0000 001d 0000"))).error ==
        tls::HelloError::bad_extension);  // an empty key, and one group twice
  CHECK(error_of(extension(10, from_hex("0000"))).error == tls::HelloError::bad_extension);
  // RFC 8446 §4.2.11: pre_shared_key must come last.
  const ByteVec psk =
      extension(41, cat({from_hex("0007 0001 aa 00000000"), vec16(vec8(ByteVec(32, 0)))}));
  CHECK(error_of(psk).error == tls::HelloError::none);
  const auto late = error_of(cat({psk, kSni}));
  CHECK(late.error == tls::HelloError::bad_extension);
  CHECK(late.error_extension == tls::ext::pre_shared_key);
  CHECK(late.server_name == "example.com");
}

TEST_CASE("Every HelloError has its own name") {
  CHECK(tls::hello_error_name(tls::HelloError::none) == "none");
  CHECK(tls::hello_error_name(tls::HelloError::truncated) == "truncated");
  CHECK(tls::hello_error_name(tls::HelloError::trailing_bytes) == "trailing_bytes");
  CHECK(tls::hello_error_name(tls::HelloError::bad_length) == "bad_length");
  CHECK(tls::hello_error_name(tls::HelloError::duplicate_extension) == "duplicate_extension");
  CHECK(tls::hello_error_name(tls::HelloError::bad_extension) == "bad_extension");
  CHECK(tls::hello_error_name(tls::HelloError::no_cipher_suites) == "no_cipher_suites");
}

TEST_CASE("An SSLv2 CLIENT-HELLO from the corpus decodes as tshark reads it") {
  const auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("TLSGLASS_CORPUS is not set: SSLv2 corpus hello skipped");
    return;
  }
  // A TLS 1.0 client offering SSL 2.0 and TLS suites in an SSLv2-format hello.
  const json capture =
      load_json(*corpus + "/expected/suricata-verify/sslv2-tls-upgrade-01.pcap.json");
  const json& connection = capture["connections"].begin().value();
  const ByteVec stream =
      test::read_file(*corpus + "/" + connection["streams"]["client"].get<std::string>());
  const auto messages = handshake_messages(stream);
  REQUIRE(!messages.empty());
  REQUIRE(messages[0].sslv2);
  REQUIRE(messages[0].type == 1);
  const ByteVec& body = messages[0].body;
  const tls::ClientHello hello = tls::parse_sslv2_client_hello(bytes(body));
  CHECK(hello.error == tls::HelloError::none);
  CHECK(hello.sslv2);
  const json& shark = connection["tshark"]["client_hellos"][0];
  check_against_tshark(hello, shark);
  // The specs that are SSL 3.0/TLS suites (first byte 0) are the hello's cipher suites.
  std::vector<std::uint16_t> tls_suites;
  for (const auto& spec : shark["ciphers"]) {
    if (spec.get<std::uint32_t>() < 0x10000) tls_suites.push_back(spec.get<std::uint16_t>());
  }
  CHECK(hello.cipher_suites == tls_suites);
  CHECK(hello.cipher_suites.size() == 20);
  // The challenge is the end of the message, right-aligned in the random.
  const std::size_t challenge = body[6] << 8 | body[7];
  REQUIRE(challenge <= 32);
  CHECK(std::equal(body.end() - challenge, body.end(), hello.random.end() - challenge));
  CHECK(std::all_of(hello.random.begin(), hello.random.end() - challenge,
                    [](auto b) { return b == 0; }));
  CHECK(tls::ja3(hello).full.empty());  // no JA3 for an SSLv2 hello, as tshark says
}

TEST_CASE("An SSLv2 CLIENT-HELLO cut at any length is truncated") {
  // RFC 5246 E.2: version 3.1, 6 bytes of specs, no session id, a 16-byte challenge.
  const ByteVec full = cat({from_hex("0301 0006 0000 0010 010080 00002f"), ByteVec(16, 0x77)});
  const auto whole = tls::parse_sslv2_client_hello(bytes(full));
  CHECK(whole.error == tls::HelloError::none);
  CHECK(whole.sslv2_cipher_specs == std::vector<std::uint32_t>{0x010080, 0x2f});
  CHECK(whole.cipher_suites == std::vector<std::uint16_t>{0x2f});
  CHECK(whole.random[15] == 0);
  CHECK(whole.random[16] == 0x77);
  for (std::size_t n = 0; n < full.size(); ++n) {
    const ByteVec cut(full.begin(), full.begin() + n);
    INFO("cut at " << n);
    CHECK(tls::parse_sslv2_client_hello(bytes(cut)).error == tls::HelloError::truncated);
  }
  CHECK(tls::parse_sslv2_client_hello(bytes(cat({full, {0}}))).error ==
        tls::HelloError::trailing_bytes);
  // The first problem found is the one reported: here the spec length, before the challenge.
  CHECK(tls::parse_sslv2_client_hello(bytes(from_hex("0002 0004 0000 0010 01008000"))).error ==
        tls::HelloError::bad_length);
  CHECK(tls::parse_sslv2_client_hello(
            bytes(cat({from_hex("0002 0004 0000 0010 01008000"), ByteVec(16, 1)})))
            .error == tls::HelloError::bad_length);  // 4 bytes of specs is not a multiple of 3
  // SSL 2.0 §2.5: a session id is 16 bytes, or absent.
  CHECK(tls::parse_sslv2_client_hello(
            bytes(cat({from_hex("0301 0003 0005 0010 00002f"), ByteVec(5, 2), ByteVec(16, 1)})))
            .error == tls::HelloError::bad_length);
}
