// `tlsglass replay` end to end on real captures: each fixture's capture.pcap (tcpdump on a real
// connection, tests/data/fixtures) through libpcap, the frame decoder and the flow tracker gives
// the record its transcript gives when fed to a Session directly (the path the fixture tests
// check against tshark), and a damaged file gets a reason, not a crash.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <pcap/pcap.h>

#include "fixture_support.hpp"
#include "tlsglass/capture/tcp_flows.hpp"
#include "wire.hpp"
#include "tlsglass/capture/replay.hpp"
#include "tlsglass/log/json_record.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tlsglass;

namespace {

std::vector<capture::ReplayedConnection> replay_pcap(const fs::path& path, double timeout_s,
                                                     std::optional<std::string>* error = nullptr) {
  std::vector<capture::ReplayedConnection> out;
  capture::ReplayConfig config;
  config.handshake_timeout_s = timeout_s;
  config.keep_client_bytes = true;
  config.on_connection = [&](capture::ReplayedConnection&& c) { out.push_back(std::move(c)); };
  capture::CaptureReplay replay(config);
  capture::ReplayStats stats;
  auto problem = replay.replay_file(path.string(), stats);
  if (error) *error = problem;
  return out;
}

// The record without what depends on the clock or on how the bytes reached the session.
json comparable(const trace::HandshakeRecord& record) {
  json out = json::parse(log::to_json_line(record));
  out.erase("@timestamp");
  out["event"].erase("duration");
  out["tlsglass"].erase("conn");
  out["tlsglass"].erase("mode");
  for (auto& entry : out["tlsglass"]["timeline"]) {
    entry["ms"] = std::round(entry["ms"].get<double>());  // the transcript keeps 3 decimals
  }
  return out;
}

// The transcript fed as the live proxy feeds a session: the record taken as soon as its outcome
// is known.
trace::HandshakeRecord live_record(const test::Fixture& fixture, const trace::HandshakeRecord& like) {
  trace::SessionConfig config;
  config.mode = "replay";
  config.source = like.source;
  config.destination = like.destination;
  trace::Session session(config);
  trace::Timestamp at = test::fixture_epoch();
  for (const auto& event : fixture.transcript) {
    at = test::fixture_epoch() +
         std::chrono::microseconds(static_cast<std::int64_t>(std::llround(event.ms * 1000)));
    if (event.close) {
      session.on_close(event.from, *event.close, at);
    } else {
      session.on_bytes(event.from, event.bytes, at);
    }
    if (session.outcome_known()) return session.record();
  }
  session.on_end_of_data(at);
  return session.record();
}

}  // namespace

TEST_CASE("every fixture's pcap replays to the record of its transcript") {
  int compared = 0;
  for (const auto& fixture : test::load_fixtures()) {
    const fs::path pcap = fixture.dir / "capture.pcap";
    if (!fs::exists(pcap)) continue;
    INFO(fixture.name);
    std::optional<std::string> error;
    // No handshake timeout: the transcript path has none either.
    auto connections = replay_pcap(pcap, 1e6, &error);
    CHECK_FALSE(error);
    REQUIRE(connections.size() == 1);
    const auto& replayed = connections.front().record;
    CHECK(replayed.mode == "replay");
    REQUIRE(replayed.source);
    REQUIRE(replayed.destination);
    CHECK(replayed.destination->ip == "127.0.0.1");

    CHECK(comparable(replayed).dump(1) == comparable(live_record(fixture, replayed)).dump(1));
    // What `replay --to` re-sends starts with the captured ClientHello.
    const auto& client = connections.front().client_bytes;
    REQUIRE(client.size() >= 6);
    CHECK(client[0] == 0x16);
    ++compared;
  }
  CHECK(compared >= 20);
}

TEST_CASE("a capture still silent after the handshake timeout gives the timeout record the proxy writes") {
  const auto fixture = test::load_fixture("silent-server");
  // The client gave up after about 2 s (transcript.jsonl); a 1 s timeout fires first.
  auto connections = replay_pcap(fixture.dir / "capture.pcap", 1.0);
  REQUIRE(connections.size() == 1);
  const auto& record = connections.front().record;
  CHECK(record.cause == trace::Cause::timeout);
  // The proxy's timer runs from the connection's start (here the SYN); the timeline counts from
  // the first byte, a few ms later: the timeout lands just under 1000 ms.
  REQUIRE_FALSE(record.timeline.empty());
  CHECK(record.timeline.back().what == "timeout");
  CHECK(record.timeline.back().ms > 900);
  CHECK(record.timeline.back().ms <= 1000);
  CHECK_THAT(record.explanation, Catch::Contains("sent nothing in"));
  // With the default (10 s) the client's close decides, as it did live.
  auto later = replay_pcap(fixture.dir / "capture.pcap", 10.0);
  REQUIRE(later.size() == 1);
  CHECK(later.front().record.cause != trace::Cause::timeout);
}

