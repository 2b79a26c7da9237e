// ServerKeyExchange, CertificateRequest and NewSessionTicket: real messages from the fixtures
// and the corpus (tshark's server_group is the oracle for the curve), and hand-made edge cases.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/handshake_messages.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/record_reader.hpp"
#include "tlsglass/tls/registry.hpp"

namespace {

using namespace tlsglass;
using test::ByteVec;

struct Message {
  std::uint8_t type;
  ByteVec body;
};

// Plaintext handshake messages of one direction, up to its ChangeCipherSpec.
class Collector : public tls::RecordObserver {
 public:
  explicit Collector(tls::RecordReader& reader) : reader_(reader) {}
  void on_handshake(const tls::HandshakeMessage& m) override {
    if (!m.sslv2) messages.push_back({m.type, ByteVec(m.body.begin(), m.body.end())});
  }
  void on_change_cipher_spec() override { reader_.set_encrypted(); }
  std::vector<Message> messages;

 private:
  tls::RecordReader& reader_;
};

std::vector<Message> server_messages(const ByteVec& stream) {
  tls::RecordReader reader;
  Collector collector(reader);
  reader.feed(stream, collector);
  return collector.messages;
}

const Message* find(const std::vector<Message>& messages, std::uint8_t type) {
  for (const auto& m : messages)
    if (m.type == type) return &m;
  return nullptr;
}

ByteVec concat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ByteVec u16(std::size_t v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}; }

}  // namespace

TEST_CASE("ServerKeyExchange of a TLS 1.2 fixture names the curve tshark saw") {
  const auto path = test::data_path("fixtures/curl-tls12");
  std::ifstream in(path + "/expected.json");
  const auto expected = nlohmann::json::parse(in);
  const auto messages = server_messages(test::read_file(path + "/server.bin"));
  const Message* hello = find(messages, 2);
  const Message* exchange = find(messages, 12);
  REQUIRE(hello);
  REQUIRE(exchange);
  const auto server_hello = tls::parse_server_hello(hello->body);
  const auto parsed = tls::parse_server_key_exchange(
      exchange->body, tls::cipher_suite_uses_ecdhe(server_hello.cipher_suite));
  CHECK_FALSE(parsed.malformed);
  REQUIRE(parsed.named_curve);
  CHECK(*parsed.named_curve == expected["server_group"].get<std::uint16_t>());
  REQUIRE(parsed.signature_scheme);  // TLS 1.2 signs with an explicit scheme
}

TEST_CASE("ServerKeyExchange curves match tshark across the corpus") {
  auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("../shared/corpus not found: skipping (set TLSGLASS_CORPUS)");
    return;
  }
  int checked = 0, dhe = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(*corpus + "/expected")) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const auto doc = nlohmann::json::parse(in);
    for (auto& [key, conn] : doc["connections"].items()) {
      if (!conn.contains("streams") || !conn["streams"].is_object()) continue;
      const auto& shark = conn["tshark"];
      const auto& types = shark["handshake_types"];
      if (!types.is_object() || !types["server"].is_array()) continue;
      bool has_ske = false;
      for (auto& t : types["server"]) has_ske |= t.get<int>() == 12;
      if (!has_ske || shark["server_cipher"].is_null()) continue;
      CAPTURE(entry.path().string(), key);
      const auto messages = server_messages(
          test::read_file(*corpus + "/" + conn["streams"]["server"].get<std::string>()));
      const Message* exchange = find(messages, 12);
      if (!exchange) continue;  // the stream stops at a capture gap before it
      const auto cipher = shark["server_cipher"].get<std::uint16_t>();
      const bool ecdhe = tls::cipher_suite_uses_ecdhe(cipher);
      const auto parsed = tls::parse_server_key_exchange(exchange->body, ecdhe);
      if (ecdhe) {
        CHECK_FALSE(parsed.malformed);
        if (shark["server_group"].is_number()) {
          REQUIRE(parsed.named_curve);
          CHECK(*parsed.named_curve == shark["server_group"].get<std::uint16_t>());
        }
        ++checked;
      } else if (tls::name_of(tls::Registry::cipher_suite, cipher).find("DHE_") != std::string::npos) {
        CHECK_FALSE(parsed.malformed);
        REQUIRE(parsed.dh_prime_bits);
        CHECK(*parsed.dh_prime_bits >= 512);
        ++dhe;
      }
    }
  }
  INFO("ECDHE checked " << checked << ", DHE " << dhe);
  CHECK(checked > 10);
}

TEST_CASE("DHE ServerKeyExchange: prime size in bits ignores leading zero bytes") {
  // p = 0x00 0x01 0xff (9 bits), g = 2, Ys = 1 byte, then a TLS 1.2 signature.
  const ByteVec body = concat({u16(3), {0x00, 0x01, 0xff}, u16(1), {2}, u16(1), {5},
                               {0x08, 0x04}, u16(2), {0xaa, 0xbb}});
  const auto parsed = tls::parse_server_key_exchange(body, false);
  CHECK_FALSE(parsed.malformed);
  CHECK(parsed.dh_prime_bits == 9);
  CHECK(parsed.signature_scheme == 0x0804);
}

