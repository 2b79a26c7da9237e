// Hostile input: every outcome is a named error in the result, never a crash, an exception or a
// read out of bounds (run under -Db_sanitize=address,undefined to make the last one visible).
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/certificate.hpp"
#include "tlsglass/tls/fingerprint.hpp"
#include "tlsglass/tls/handshake_messages.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/record_reader.hpp"

namespace {

using namespace tlsglass;
using test::ByteVec;

// Runs every parser over every message, the way trace::Session does.
class ParseAll : public tls::RecordObserver {
 public:
  void on_handshake(const tls::HandshakeMessage& m) override {
    ++messages;
    if (m.sslv2) {
      if (m.type == 1) client_errors.push_back(tls::parse_sslv2_client_hello(m.body).error);
      if (m.type == 4) server_errors.push_back(tls::parse_sslv2_server_hello(m.body).error);
      return;
    }
    switch (m.type) {
      case 1: {
        const auto hello = tls::parse_client_hello(m.body);
        client_errors.push_back(hello.error);
        (void)tls::ja3(hello);
        (void)tls::ja4(hello);
        break;
      }
      case 2: {
        const auto hello = tls::parse_server_hello(m.body);
        server_errors.push_back(hello.error);
        (void)tls::ja3s(hello);
        break;
      }
      case 11: (void)tls::parse_certificate_message(m.body, false); break;
      case 12: (void)tls::parse_server_key_exchange(m.body, true); break;
      case 13: (void)tls::parse_certificate_request(m.body, true); break;
      case 4: (void)tls::parse_new_session_ticket(m.body); break;
      default: break;
    }
  }
  void on_error(tls::RecordError e, std::size_t) override { errors.push_back(e); }
  int messages = 0;
  std::vector<tls::HelloError> client_errors, server_errors;
  std::vector<tls::RecordError> errors;
};

ByteVec fixture_hello_body(const std::string& fixture, std::uint8_t type) {
  const char* side = type == 1 ? "client.bin" : "server.bin";
  const ByteVec stream = test::read_file(test::data_path("fixtures/" + fixture + "/" + side));
  struct First : tls::RecordObserver {
    std::uint8_t want;
    ByteVec body;
    void on_handshake(const tls::HandshakeMessage& m) override {
      if (body.empty() && m.type == want) body.assign(m.body.begin(), m.body.end());
    }
  } first;
  first.want = type;
  tls::RecordReader reader;
  reader.feed(stream, first);
  REQUIRE_FALSE(first.body.empty());
  return first.body;
}

// The extensions block of a ClientHello body: offset of its 2-byte length.
std::size_t extensions_offset(const ByteVec& body) {
  std::size_t pos = 2 + 32;
  pos += 1 + body[pos];                             // session id
  pos += 2 + (body[pos] << 8 | body[pos + 1]);      // cipher suites
  pos += 1 + body[pos];                             // compression methods
  return pos;
}

ByteVec with_extensions(const ByteVec& body, const ByteVec& extensions) {
  const std::size_t at = extensions_offset(body);
  ByteVec out(body.begin(), body.begin() + at);
  out.push_back(static_cast<std::uint8_t>(extensions.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(extensions.size()));
  out.insert(out.end(), extensions.begin(), extensions.end());
  return out;
}

}  // namespace

TEST_CASE("A ClientHello truncated at every length is an error, never a crash") {
  const ByteVec body = fixture_hello_body("chromium-tls13", 1);
  REQUIRE(tls::parse_client_hello(body).error == tls::HelloError::none);
  for (std::size_t len = 0; len < body.size(); ++len) {
    const auto hello = tls::parse_client_hello(tls::Bytes(body).first(len));
    if (hello.error == tls::HelloError::none) {
      // Only a cut right after the compression methods is a complete (extension-less) hello.
      CHECK(len == extensions_offset(body));
    }
    (void)tls::ja3(hello);
    (void)tls::ja4(hello);
  }
}

TEST_CASE("A ServerHello truncated at every length is an error, never a crash") {
  const ByteVec body = fixture_hello_body("curl-tls13", 2);
  REQUIRE(tls::parse_server_hello(body).error == tls::HelloError::none);
  std::size_t errors = 0;
  for (std::size_t len = 0; len < body.size(); ++len) {
    const auto hello = tls::parse_server_hello(tls::Bytes(body).first(len));
    errors += hello.error != tls::HelloError::none;
    (void)tls::ja3s(hello);
  }
  CHECK(errors >= body.size() - 1);
}

TEST_CASE("Overlong inner lengths are caught by the enclosing block") {
  ByteVec body = fixture_hello_body("curl-tls13", 1);
  // The cipher suite list claims 0xffff bytes.
  const std::size_t at = 2 + 32 + 1 + body[2 + 32];
  body[at] = 0xff;
  body[at + 1] = 0xfe;
  CHECK(tls::parse_client_hello(body).error == tls::HelloError::truncated);
  // An extension that claims more than the block holds.
  const ByteVec hello = with_extensions(fixture_hello_body("curl-tls13", 1),
                                        {0x00, 0x0a, 0x00, 0x40, 0x00, 0x02, 0x00, 0x1d});
  const auto parsed = tls::parse_client_hello(hello);
  CHECK(parsed.error != tls::HelloError::none);
}

TEST_CASE("Zero-length extensions are recorded; one whose RFC needs a body is an error") {
  const ByteVec body = fixture_hello_body("curl-tls13", 1);
  // extended_master_secret (23) is empty by definition; supported_groups (10) must not be.
  const auto ok = tls::parse_client_hello(with_extensions(body, {0x00, 0x17, 0x00, 0x00}));
  CHECK(ok.error == tls::HelloError::none);
  CHECK(ok.extensions == std::vector<std::uint16_t>{23});
  const auto bad = tls::parse_client_hello(with_extensions(body, {0x00, 0x0a, 0x00, 0x00}));
  CHECK(bad.error != tls::HelloError::none);
  CHECK(bad.extensions == std::vector<std::uint16_t>{10});
  // An empty extensions block is allowed.
  const auto empty = tls::parse_client_hello(with_extensions(body, {}));
  CHECK(empty.error == tls::HelloError::none);
  CHECK(empty.has_extensions_block);
  CHECK(empty.extensions.empty());
}

TEST_CASE("Duplicate extensions are flagged and both are kept in wire order") {
  const ByteVec body = fixture_hello_body("curl-tls13", 1);
  const auto hello = tls::parse_client_hello(
      with_extensions(body, {0x00, 0x17, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00}));
  CHECK(hello.error == tls::HelloError::duplicate_extension);
  CHECK(hello.error_extension == 23);
  CHECK(hello.extensions == std::vector<std::uint16_t>{23, 22, 23});
}

TEST_CASE("64 KiB of random garbage: the reader gives up cleanly at the first record") {
  std::mt19937 rng(20261202);
  for (int round = 0; round < 50; ++round) {
    ByteVec garbage(64 * 1024);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    ParseAll all;
    tls::RecordReader reader;
    for (std::size_t pos = 0; pos < garbage.size(); pos += 1500)
      reader.feed(tls::Bytes(garbage).subspan(pos, std::min<std::size_t>(1500, garbage.size() - pos)), all);
    CHECK(reader.bytes_seen() == garbage.size());
    CHECK(reader.buffered() <= (1u << 14) + 2048 + 64 * 1024 + 16);
  }
}

TEST_CASE("Garbage inside well-framed handshake records never escapes the parsers") {
  std::mt19937 rng(7);
  for (std::uint8_t type : {1, 2, 4, 11, 12, 13}) {
    for (int round = 0; round < 300; ++round) {
      ByteVec body(rng() % 600);
      for (auto& b : body) b = static_cast<std::uint8_t>(rng());
      ParseAll all;
      tls::RecordReader reader;
      reader.feed(test::handshake_record(type, body), all);
      CHECK(all.messages == 1);
      CHECK(all.errors.empty());
    }
  }
}

TEST_CASE("Mutated real hellos: every single-byte change parses to a result") {
  const ByteVec body = fixture_hello_body("chromium-tls13", 1);
  for (std::size_t i = 0; i < body.size(); ++i) {
    ByteVec mutated = body;
    mutated[i] ^= 0xff;
    const auto hello = tls::parse_client_hello(mutated);
    (void)tls::ja3(hello);
    (void)tls::ja4(hello);
    // Whatever was read came from the bytes: no list can hold more entries than they allow.
    CHECK(hello.cipher_suites.size() <= body.size() / 2);
    CHECK(hello.extensions.size() <= body.size() / 4);
  }
}

TEST_CASE("Records of type 0 and 255 are named errors") {
  for (std::uint8_t type : {0, 255}) {
    ParseAll first, later;
    tls::RecordReader a, b;
    a.feed(test::record(type, {1, 2, 3}), first);
    CHECK(first.errors == std::vector{tls::RecordError::not_tls});
    b.feed(test::handshake_record(14, {}), later);
    b.feed(test::record(type, {1, 2, 3}), later);
    CHECK(later.errors == std::vector{tls::RecordError::bad_content_type});
    CHECK(b.error() == tls::RecordError::bad_content_type);
  }
}
