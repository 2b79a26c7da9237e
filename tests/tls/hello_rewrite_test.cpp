// The captured ClientHello made ready to be sent again: found in the client's stream, framed
// into N records, given another server_name. Hellos are written out byte by byte from RFC 8446
// §4.1.2 / RFC 6066 §3, taken from the fixtures (real s_client and Chromium hellos, see their
// how.txt), and from the shared corpus; every result goes back through the project's own
// RecordReader and ClientHello parser.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/fingerprint.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/hello_rewrite.hpp"
#include "tlsglass/tls/record_reader.hpp"
#include "tlsglass/tls/types.hpp"

namespace {

using namespace tlsglass;
using json = nlohmann::json;
using test::ByteVec;
using tls::HelloRewriteError;

void put16(ByteVec& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

ByteVec cat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// One extension: ExtensionType, then opaque extension_data<0..2^16-1> (RFC 8446 §4.2).
ByteVec extension(std::uint16_t type, const ByteVec& data) {
  ByteVec out;
  put16(out, type);
  put16(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// RFC 6066 §3, written out: list length, NameType host_name (0), HostName length, name.
ByteVec sni_extension(const std::string& name) {
  ByteVec data;
  put16(data, name.size() + 3);
  data.push_back(0);
  put16(data, name.size());
  data.insert(data.end(), name.begin(), name.end());
  return extension(tls::ext::server_name, data);
}

// RFC 8446 §4.1.2: legacy_version 0x0303, random (32 bytes), legacy_session_id<0..32>,
// cipher_suites<2..2^16-2>, legacy_compression_methods<1..2^8-1> = {null}, then the
// extensions block (absent when `extensions` is nullopt), in a handshake header (type 1,
// uint24 length).
ByteVec hello_message(const std::optional<ByteVec>& extensions,
                      std::vector<std::uint16_t> ciphers = {0x1301, 0x1302, 0xc02f}) {
  ByteVec body{0x03, 0x03};
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<std::uint8_t>(0xa0 + i));
  body.push_back(4);  // a 4-byte session id
  body.insert(body.end(), {0xde, 0xad, 0xbe, 0xef});
  put16(body, ciphers.size() * 2);
  for (auto c : ciphers) put16(body, c);
  body.insert(body.end(), {0x01, 0x00});
  if (extensions) {
    put16(body, extensions->size());
    body.insert(body.end(), extensions->begin(), extensions->end());
  }
  ByteVec message{1, static_cast<std::uint8_t>(body.size() >> 16),
                  static_cast<std::uint8_t>(body.size() >> 8),
                  static_cast<std::uint8_t>(body.size())};
  message.insert(message.end(), body.begin(), body.end());
  return message;
}

// supported_groups {x25519, secp256r1} (RFC 8446 §4.2.7) and supported_versions {1.3, 1.2}
// (§4.2.1), so the parser has something besides the name to keep.
const ByteVec kGroups = extension(tls::ext::supported_groups, {0x00, 0x04, 0x00, 0x1d, 0x00, 0x17});
const ByteVec kVersions = extension(tls::ext::supported_versions, {0x04, 0x03, 0x04, 0x03, 0x03});
const ByteVec kEms = extension(tls::ext::extended_master_secret, {});

tls::Bytes bytes(const ByteVec& v) { return tls::Bytes(v.data(), v.size()); }

tls::ClientHello parse_message(const ByteVec& message) {
  REQUIRE(message.size() >= 4);
  return tls::parse_client_hello(bytes(message).subspan(4));
}

// What RecordReader makes of a stream: the first handshake message whole, and its record count.
struct FirstMessage : tls::RecordObserver {
  ByteVec message;
  std::uint32_t records = 0;
  std::uint16_t record_version = 0;
  std::vector<tls::RecordError> errors;
  int messages = 0;
  void on_handshake(const tls::HandshakeMessage& m) override {
    if (messages++ > 0) return;
    message = {m.type, static_cast<std::uint8_t>(m.length >> 16),
               static_cast<std::uint8_t>(m.length >> 8), static_cast<std::uint8_t>(m.length)};
    message.insert(message.end(), m.body.begin(), m.body.end());
    records = m.records;
    record_version = m.record_version;
  }
  void on_error(tls::RecordError e, std::size_t) override { errors.push_back(e); }
};

FirstMessage read_records(const ByteVec& stream) {
  FirstMessage first;
  tls::RecordReader reader;
  reader.feed(bytes(stream), first);
  return first;
}

// The parsed offer, field by field: what a re-framed hello must keep.
void check_same_offer(const tls::ClientHello& a, const tls::ClientHello& b) {
  CHECK(a.error == b.error);
  CHECK(a.legacy_version == b.legacy_version);
  CHECK(a.random == b.random);
  CHECK(a.session_id == b.session_id);
  CHECK(a.cipher_suites == b.cipher_suites);
  CHECK(a.compression_methods == b.compression_methods);
  CHECK(a.has_extensions_block == b.has_extensions_block);
  CHECK(a.extensions == b.extensions);
  CHECK(a.server_name == b.server_name);
  CHECK(a.supported_versions == b.supported_versions);
  CHECK(a.supported_groups == b.supported_groups);
  REQUIRE(a.key_shares.size() == b.key_shares.size());
  for (std::size_t i = 0; i < a.key_shares.size(); ++i) {
    CHECK(a.key_shares[i].group == b.key_shares[i].group);
    CHECK(a.key_shares[i].key_length == b.key_shares[i].key_length);
  }
  CHECK(a.signature_algorithms == b.signature_algorithms);
  CHECK(a.alpn == b.alpn);
  CHECK(a.ec_point_formats == b.ec_point_formats);
  CHECK(a.padding_length == b.padding_length);
  CHECK(a.ech == b.ech);
}

ByteVec fixture_stream(const std::string& name) {
  return test::read_file(test::data_path("fixtures/" + name + "/client.bin"));
}

}  // namespace

// ---- client_hello_message / client_hello_end ----

TEST_CASE("A ClientHello in one record ends after that record, whatever follows it") {
  const ByteVec message = hello_message(cat({sni_extension("a.example"), kGroups}));
  const ByteVec hello_record = test::record(22, message, 0x0301);
  // A compatibility ChangeCipherSpec and early data after it are not part of the hello.
  const ByteVec stream =
      cat({hello_record, test::record(20, {0x01}), test::record(23, ByteVec(40, 0x55))});
  const auto hello = tls::client_hello_message(bytes(stream));
  REQUIRE(hello.ok());
  CHECK(hello.message == message);
  CHECK(hello.records == 1);
  CHECK(hello.record_version == 0x0301);
  CHECK(hello.stream_end == hello_record.size());
  CHECK(hello.trailing_bytes == 0);
  CHECK(tls::client_hello_end(bytes(stream)) == hello_record.size());
}

TEST_CASE("A ClientHello split over three records ends after the third") {
  const ByteVec message = hello_message(cat({sni_extension("split.example"), kGroups, kVersions}));
  // Cut inside the handshake header (2 bytes), then mid-body: RFC 8446 §5.1 allows both.
  const ByteVec first(message.begin(), message.begin() + 2);
  const ByteVec second(message.begin() + 2, message.begin() + 30);
  const ByteVec third(message.begin() + 30, message.end());
  const ByteVec stream = cat({test::record(22, first, 0x0301), test::record(22, second, 0x0303),
                              test::record(22, third, 0x0303), test::record(23, {1, 2, 3})});
  const auto hello = tls::client_hello_message(bytes(stream));
  REQUIRE(hello.ok());
  CHECK(hello.message == message);
  CHECK(hello.records == 3);
  CHECK(hello.record_version == 0x0301);  // the record that began it
  CHECK(hello.stream_end == stream.size() - 8);
  // RecordReader agrees on the message and on the count.
  const FirstMessage read = read_records(stream);
  CHECK(read.message == message);
  CHECK(read.records == 3);
}

TEST_CASE("client_hello_end is nullopt until the record completing the hello is all there") {
  const ByteVec message = hello_message(cat({sni_extension("a.example"), kGroups}));
  const ByteVec stream = tls::frame_handshake(bytes(message), 3, 0x0301);
  for (std::size_t len = 0; len < stream.size(); ++len) {
    INFO("cut at " << len);
    const auto hello = tls::client_hello_message(bytes(stream).first(len));
    CHECK(hello.error == HelloRewriteError::incomplete);
    CHECK(hello.message.empty());
    CHECK_FALSE(tls::client_hello_end(bytes(stream).first(len)));
  }
  CHECK(tls::client_hello_end(bytes(stream)) == stream.size());
}

TEST_CASE("The first ClientHello of the openssl-split-records fixture spans its two records") {
  const ByteVec stream = fixture_stream("openssl-split-records");
  const auto hello = tls::client_hello_message(bytes(stream));
  REQUIRE(hello.ok());
  CHECK(hello.records == 2);
  CHECK(hello.stream_end == 5 + 512 + 5 + 37);  // the CCS and application data stay out
  CHECK(hello.message.size() == 512 + 37);
  CHECK(parse_message(hello.message).error == tls::HelloError::none);
}

TEST_CASE("Streams that hold no TLS ClientHello say why") {
  const ByteVec message = hello_message(cat({kGroups}));
  SECTION("garbage, or an HTTP request") {
    const std::string http = "GET / HTTP/1.1\r\n\r\n";
    CHECK(tls::client_hello_message(bytes(ByteVec(http.begin(), http.end()))).error ==
          HelloRewriteError::not_tls);
    CHECK(tls::client_hello_message(bytes(ByteVec{0x16, 0x09, 0x09})).error ==
          HelloRewriteError::not_tls);  // no such record version, even cut short
  }
  SECTION("empty") { CHECK(tls::client_hello_message({}).error == HelloRewriteError::incomplete); }
  SECTION("an alert, or a ServerHello, where the hello should be") {
    CHECK(tls::client_hello_message(bytes(test::record(21, {2, 40}))).error ==
          HelloRewriteError::not_client_hello);
    ByteVec server_hello = message;
    server_hello[0] = 2;
    CHECK(tls::client_hello_message(bytes(test::record(22, server_hello))).error ==
          HelloRewriteError::not_client_hello);
  }
  SECTION("an alert between two records of the hello") {
    const ByteVec half(message.begin(), message.begin() + 10);
    const ByteVec rest(message.begin() + 10, message.end());
    const ByteVec stream =
        cat({test::record(22, half), test::record(21, {2, 40}), test::record(22, rest)});
    CHECK(tls::client_hello_message(bytes(stream)).error == HelloRewriteError::not_client_hello);
  }
  SECTION("an empty handshake record is stepped over, as RecordReader tolerates it") {
    const ByteVec stream = cat({test::record(22, {}), test::record(22, message)});
    const auto hello = tls::client_hello_message(bytes(stream));
    REQUIRE(hello.ok());
    CHECK(hello.records == 1);
    CHECK(hello.message == message);
  }
  SECTION("a record longer than RFC 5246 §6.2.3 allows") {
    ByteVec stream{22, 3, 1, 0x48, 0x01};  // 18433 > 2^14 + 2048
    CHECK(tls::client_hello_message(bytes(stream)).error == HelloRewriteError::record_too_long);
  }
  SECTION("a message longer than the buffering cap") {
    const ByteVec stream{22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x01};  // 65537 bytes announced
    CHECK(tls::client_hello_message(bytes(stream)).error == HelloRewriteError::message_too_large);
    tls::RecordLimits small;
    small.max_handshake_message = 32;
    CHECK(tls::client_hello_message(bytes(test::record(22, message)), small).error ==
          HelloRewriteError::message_too_large);
  }
}

TEST_CASE("An SSLv2-format hello is found but cannot be re-framed") {
  // SSLv2 CLIENT-HELLO (RFC 5246 appendix E.2): msg_type 1, version 3.1, cipher_spec_length 3,
  // session_id_length 0, challenge_length 16, one cipher spec, the challenge.
  ByteVec payload{1, 3, 1, 0, 3, 0, 0, 0, 16, 0x00, 0x00, 0x2f};
  payload.insert(payload.end(), 16, 0x42);
  ByteVec stream{static_cast<std::uint8_t>(0x80 | payload.size() >> 8),
                 static_cast<std::uint8_t>(payload.size())};
  stream.insert(stream.end(), payload.begin(), payload.end());
  stream.insert(stream.end(), {22, 3, 1, 0, 0});  // what a client sends after it
  const auto hello = tls::client_hello_message(bytes(stream));
  CHECK(hello.error == HelloRewriteError::sslv2_hello);
  CHECK(hello.stream_end == 2 + payload.size());
  CHECK(hello.message.empty());
  CHECK_FALSE(tls::client_hello_end(bytes(stream)));
}

// ---- frame_handshake ----

TEST_CASE("A message is framed into N records of even sizes, the first ones a byte larger") {
  const ByteVec message{1, 0, 0, 6, 10, 11, 12, 13, 14, 15};  // 10 bytes
  // 10 = 4 + 3 + 3 (RFC 8446 §5.1 record header: type 22, version, uint16 length).
  const ByteVec expected{22, 3, 1, 0, 4, 1,  0,  0,  6,  //
                         22, 3, 1, 0, 3, 10, 11, 12,     //
                         22, 3, 1, 0, 3, 13, 14, 15};
  CHECK(tls::frame_handshake(bytes(message), 3, 0x0301) == expected);
  CHECK(tls::frame_handshake(bytes(message), 1, 0x0303) == cat({{22, 3, 3, 0, 10}, message}));
}

TEST_CASE("The record count is capped at one byte per record, and at kMaxHandshakeRecords") {
  CHECK(tls::handshake_record_count(0, 5) == 0);
  CHECK(tls::frame_handshake({}, 5, 0x0301).empty());
  CHECK(tls::handshake_record_count(10, 0) == 1);  // 0 means at least one
  CHECK(tls::handshake_record_count(10, 10) == 10);
  CHECK(tls::handshake_record_count(10, 11) == 10);
  CHECK(tls::handshake_record_count(100000, 1000000) == tls::kMaxHandshakeRecords);
  const ByteVec message(10, 7);
  CHECK(tls::frame_handshake(bytes(message), 99, 0x0301).size() == 10 * 6);
}

TEST_CASE("single framing of a message larger than 2^14 uses the fewest records that hold it") {
  CHECK(tls::handshake_record_count(16384, 1) == 1);
  CHECK(tls::handshake_record_count(16385, 1) == 2);
  CHECK(tls::handshake_record_count(40000, 2) == 3);
  const ByteVec message = cat({{1, 0, 0x4e, 0x1c}, ByteVec(20000 - 4, 0x33)});
  const ByteVec framed = tls::frame_handshake(bytes(message), 1, 0x0301);
  REQUIRE(framed.size() == 20000 + 2 * 5);
  CHECK((framed[3] << 8 | framed[4]) == 10000);  // RFC 8446 §5.1: each within 2^14
  CHECK((framed[5 + 10000 + 3] << 8 | framed[5 + 10000 + 4]) == 10000);
}

TEST_CASE("A hello framed into 1..8 records reads back as the same hello") {
  const ByteVec message =
      hello_message(cat({sni_extension("frame.example"), kGroups, kVersions, kEms}));
  const tls::ClientHello original = parse_message(message);
  REQUIRE(original.error == tls::HelloError::none);
  for (std::size_t n = 1; n <= 8; ++n) {
    INFO(n << " records");
    const ByteVec stream = tls::frame_handshake(bytes(message), n, 0x0301);
    const FirstMessage read = read_records(stream);
    CHECK(read.errors.empty());
    CHECK(read.records == n);
    CHECK(read.record_version == 0x0301);
    REQUIRE(read.message == message);
    check_same_offer(parse_message(read.message), original);
    const auto again = tls::client_hello_message(bytes(stream));
    CHECK(again.records == n);
    CHECK(again.stream_end == stream.size());
  }
}

// ---- with_server_name ----

TEST_CASE("The server_name is replaced where it stands, every length fixed up") {
  const ByteVec before = hello_message(cat({kGroups, sni_extension("a.example"), kVersions}));
  const ByteVec expected =
      hello_message(cat({kGroups, sni_extension("replay.other.example"), kVersions}));
  const auto rewritten = tls::with_server_name(bytes(before), "replay.other.example");
  REQUIRE(rewritten.ok());
  CHECK(rewritten.message == expected);
  CHECK_FALSE(rewritten.stale_psk_binders);
  CHECK_FALSE(rewritten.stale_ech);

  const tls::ClientHello old_hello = parse_message(before);
  const tls::ClientHello new_hello = parse_message(rewritten.message);
  CHECK(new_hello.error == tls::HelloError::none);
  CHECK(new_hello.server_name == "replay.other.example");
  CHECK(new_hello.cipher_suites == old_hello.cipher_suites);
  CHECK(new_hello.extensions == old_hello.extensions);
  CHECK(new_hello.supported_groups == old_hello.supported_groups);
  CHECK(new_hello.supported_versions == old_hello.supported_versions);
  // Neither fingerprint covers the name itself.
  CHECK(tls::ja3(new_hello).full == tls::ja3(old_hello).full);
  CHECK(tls::ja4(new_hello).ja4 == tls::ja4(old_hello).ja4);
}

TEST_CASE("A hello without server_name gets one as its first extension") {
  const ByteVec before = hello_message(cat({kGroups, kVersions}));
  const auto rewritten = tls::with_server_name(bytes(before), "added.example");
  REQUIRE(rewritten.ok());
  CHECK(rewritten.message ==
        hello_message(cat({sni_extension("added.example"), kGroups, kVersions})));
  const tls::ClientHello hello = parse_message(rewritten.message);
  CHECK(hello.server_name == "added.example");
  CHECK(hello.extensions == std::vector<std::uint16_t>{tls::ext::server_name,
                                                       tls::ext::supported_groups,
                                                       tls::ext::supported_versions});
  // JA4 now says 'd' (domain) where it said 'i', and counts one extension more.
  const std::string old_ja4 = tls::ja4(parse_message(before)).ja4;
  const std::string new_ja4 = tls::ja4(hello).ja4;
  CHECK(old_ja4[3] == 'i');
  CHECK(new_ja4[3] == 'd');
  CHECK(new_ja4.substr(new_ja4.find('_')) == old_ja4.substr(old_ja4.find('_')));
}

TEST_CASE("A hello with no extensions block at all gets one holding the server_name") {
  const ByteVec before = hello_message(std::nullopt);
  const auto rewritten = tls::with_server_name(bytes(before), "old.example");
  REQUIRE(rewritten.ok());
  CHECK(rewritten.message == hello_message(sni_extension("old.example")));
  // Removing from a hello that has no block, or no name, changes nothing.
  CHECK(tls::with_server_name(bytes(before), std::nullopt).message == before);
  const ByteVec nameless = hello_message(cat({kGroups}));
  CHECK(tls::with_server_name(bytes(nameless), std::nullopt).message == nameless);
}

TEST_CASE("nullopt removes the server_name and leaves the rest") {
  const ByteVec before = hello_message(cat({sni_extension("gone.example"), kGroups, kEms}));
  const auto rewritten = tls::with_server_name(bytes(before), std::nullopt);
  REQUIRE(rewritten.ok());
  CHECK(rewritten.message == hello_message(cat({kGroups, kEms})));
  CHECK_FALSE(parse_message(rewritten.message).server_name);
  // The only extension removed: an empty block stays (RFC 5246 §7.4.1.2 extensions<0..2^16-1>).
  const auto alone = tls::with_server_name(bytes(hello_message(sni_extension("x"))), std::nullopt);
  CHECK(alone.message == hello_message(ByteVec{}));
}

TEST_CASE("Host names the extension cannot carry are refused") {
  const ByteVec before = hello_message(cat({kGroups}));
  CHECK(tls::with_server_name(bytes(before), "").error == HelloRewriteError::bad_host_name);
  // extension_data holds name + 5 bytes; the block holds 4 more per extension.
  const ByteVec bare = hello_message(ByteVec{});
  CHECK(tls::with_server_name(bytes(bare), std::string(0xffff - 9, 'a')).ok());
  CHECK(tls::with_server_name(bytes(bare), std::string(0xffff - 8, 'a')).error ==
        HelloRewriteError::too_large);
  CHECK(tls::with_server_name(bytes(bare), std::string(0xffff, 'a')).error ==
        HelloRewriteError::too_large);
  const auto longest = tls::with_server_name(bytes(bare), std::string(0xffff - 9, 'a'));
  CHECK(parse_message(longest.message).server_name->size() == 0xffff - 9);
}

TEST_CASE("A padding extension is left as it is, so the hello's size changes") {
  const ByteVec padding = extension(tls::ext::padding, ByteVec(40, 0));
  const ByteVec before = hello_message(cat({sni_extension("ab.example"), kGroups, padding}));
  const auto rewritten = tls::with_server_name(bytes(before), "a.example");
  REQUIRE(rewritten.ok());
  CHECK(rewritten.message.size() == before.size() - 1);
  CHECK(parse_message(rewritten.message).padding_length == 40);
}

TEST_CASE("A rewrite says when it broke PSK binders or an ECH payload") {
  // pre_shared_key (RFC 8446 §4.2.11): one identity (1 byte, age 0), one 32-byte binder.
  ByteVec offered{0x00, 0x07, 0x00, 0x01, 0x77, 0, 0, 0, 0, 0x00, 0x21, 0x20};
  offered.insert(offered.end(), 32, 0x99);
  const ByteVec psk = extension(tls::ext::pre_shared_key, offered);
  const ByteVec with_psk = hello_message(cat({sni_extension("a.example"), kGroups, psk}));
  const auto rewritten = tls::with_server_name(bytes(with_psk), "b.example");
  REQUIRE(rewritten.ok());
  CHECK(rewritten.stale_psk_binders);
  CHECK(parse_message(rewritten.message).error == tls::HelloError::none);
  CHECK(parse_message(rewritten.message).extensions.back() == tls::ext::pre_shared_key);
  // The same name again changes no byte, and breaks nothing.
  const auto same = tls::with_server_name(bytes(with_psk), "a.example");
  CHECK(same.message == with_psk);
  CHECK_FALSE(same.stale_psk_binders);
  // Added to a hello without one: first, so pre_shared_key stays last.
  const auto added = tls::with_server_name(bytes(hello_message(cat({kGroups, psk}))), "c.example");
  CHECK(parse_message(added.message).extensions.front() == tls::ext::server_name);
  CHECK(parse_message(added.message).error == tls::HelloError::none);

  // ECHClientHello outer (draft-ietf-tls-esni §5): type 0, kdf, aead, config_id, enc, payload.
  const ByteVec ech = extension(tls::ext::encrypted_client_hello,
                                {0, 0, 1, 0, 1, 7, 0, 2, 0xaa, 0xbb, 0, 3, 1, 2, 3});
  const auto outer = tls::with_server_name(
      bytes(hello_message(cat({sni_extension("public.example"), ech}))), "x.example");
  REQUIRE(outer.ok());
  CHECK(outer.stale_ech);
  CHECK_FALSE(outer.stale_psk_binders);
}

TEST_CASE("Malformed ClientHello messages are refused, never read past") {
  const ByteVec good = hello_message(cat({sni_extension("a.example"), kGroups}));
  SECTION("two server_name extensions") {
    const ByteVec twice = hello_message(cat({sni_extension("a.example"), sni_extension("b")}));
    CHECK(tls::with_server_name(bytes(twice), "c").error == HelloRewriteError::malformed_hello);
  }
  SECTION("not a ClientHello") {
    ByteVec server = good;
    server[0] = 2;
    CHECK(tls::with_server_name(bytes(server), "c").error == HelloRewriteError::not_client_hello);
  }
  SECTION("a handshake length that overflows, or is short of the bytes") {
    ByteVec huge = good;
    huge[1] = huge[2] = huge[3] = 0xff;
    CHECK(tls::with_server_name(bytes(huge), "c").error == HelloRewriteError::incomplete);
    ByteVec longer = good;
    longer.push_back(0);
    CHECK(tls::with_server_name(bytes(longer), "c").error == HelloRewriteError::malformed_hello);
  }
  SECTION("an extensions length past the body") {
    const std::size_t at = 4 + 2 + 32 + 1 + 4 + 2 + 6 + 2;  // the extensions block length
    ByteVec overrun = good;
    overrun[at] = 0xff;
    overrun[at + 1] = 0xff;
    CHECK(tls::with_server_name(bytes(overrun), "c").error == HelloRewriteError::malformed_hello);
    ByteVec inner = good;
    inner[at + 2 + 2] = 0xff;  // the first extension's own length
    CHECK(tls::with_server_name(bytes(inner), "c").error == HelloRewriteError::malformed_hello);
  }
  SECTION("cut at every length") {
    for (std::size_t len = 0; len < good.size(); ++len) {
      INFO("cut at " << len);
      const auto rewritten = tls::with_server_name(bytes(good).first(len), "c.example");
      CHECK_FALSE(rewritten.ok());
      CHECK(rewritten.message.empty());
    }
  }
}

TEST_CASE("Random damage to a real hello and its records never crashes the rewrite") {
  const ByteVec stream = fixture_stream("chromium-tls13");
  const auto hello = tls::client_hello_message(bytes(stream));
  REQUIRE(hello.ok());
  std::mt19937 random(20261125);
  for (int round = 0; round < 3000; ++round) {
    ByteVec damaged_stream(stream.begin(), stream.begin() + hello.stream_end);
    ByteVec damaged_message = hello.message;
    for (int flips = 0; flips < 1 + round % 4; ++flips) {
      damaged_stream[random() % damaged_stream.size()] = static_cast<std::uint8_t>(random());
      damaged_message[random() % damaged_message.size()] = static_cast<std::uint8_t>(random());
    }
    const auto found = tls::client_hello_message(bytes(damaged_stream));
    if (found.ok()) {
      CHECK(found.stream_end <= damaged_stream.size());
      CHECK(found.message.size() >= 4);
    }
    const auto rewritten = tls::with_server_name(bytes(damaged_message), "fuzz.example");
    if (rewritten.ok()) {
      CHECK(parse_message(rewritten.message).server_name == "fuzz.example");
    }
    (void)tls::with_server_name(bytes(damaged_message), std::nullopt);
  }
}

TEST_CASE("Chromium's post-quantum hello keeps its offer through every rewrite") {
  const ByteVec stream = fixture_stream("chromium-tls13");
  const auto hello = tls::client_hello_message(bytes(stream));
  REQUIRE(hello.ok());
  const tls::ClientHello original = parse_message(hello.message);
  REQUIRE(original.server_name);
  const auto renamed = tls::with_server_name(bytes(hello.message), "elsewhere.example");
  REQUIRE(renamed.ok());
  tls::ClientHello again = parse_message(renamed.message);
  CHECK(again.server_name == "elsewhere.example");
  again.server_name = original.server_name;
  check_same_offer(again, original);
  CHECK(tls::ja3(again).hash == tls::ja3(original).hash);
  CHECK(tls::ja4(again).ja4 == tls::ja4(original).ja4);
  // Removed and put back: first now, the rest in order.
  const auto removed = tls::with_server_name(bytes(hello.message), std::nullopt);
  const auto restored = tls::with_server_name(bytes(removed.message), *original.server_name);
  std::vector<std::uint16_t> expected = original.extensions;
  std::erase(expected, tls::ext::server_name);
  CHECK(parse_message(removed.message).extensions == expected);
  expected.insert(expected.begin(), tls::ext::server_name);
  CHECK(parse_message(restored.message).extensions == expected);
}

TEST_CASE("Every ClientHello of the shared corpus re-framed into 1..8 records reads the same") {
  const auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("TLSGLASS_CORPUS is not set or has no expected/: corpus re-framing skipped");
    return;
  }
  int hellos = 0, multi_record = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(*corpus + "/expected")) {
    if (file.path().extension() != ".json") continue;
    const json capture = json::parse(test::read_file(file.path()));
    for (const auto& [name, connection] : capture["connections"].items()) {
      const json streams = connection.value("streams", json());
      if (!streams.is_object() || !streams.contains("client")) continue;
      const ByteVec stream = test::read_file(*corpus + "/" + streams["client"].get<std::string>());
      // Streams with a plaintext prelude or an SSLv2 hello are the lead's to strip or skip.
      if (stream.size() < 6 || stream[0] != 22 || stream[5] != 1) continue;
      INFO(file.path().filename().string() << " " << name);
      const auto hello = tls::client_hello_message(bytes(stream));
      REQUIRE(hello.ok());
      ++hellos;
      multi_record += hello.records > 1;
      const FirstMessage as_captured = read_records(stream);
      REQUIRE(as_captured.message == hello.message);
      CHECK(as_captured.records == hello.records);
      const tls::ClientHello original = parse_message(hello.message);
      for (std::size_t n = 1; n <= 8; ++n) {
        INFO(n << " records");
        const ByteVec framed = tls::frame_handshake(bytes(hello.message), n, hello.record_version);
        const FirstMessage read = read_records(framed);
        CHECK(read.errors.empty());
        CHECK(read.records == tls::handshake_record_count(hello.message.size(), n));
        REQUIRE(read.message == hello.message);
        check_same_offer(parse_message(read.message), original);
      }
      const auto renamed = tls::with_server_name(bytes(hello.message), "corpus.replay.example");
      REQUIRE(renamed.ok());
      const tls::ClientHello again = parse_message(renamed.message);
      CHECK(again.server_name == "corpus.replay.example");
      CHECK(again.cipher_suites == original.cipher_suites);
      CHECK(again.error == original.error);
      if (original.server_name) {
        CHECK(again.extensions == original.extensions);
        CHECK(tls::ja3(again).full == tls::ja3(original).full);
      } else {
        CHECK(again.extensions.size() == original.extensions.size() + 1);
      }
    }
  }
  INFO(hellos << " hellos, " << multi_record << " over several records");
  // No corpus client splits its hello (the openssl-split-records fixture above does).
  CHECK(hellos >= 250);
}