TEST_CASE("TLS 1.0 ServerKeyExchange has a signature without a scheme") {
  // ECDHE, x25519, 32-byte point, then signature<2^16-1> with no SignatureAndHashAlgorithm.
  ByteVec point(32, 7);
  const ByteVec body = concat({{3, 0x00, 0x1d, 32}, point, u16(4), {1, 2, 3, 4}});
  const auto parsed = tls::parse_server_key_exchange(body, true);
  CHECK_FALSE(parsed.malformed);
  CHECK(parsed.named_curve == 0x001d);
  CHECK_FALSE(parsed.signature_scheme);
}

TEST_CASE("ServerKeyExchange truncated anywhere is malformed, never a crash") {
  ByteVec point(65, 4);
  const ByteVec body = concat({{3, 0x00, 0x17, 65}, point, {0x04, 0x03}, u16(3), {1, 2, 3}});
  REQUIRE_FALSE(tls::parse_server_key_exchange(body, true).malformed);
  const std::size_t params_end = 4 + point.size();
  for (std::size_t len = 0; len < body.size(); ++len) {
    CAPTURE(len);
    const auto parsed = tls::parse_server_key_exchange(tls::Bytes(body).first(len), true);
    // Params without a signature are what an anonymous suite (ECDH_anon) sends: complete.
    CHECK(parsed.malformed == (len != params_end));
    CHECK(tls::parse_server_key_exchange(tls::Bytes(body).first(len), false).malformed);
  }
  // An explicit curve (curve_type 1 or 2) is not a named curve.
  CHECK(tls::parse_server_key_exchange(ByteVec{1, 0, 0}, true).malformed);
}

TEST_CASE("CertificateRequest lists types, schemes and the number of CA names") {
  const ByteVec dn1(10, 0x30), dn2(5, 0x31);
  const ByteVec body = concat({{2, 1, 64}, u16(4), {0x04, 0x03, 0x08, 0x04},
                               u16(2 + dn1.size() + 2 + dn2.size()), u16(dn1.size()), dn1,
                               u16(dn2.size()), dn2});
  const auto parsed = tls::parse_certificate_request(body, true);
  CHECK_FALSE(parsed.malformed);
  CHECK(parsed.certificate_types == std::vector<std::uint8_t>{1, 64});
  CHECK(parsed.signature_algorithms == std::vector<std::uint16_t>{0x0403, 0x0804});
  CHECK(parsed.certificate_authorities == 2);
  // TLS 1.0/1.1 have no signature algorithms (RFC 4346 §7.4.4).
  const ByteVec old = concat({{1, 1}, u16(0)});
  CHECK_FALSE(tls::parse_certificate_request(old, false).malformed);
  CHECK(tls::parse_certificate_request(old, true).malformed);
  for (std::size_t len = 0; len < body.size(); ++len)
    CHECK(tls::parse_certificate_request(tls::Bytes(body).first(len), true).malformed);
}

TEST_CASE("CertificateRequest and NewSessionTicket in the corpus parse cleanly") {
  auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("../shared/corpus not found: skipping (set TLSGLASS_CORPUS)");
    return;
  }
  int requests = 0, tickets = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(*corpus + "/expected")) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const auto doc = nlohmann::json::parse(in);
    for (auto& [key, conn] : doc["connections"].items()) {
      if (!conn.contains("streams") || !conn["streams"].is_object()) continue;
      const auto& shark = conn["tshark"];
      if (!shark["server_version"].is_number() || shark["server_version"].get<int>() >= 0x0304 ||
          shark["server_version"].get<int>() < 0x0300)
        continue;
      CAPTURE(entry.path().string(), key);
      const auto messages = server_messages(
          test::read_file(*corpus + "/" + conn["streams"]["server"].get<std::string>()));
      for (const auto& m : messages) {
        if (m.type == 13) {
          const bool tls12 = shark["server_version"].get<int>() == 0x0303;
          CHECK_FALSE(tls::parse_certificate_request(m.body, tls12).malformed);
          ++requests;
        }
        if (m.type == 4) {
          const auto ticket = tls::parse_new_session_ticket(m.body);
          CHECK_FALSE(ticket.malformed);
          CHECK(ticket.ticket_length + 6u == m.body.size());
          ++tickets;
        }
      }
    }
  }
  INFO(requests << " CertificateRequest, " << tickets << " NewSessionTicket");
  CHECK(tickets > 0);
}

TEST_CASE("NewSessionTicket: lifetime and ticket length; truncation is malformed") {
  const ByteVec body = concat({{0, 0, 0x1c, 0x20}, u16(3), {9, 9, 9}});
  const auto parsed = tls::parse_new_session_ticket(body);
  CHECK_FALSE(parsed.malformed);
  CHECK(parsed.lifetime_hint == 7200);
  CHECK(parsed.ticket_length == 3);
  for (std::size_t len = 0; len < body.size(); ++len)
    CHECK(tls::parse_new_session_ticket(tls::Bytes(body).first(len)).malformed);
  CHECK(tls::parse_new_session_ticket(concat({body, {0}})).malformed);
}
