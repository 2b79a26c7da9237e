// The record layer, driven with real streams recorded by scripts/record-fixtures (tshark's
// record counts and handshake types are the oracle) and with hand-framed records.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/record_reader.hpp"

namespace {

using namespace tlsglass;
using test::ByteVec;

// Writes every event as a line, so that two ways of feeding can be compared exactly.
class EventLog : public tls::RecordObserver {
 public:
  void on_record(const tls::RecordHeader& h) override {
    ++records_by_type[h.sslv2 ? "sslv2" : std::to_string(h.type)];
    events.push_back("record " + std::to_string(h.type) + " " + std::to_string(h.version) + " " +
                     std::to_string(h.length) + (h.sslv2 ? " sslv2" : ""));
  }
  void on_handshake(const tls::HandshakeMessage& m) override {
    handshake_types.push_back(m.type);
    bodies.emplace_back(m.body.begin(), m.body.end());
    records_per_message.push_back(m.records);
    events.push_back("handshake " + std::to_string(m.type) + " " + std::to_string(m.length) +
                     " records=" + std::to_string(m.records) + " v=" +
                     std::to_string(m.record_version) + (m.sslv2 ? " sslv2" : "") + " " +
                     test::to_hex(ByteVec(m.body.begin(), m.body.end())));
  }
  void on_alert(const tls::AlertMessage& a) override {
    alerts.push_back(a);
    events.push_back("alert " + std::to_string(a.level) + " " + std::to_string(a.description));
  }
  void on_change_cipher_spec() override {
    ++change_cipher_specs;
    events.push_back("ccs");
  }
  void on_encrypted_record(const tls::RecordHeader& h) override {
    encrypted_lengths.push_back(h.length);
    events.push_back("opaque " + std::to_string(h.type) + " " + std::to_string(h.length));
  }
  void on_error(tls::RecordError e, std::size_t offset) override {
    errors.push_back(e);
    events.push_back("error " + std::string(tls::record_error_name(e)) + " @" +
                     std::to_string(offset));
  }

  std::vector<std::string> events;
  std::map<std::string, int> records_by_type;
  std::vector<std::uint8_t> handshake_types;
  std::vector<ByteVec> bodies;
  std::vector<std::uint32_t> records_per_message;
  std::vector<tls::AlertMessage> alerts;
  std::vector<std::uint16_t> encrypted_lengths;
  std::vector<tls::RecordError> errors;
  int change_cipher_specs = 0;
};

EventLog feed_whole(const ByteVec& bytes, tls::RecordLimits limits = {}) {
  EventLog log;
  tls::RecordReader reader(limits);
  reader.feed(bytes, log);
  return log;
}

EventLog feed_in_pieces(const ByteVec& bytes, std::size_t piece) {
  EventLog log;
  tls::RecordReader reader;
  for (std::size_t pos = 0; pos < bytes.size(); pos += piece) {
    reader.feed(tls::Bytes(bytes).subspan(pos, std::min(piece, bytes.size() - pos)), log);
  }
  return log;
}

ByteVec concat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Both directions of a fixture, with the encryption switch a real endpoint makes: after a
// ChangeCipherSpec (TLS <=1.2), or after a TLS 1.3 ServerHello for both sides.
struct Connection {
  EventLog client, server;
};

class SwitchingObserver : public EventLog {
 public:
  SwitchingObserver(tls::RecordReader& self, tls::RecordReader& peer, bool& tls13,
                    bool& server_hello)
      : self_(self), peer_(peer), tls13_(tls13), server_hello_(server_hello) {}
  void on_handshake(const tls::HandshakeMessage& m) override {
    EventLog::on_handshake(m);
    if (m.type == 2 && !m.sslv2) {
      const tls::ServerHello hello = tls::parse_server_hello(m.body);
      if (hello.hello_retry_request) return;
      server_hello_ = true;
      if (hello.negotiated_version() == tls::version::tls13) {
        tls13_ = true;
        self_.set_encrypted();
        peer_.set_encrypted();
      }
    }
  }
  void on_change_cipher_spec() override {
    EventLog::on_change_cipher_spec();
    // RFC 8446 appendix D.4: a TLS 1.3 compatibility CCS (also after a HelloRetryRequest)
    // changes nothing; in TLS <=1.2 what follows it is protected.
    if (!tls13_ && server_hello_) self_.set_encrypted();
  }