TEST_CASE("damaged and foreign files get a one-line reason") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("tlsglass-replay-{}", ::getpid());
  fs::create_directories(dir);
  const auto fixture = test::load_fixture("curl-tls13");
  std::ifstream in(fixture.dir / "capture.pcap", std::ios::binary);
  const std::string pcap{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  REQUIRE(pcap.size() > 200);

  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return dir / name;
  };
  std::optional<std::string> error;
  replay_pcap(write("text.pcap", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 10, &error);
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains("not a pcap"));

  // Cut in the middle of a packet: the packets before the cut are still replayed.
  auto partial = replay_pcap(write("cut.pcap", pcap.substr(0, pcap.size() - 7)), 10, &error);
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains("truncated"));
  CHECK(partial.size() == 1);

  replay_pcap(dir / "missing.pcap", 10, &error);
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains("No such file"));

  // Every prefix of a real capture: no crash, at most one connection.
  for (std::size_t length = 0; length < pcap.size(); length += 37) {
    auto some = replay_pcap(write("prefix.pcap", pcap.substr(0, length)), 10, &error);
    CHECK(some.size() <= 1);
  }
  fs::remove_all(dir);
}

namespace {

// A pcap made frame by frame (RFC 791/9293 layouts from wire.hpp) through libpcap's dump API.
class PcapFile {
 public:
  explicit PcapFile(fs::path path) : path_(std::move(path)) {
    dead_ = pcap_open_dead(DLT_EN10MB, 65535);
    dump_ = pcap_dump_open(dead_, path_.c_str());
  }
  ~PcapFile() { close(); }
  void close() {
    if (dump_) pcap_dump_close(dump_);
    if (dead_) pcap_close(dead_);
    dump_ = nullptr;
    dead_ = nullptr;
  }
  // Client 192.0.2.1:50000 <-> server 198.51.100.2:443.
  void send(bool from_client, std::uint32_t seq, std::uint32_t ack, std::uint8_t flags,
            const wire::Bytes& payload = {}, std::uint8_t ttl = 0) {
    wire::Ipv4 ip;
    if (!from_client) std::swap(ip.source, ip.destination);
    ip.ttl = ttl ? ttl : (from_client ? 64 : 52);
    ip.id = from_client ? client_id_++ : server_id_++;
    const wire::Bytes frame = wire::ethernet(
        0x0800, wire::ipv4(ip, wire::tcp(from_client ? 50000 : 443, from_client ? 443 : 50000,
                                         seq, ack, flags, payload)));
    pcap_pkthdr header{};
    header.ts.tv_sec = 1764547200 + ms_ / 1000;
    header.ts.tv_usec = static_cast<suseconds_t>((ms_ % 1000) * 1000);
    header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dump_), &header, frame.data());
    ms_ += 1;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dump_ = nullptr;
  std::uint16_t client_id_ = 0x100, server_id_ = 0x7000;
  long ms_ = 0;
};

wire::Bytes first_client_payload(const std::string& fixture_name) {
  for (const auto& event : test::load_fixture(fixture_name).transcript) {
    if (!event.close && event.from == trace::Side::client) return event.bytes;
  }
  return {};
}

}  // namespace

TEST_CASE("a burst of RSTs with one sequence number and a conflicting retransmission reach the record") {
  namespace flag = capture::tcp_flag;
  const wire::Bytes hello = first_client_payload("curl-tls13");
  REQUIRE(hello.size() > 100);
  const auto len = static_cast<std::uint32_t>(hello.size());
  PcapFile pcap(fs::temp_directory_path() / fmt::format("tlsglass-burst-{}.pcap", ::getpid()));
  pcap.send(true, 1000, 0, flag::syn);
  pcap.send(false, 5000, 1001, flag::syn | flag::ack);
  pcap.send(true, 1001, 5001, flag::ack);
  pcap.send(true, 1001, 5001, flag::psh | flag::ack, hello);
  // The same sequence range again with other bytes (RFC 9293 §3.10.7.4 keeps the first).
  wire::Bytes altered(hello.begin(), hello.begin() + 16);
  altered[10] ^= 0xff;
  pcap.send(true, 1001, 5001, flag::psh | flag::ack, altered);
  pcap.send(false, 5001, 1001 + len, flag::ack);
  for (int i = 0; i < 3; ++i) pcap.send(false, 5001, 1001 + len, flag::rst | flag::ack);
  pcap.close();

  auto connections = replay_pcap(pcap.path(), 10);
  fs::remove(pcap.path());
  REQUIRE(connections.size() == 1);
  const json record = json::parse(log::to_json_line(connections.front().record));
  INFO(record.dump(1));
  CHECK(record["tlsglass"]["cause"] == "reset_mid_handshake");
  CHECK(record["tls"]["client"]["server_name"] == "app.tlsglass.test");  // the first copy kept
  CHECK(record["tlsglass"]["injected"] == "likely");
  CHECK_THAT(record["tlsglass"]["injected_why"].dump(), Catch::Contains("3 RSTs with one sequence number"));
  REQUIRE(record["tlsglass"].contains("problems"));
  CHECK_THAT(record["tlsglass"]["problems"].dump(), Catch::Contains("differs from the copy kept"));
  CHECK_THAT(record["tlsglass"]["explanation"].get<std::string>(),
             Catch::Contains("likely injected by a middlebox"));
}