 private:
  tls::RecordReader& self_;
  tls::RecordReader& peer_;
  bool& tls13_;
  bool& server_hello_;
};

// Feeds a fixture's segments in capture order (transcript.jsonl), as a live relay would.
std::pair<std::vector<std::uint8_t>, std::vector<std::uint8_t>> handshake_types_of(
    const std::string& fixture) {
  tls::RecordReader client_reader, server_reader;
  bool tls13 = false, server_hello = false;
  SwitchingObserver client_log(client_reader, server_reader, tls13, server_hello);
  SwitchingObserver server_log(server_reader, client_reader, tls13, server_hello);
  std::ifstream in(test::data_path("fixtures/" + fixture + "/transcript.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    const auto segment = nlohmann::json::parse(line);
    if (!segment.contains("hex")) continue;
    const ByteVec bytes = test::from_hex(segment["hex"].get<std::string>());
    if (segment["from"] == "client") {
      client_reader.feed(bytes, client_log);
    } else {
      server_reader.feed(bytes, server_log);
    }
  }
  return {client_log.handshake_types, server_log.handshake_types};
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(test::data_path("fixtures"))) {
    if (std::filesystem::exists(entry.path() / "expected.json"))
      names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

nlohmann::json load_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

ByteVec client_hello_message() {
  // The Chromium fixture's ClientHello (post-quantum key share, ~1.9 KB), as a message.
  const ByteVec stream = test::read_file(test::data_path("fixtures/chromium-tls13/client.bin"));
  EventLog log = feed_whole(stream);
  REQUIRE_FALSE(log.bodies.empty());
  const ByteVec& body = log.bodies.front();
  ByteVec message{1, static_cast<std::uint8_t>(body.size() >> 16),
                  static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
  message.insert(message.end(), body.begin(), body.end());
  return message;
}

}  // namespace

TEST_CASE("Record counts per content type match tshark on every fixture") {
  for (const auto& name : fixture_names()) {
    const auto expected = load_json(test::data_path("fixtures/" + name + "/expected.json"));
    for (const std::string side : {"client", "server"}) {
      CAPTURE(name, side);
      const ByteVec stream = test::read_file(test::data_path("fixtures/" + name + "/" + side + ".bin"));
      const EventLog log = feed_whole(stream);
      std::map<std::string, int> want;
      if (expected["record_counts"].contains(side) && expected["record_counts"][side].is_object())
        for (auto& [type, count] : expected["record_counts"][side].items()) want[type] = count;
      if (expected["record_counts"][side].is_null() || want.empty()) {
        // tshark saw no TLS from this side (plain HTTP server, silent server, ...).
        CHECK(log.records_by_type.empty());
        continue;
      }
      CHECK(log.records_by_type == want);
    }
  }
}

TEST_CASE("Plaintext handshake message types match tshark on every fixture") {
  for (const auto& name : fixture_names()) {
    CAPTURE(name);
    const auto expected = load_json(test::data_path("fixtures/" + name + "/expected.json"));
    auto [client_types, server_types] = handshake_types_of(name);
    const auto& types = expected["handshake_types"];
    std::vector<std::uint8_t> want_client, want_server;
    if (types["client"].is_array()) want_client = types["client"].get<std::vector<std::uint8_t>>();
    if (types["server"].is_array()) want_server = types["server"].get<std::vector<std::uint8_t>>();
    CHECK(client_types == want_client);
    CHECK(server_types == want_server);
  }
}

TEST_CASE("Every fixture stream gives the same events whole, byte by byte and at every split") {
  for (const auto& name : fixture_names()) {
    for (const std::string side : {"client", "server"}) {
      CAPTURE(name, side);
      ByteVec stream = test::read_file(test::data_path("fixtures/" + name + "/" + side + ".bin"));
      if (stream.size() > 4096) stream.resize(4096);  // the handshake part; keeps it quick
      const EventLog whole = feed_whole(stream);
      CHECK(feed_in_pieces(stream, 1).events == whole.events);
      CHECK(feed_in_pieces(stream, 7).events == whole.events);
      for (std::size_t split = 1; split < stream.size(); ++split) {
        EventLog log;
        tls::RecordReader reader;
        reader.feed(tls::Bytes(stream).first(split), log);
        reader.feed(tls::Bytes(stream).subspan(split), log);
        if (log.events != whole.events) {
          std::string diff;
          for (std::size_t i = 0; i < std::max(log.events.size(), whole.events.size()); ++i) {
            const std::string a = i < whole.events.size() ? whole.events[i] : "-";
            const std::string b = i < log.events.size() ? log.events[i] : "-";
            if (a != b) {
              diff = "event " + std::to_string(i) + ": whole `" + a.substr(0, 80) + "` split `" +
                     b.substr(0, 80) + "`";
              break;
            }
          }
          FAIL_CHECK("split at " << split << " differs: " << diff);
          break;
        }
      }
    }
  }
}

TEST_CASE("ClientHello split over three records parses the same") {
  const ByteVec message = client_hello_message();
  const std::size_t a = message.size() / 3, b = 2 * message.size() / 3;
  const ByteVec framed = concat({
      test::record(22, ByteVec(message.begin(), message.begin() + a), 0x0301),
      test::record(22, ByteVec(message.begin() + a, message.begin() + b), 0x0303),
      test::record(22, ByteVec(message.begin() + b, message.end()), 0x0303),
  });
  for (std::size_t piece : {framed.size(), std::size_t{1}, std::size_t{100}}) {
    CAPTURE(piece);
    const EventLog log = feed_in_pieces(framed, piece);
    REQUIRE(log.bodies.size() == 1);
    CHECK(log.bodies[0] == ByteVec(message.begin() + 4, message.end()));
    CHECK(log.records_per_message[0] == 3);
    CHECK(log.events[3].find("v=769") != std::string::npos);  // version of the first record
    CHECK(log.errors.empty());
  }
}

TEST_CASE("A handshake header split across two records is reassembled") {
  const ByteVec message = client_hello_message();
  const ByteVec framed = concat({test::record(22, ByteVec(message.begin(), message.begin() + 2)),
                                 test::record(22, ByteVec(message.begin() + 2, message.end()))});
  const EventLog log = feed_whole(framed);
  REQUIRE(log.bodies.size() == 1);
  CHECK(log.bodies[0].size() == message.size() - 4);
  CHECK(log.records_per_message[0] == 2);
}

TEST_CASE("Several handshake messages in one record are each reported") {
  // ServerHelloDone (type 14, empty), a HelloRequest (0, empty) and a 3-byte message.
  const ByteVec payload{14, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 3, 1, 2, 3};
  const EventLog log = feed_whole(test::record(22, payload));
  CHECK(log.handshake_types == std::vector<std::uint8_t>{14, 0, 99});
  CHECK(log.bodies[2] == ByteVec{1, 2, 3});
  CHECK(log.errors.empty());
}

TEST_CASE("A record type outside 20..24 first is not TLS, later is a bad content type") {
  const ByteVec http = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P'};
  EventLog first = feed_whole(http);
  REQUIRE(first.errors == std::vector{tls::RecordError::not_tls});
  CHECK(first.events.back() == "error not_tls @5");

  for (std::uint8_t type : {0, 19, 25, 255}) {
    CAPTURE(int(type));
    const ByteVec stream = concat({test::record(22, {14, 0, 0, 0}), test::record(type, {1, 2})});
    tls::RecordReader reader;
    EventLog log;
    reader.feed(stream, log);
    CHECK(log.errors == std::vector{tls::RecordError::bad_content_type});
    CHECK(reader.failed());
    CHECK(reader.bytes_seen() == stream.size());
  }
}

TEST_CASE("Record versions outside 0x0300..0x0304 are refused") {
  const ByteVec ok = test::record(22, {14, 0, 0, 0}, 0x0303);
  CHECK(feed_whole(concat({ok, test::record(22, {14, 0, 0, 0}, 0x0305)})).errors ==
        std::vector{tls::RecordError::bad_record_version});
  CHECK(feed_whole(concat({ok, test::record(22, {14, 0, 0, 0}, 0x0200)})).errors ==
        std::vector{tls::RecordError::bad_record_version});
  CHECK(feed_whole(test::record(22, {14, 0, 0, 0}, 0x0300)).errors.empty());
  CHECK(feed_whole(test::record(22, {14, 0, 0, 0}, 0x0304)).errors.empty());
}

TEST_CASE("A record longer than 2^14 + 2048 is refused at its header") {
  ByteVec at_limit = test::record(23, ByteVec((1u << 14) + 2048, 0));
  CHECK(feed_whole(at_limit).errors.empty());
  const ByteVec header{23, 3, 3, static_cast<std::uint8_t>(((1u << 14) + 2049) >> 8),
                       static_cast<std::uint8_t>(((1u << 14) + 2049) & 0xff)};
  const EventLog log = feed_whole(header);  // refused before any payload arrives
  CHECK(log.errors == std::vector{tls::RecordError::record_too_long});
}

TEST_CASE("A handshake message over the cap is skipped, reported, and what follows still parses") {
  tls::RecordLimits limits;
  limits.max_handshake_message = 1000;
  // A 3000-byte Certificate (type 11) over several records, then ServerHelloDone.
  ByteVec message{11, 0, 0x0b, 0xb8};
  message.resize(4 + 3000, 0xab);
  message.insert(message.end(), {14, 0, 0, 0});
  ByteVec stream;
  for (std::size_t pos = 0; pos < message.size(); pos += 700) {
    stream = concat({stream, test::record(22, ByteVec(message.begin() + pos,
                                                      message.begin() + std::min(pos + 700, message.size())))});
  }
  tls::RecordReader reader(limits);
  EventLog log;
  std::size_t most_buffered = 0;
  for (std::size_t pos = 0; pos < stream.size(); pos += 13) {
    reader.feed(tls::Bytes(stream).subspan(pos, std::min<std::size_t>(13, stream.size() - pos)), log);
    most_buffered = std::max(most_buffered, reader.buffered());
  }
  CHECK(log.errors == std::vector{tls::RecordError::handshake_message_too_large});
  CHECK(log.handshake_types == std::vector<std::uint8_t>{14});
  CHECK_FALSE(reader.failed());
  CHECK(most_buffered <= limits.max_handshake_message + 4);
}

TEST_CASE("64 KiB of handshake bytes that never complete stay within the buffer cap") {
  // A message that claims 16 MB: refused at its header, nothing is kept.
  ByteVec stream;
  ByteVec first{1, 0xff, 0xff, 0xff};
  first.resize(16000, 0x41);
  stream = test::record(22, first);
  for (int i = 0; i < 4; ++i) stream = concat({stream, test::record(22, ByteVec(16000, 0x41))});
  tls::RecordReader reader;
  EventLog log;
  reader.feed(stream, log);
  CHECK(reader.buffered() == 0);
  CHECK(log.errors == std::vector{tls::RecordError::handshake_message_too_large});
}

TEST_CASE("After set_encrypted records are reported by type and length only") {
  tls::RecordReader reader;
  EventLog log;
  reader.feed(test::record(20, {1}), log);
  reader.set_encrypted();
  const ByteVec finished = test::record(22, ByteVec(40, 0x99));
  reader.feed(tls::Bytes(finished).first(20), log);
  CHECK(reader.buffered() == 0);  // no copy of an opaque payload
  reader.feed(tls::Bytes(finished).subspan(20), log);
  reader.feed(test::record(23, ByteVec(100, 0x77)), log);
  reader.feed(test::record(21, ByteVec(26, 0x55)), log);  // an encrypted alert
  CHECK(log.change_cipher_specs == 1);
  CHECK(log.handshake_types.empty());
  CHECK(log.encrypted_lengths == std::vector<std::uint16_t>{40, 100, 26});
  CHECK(log.alerts.empty());
}

TEST_CASE("A two-byte alert after the key change is a plaintext alert") {
  // An OpenSSL TLS 1.3 client rejecting a certificate has not switched keys yet.
  tls::RecordReader reader;
  EventLog log;
  reader.set_encrypted();
  reader.feed(concat({test::record(20, {1}), test::record(21, {2, 42})}), log);
  REQUIRE(log.alerts.size() == 1);
  CHECK(log.alerts[0].level == 2);
  CHECK(log.alerts[0].description == 42);
  CHECK(log.change_cipher_specs == 1);
}

TEST_CASE("An alert record longer than two bytes is an encrypted alert, even before a key change") {
  // A capture that starts mid-connection: tshark reads such a record as an encrypted alert.
  EventLog longer = feed_whole(test::record(21, ByteVec(26, 0x5a)));
  CHECK(longer.alerts.empty());
  CHECK(longer.encrypted_lengths == std::vector<std::uint16_t>{26});
  CHECK(longer.errors.empty());
  EventLog one = feed_whole(test::record(21, {2}));
  CHECK(one.errors == std::vector{tls::RecordError::bad_alert});
  CHECK(one.alerts.empty());
  EventLog two = feed_whole(test::record(21, {1, 0}));
  REQUIRE(two.alerts.size() == 1);
  CHECK(two.alerts[0].level == 1);
}

TEST_CASE("ChangeCipherSpec other than the single byte 1 is flagged") {
  CHECK(feed_whole(test::record(20, {1})).errors.empty());
  CHECK(feed_whole(test::record(20, {2})).errors ==
        std::vector{tls::RecordError::bad_change_cipher_spec});
  CHECK(feed_whole(test::record(20, {1, 1})).errors ==
        std::vector{tls::RecordError::bad_change_cipher_spec});
}

TEST_CASE("An empty handshake record is tolerated and flagged") {
  EventLog log = feed_whole(concat({test::record(22, {}), test::record(22, {14, 0, 0, 0})}));
  CHECK(log.errors == std::vector{tls::RecordError::empty_record});
  CHECK(log.handshake_types == std::vector<std::uint8_t>{14});
  CHECK(feed_whole(test::record(23, {})).errors.empty());  // empty application data is legal
}

TEST_CASE("A record of another type inside a fragmented message is flagged, not fatal") {
  const ByteVec message = client_hello_message();
  const ByteVec stream = concat({test::record(22, ByteVec(message.begin(), message.begin() + 100)),
                                 test::record(21, {1, 0}),
                                 test::record(22, ByteVec(message.begin() + 100, message.end()))});
  EventLog log = feed_whole(stream);
  CHECK(log.errors == std::vector{tls::RecordError::interleaved_record});
  CHECK(log.bodies.size() == 1);
  CHECK(log.alerts.size() == 1);
}

TEST_CASE("An SSLv2-format ClientHello is recognised") {
  // SSL 2.0 CLIENT-HELLO with TLS 1.0 as the version (RFC 5246 appendix E.2): 3 cipher specs,
  // no session id, 16 bytes of challenge.
  ByteVec body{0x03, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x10,
               0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x01, 0x00, 0x80};
  for (int i = 0; i < 16; ++i) body.push_back(static_cast<std::uint8_t>(i));
  ByteVec stream{static_cast<std::uint8_t>(0x80 | ((body.size() + 1) >> 8)),
                 static_cast<std::uint8_t>((body.size() + 1) & 0xff), 0x01};
  stream.insert(stream.end(), body.begin(), body.end());
  for (std::size_t piece : {stream.size(), std::size_t{1}}) {
    EventLog log = feed_in_pieces(stream, piece);
    REQUIRE(log.bodies.size() == 1);
    CHECK(log.bodies[0] == body);
    CHECK(log.records_by_type.at("sslv2") == 1);
    CHECK(log.events[1].find("sslv2") != std::string::npos);
    CHECK(log.errors.empty());
  }
}

TEST_CASE("Binary garbage with the high bit set is not mistaken for SSLv2") {
  EventLog log = feed_whole({0xff, 0xff, 0x07, 0x01, 0x02});
  CHECK(log.errors == std::vector{tls::RecordError::not_tls});
  EventLog bad_version = feed_whole({0x80, 0x40, 0x01, 0x07, 0x07});
  CHECK(bad_version.errors == std::vector{tls::RecordError::not_tls});
}

TEST_CASE("SSLv2 ClientHellos in the corpus are recognised as tshark saw them") {
  auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("../shared/corpus not found: skipping (set TLSGLASS_CORPUS)");
    return;
  }
  int checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(*corpus + "/expected")) {
    if (entry.path().extension() != ".json") continue;
    const auto doc = load_json(entry.path().string());
    for (auto& [key, conn] : doc["connections"].items()) {
      if (!conn.contains("streams") || !conn["streams"].is_object()) continue;
      const auto& first = conn["tshark"]["first_record"];
      if (!first.is_object() || !first["client"].is_object() ||
          !first["client"].value("sslv2_format", false))
        continue;
      CAPTURE(entry.path().string(), key);
      const ByteVec stream = test::read_file(*corpus + "/" + conn["streams"]["client"].get<std::string>());
      const EventLog log = feed_whole(stream);
      REQUIRE_FALSE(log.handshake_types.empty());
      CHECK(log.handshake_types[0] == 1);
      CHECK(log.records_by_type.count("sslv2") == 1);
      ++checked;
    }
  }
  CHECK(checked > 0);
}

TEST_CASE("After a fatal error later bytes are counted, not parsed") {
  tls::RecordReader reader;
  EventLog log;
  const ByteVec http{0x47, 0x45, 0x54, 0x20, 0x2f};
  reader.feed(http, log);
  reader.feed(test::record(22, {14, 0, 0, 0}), log);
  CHECK(reader.failed());
  CHECK(reader.error() == tls::RecordError::not_tls);
  CHECK(log.handshake_types.empty());
  CHECK(reader.bytes_seen() == 5 + 9);
}
