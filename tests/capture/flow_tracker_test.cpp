// FlowTracker: each behaviour of TCP reassembly and flow bookkeeping, driven with segments
// written out by hand (sequence numbers per RFC 9293 §3.4: a SYN or FIN takes one number).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "flow_events_log.hpp"
#include "tlsglass/capture/tcp_flows.hpp"

namespace {

using namespace tlsglass;
using capture_test::FlowEventsLog;
using Lines = std::vector<std::string>;
namespace flag = capture::tcp_flag;

constexpr std::uint8_t SYN = flag::syn, ACK = flag::ack, FIN = flag::fin, RST = flag::rst,
                       PSH = flag::psh;

const trace::Endpoint C{"10.0.0.1", 50000}, S{"10.0.0.2", 443};

// The start of a TLS 1.2 ClientHello record and of a ServerHello record (RFC 8446 §5.1,
// §4): content type 22, version 3.1/3.3, length, handshake type 1 or 2, ...
const std::string kClientHello = std::string("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10);
const std::string kServerHello = std::string("\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00", 10);

struct Look {
  std::optional<std::uint8_t> ttl;
  std::optional<std::uint16_t> ip_id;
  std::optional<std::uint32_t> payload_length;  // when the capture cut the bytes
};

Look with_ip(std::optional<std::uint8_t> ttl, std::optional<std::uint16_t> ip_id) {
  return Look{ttl, ip_id, std::nullopt};
}
Look cut_from(std::uint32_t payload_length) {
  return Look{std::nullopt, std::nullopt, payload_length};
}

// A capture being played into a tracker: one segment per call, 1 ms apart.
class Wire {
 public:
  explicit Wire(capture::FlowLimits limits = {}) : tracker(log, limits) {}

  void send(const trace::Endpoint& from, const trace::Endpoint& to, std::uint32_t seq,
            std::uint32_t ack, std::uint8_t flags, const std::string& payload = {},
            Look look = {}) {
    capture::TcpSegment s;
    s.at = now();
    s.source = *capture::SocketAddress::parse(from);
    s.destination = *capture::SocketAddress::parse(to);
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    const bool from_client = from.port == C.port && from.ip == C.ip;
    s.ttl = look.ttl.value_or(from_client ? 64 : 52);
    // Each side's IP IDs count up, as a per-connection counter does.
    s.ip_id = look.ip_id.value_or(from_client ? client_id_++ : server_id_++);
    s.payload = tls::Bytes(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
    s.payload_length = look.payload_length.value_or(static_cast<std::uint32_t>(payload.size()));
    ++ms_;
    tracker.on_segment(s);
  }
  // The usual opening: client ISN 1000 (data from 1001), server ISN 5000 (data from 5001).
  void handshake(const trace::Endpoint& client = C, const trace::Endpoint& server = S) {
    send(client, server, 1000, 0, SYN);
    send(server, client, 5000, 1001, SYN | ACK);
    send(client, server, 1001, 5001, ACK);
  }
  void finish() { tracker.finish(now()); }
  trace::Timestamp now() const { return trace::Timestamp{std::chrono::milliseconds(ms_)}; }

  FlowEventsLog log;
  capture::FlowTracker tracker;

 private:
  std::int64_t ms_ = 0;
  std::uint16_t client_id_ = 100, server_id_ = 7000;
};

const std::string kStart = "#1 start client 10.0.0.1:50000 server 10.0.0.2:443 syn";

}  // namespace

TEST_CASE("a connection in order: handshake, data both ways, FIN both ways") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, "hello");
  w.send(S, C, 5001, 1006, PSH | ACK, "world");
  w.send(C, S, 1006, 5006, FIN | ACK);
  w.send(S, C, 5006, 1007, FIN | ACK);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'hello'", "#1 server 'world'", "#1 client fin",
                             "#1 server fin", "#1 end"});
  CHECK(w.log.contract_violations.empty());
  CHECK(w.tracker.stats().flows == 1);
  CHECK(w.tracker.stats().segments == 7);
}

TEST_CASE("out-of-order segments are delivered in sequence order") {
  Wire w;
  w.handshake();
  w.send(C, S, 1007, 5001, ACK, "world");  // arrives before the bytes in front of it
  w.send(C, S, 1012, 5001, ACK, "!");
  w.send(C, S, 1001, 5001, ACK, "hello ");
  w.finish();
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client 'hello '", "#1 client 'world'", "#1 client '!'", "#1 end"});
}

TEST_CASE("a retransmission is delivered once") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, ACK, "hello");
  w.send(C, S, 1001, 5001, ACK, "hello");      // the same segment again
  w.send(C, S, 1003, 5001, ACK, "llo there");  // overlapping its tail, then new bytes
  w.send(S, C, 5001, 1012, ACK);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'hello'", "#1 client ' there'", "#1 end"});
  CHECK(w.tracker.stats().conflicting_overlaps == 0);
}

TEST_CASE("an overlap keeps the first copy and counts differing bytes as a conflict") {
  Wire w;
  w.handshake();
  w.send(C, S, 1007, 5001, ACK, "WORLD");        // held, ahead of a hole
  w.send(C, S, 1001, 5001, ACK, "hello world");  // fills the hole; its "world" differs
  w.send(C, S, 1001, 5001, ACK, "jello");        // differs from delivered bytes at offset 0
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client conflict at 6 for 5", "#1 client 'hello '",
                             "#1 client 'WORLD'", "#1 client conflict at 0 for 1", "#1 end"});
  CHECK(w.tracker.stats().conflicting_overlaps == 2);
}

TEST_CASE("retransmissions are checked against delivered bytes as the kept window grows and wraps") {
  capture::FlowLimits limits;
  limits.overlap_check_bytes = 4096;
  Wire w(limits);
  w.handshake();
  // 300 bytes, then 1000, then 4000: the kept bytes grow from a few hundred to the window,
  // and the last segment wraps around its end.
  const std::string a(300, 'a'), b(1000, 'b'), c(4000, 'c');
  w.send(C, S, 1001, 5001, ACK, a);
  w.send(C, S, 1301, 5001, ACK, b);
  w.send(C, S, 2301, 5001, ACK, c);
  // The last 4096 bytes (offsets 1204 on) are kept: an altered copy of kept bytes is a
  // conflict, an equal copy is not; bytes before them are no longer compared.
  w.send(C, S, 1001 + 1200, 5001, ACK, std::string(100, 'b'));
  w.send(C, S, 1001 + 1200, 5001, ACK, std::string(99, 'b') + "X");
  w.send(C, S, 1001 + 5000, 5001, ACK, "cccZ");
  w.send(C, S, 1001 + 100, 5001, ACK, "ZZZZ");  // too old to compare: dropped unchecked
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client '" + a + "'", "#1 client '" + b + "'",
                             "#1 client '" + c + "'", "#1 client conflict at 1299 for 1",
                             "#1 client conflict at 5003 for 1", "#1 end"});
  CHECK(w.tracker.stats().conflicting_overlaps == 2);
}

TEST_CASE("a keep-alive's garbage byte is neither data nor a conflict") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, ACK, "abc");
  w.send(C, S, 1003, 5001, ACK, std::string(1, '\0'));  // SND.NXT - 1, one garbage octet
  w.send(S, C, 5001, 1004, ACK);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'abc'", "#1 end"});
  CHECK(w.tracker.stats().conflicting_overlaps == 0);
}

TEST_CASE("mid-connection, a keep-alive ACK does not fix where a stream starts") {
  Wire w;
  w.send(S, C, 7999, 3000, ACK);  // a zero-length keep-alive: SND.NXT - 1
  w.send(C, S, 3000, 8000, ACK);  // its answer acknowledges SND.NXT
  w.finish();
  CHECK(w.log.lines == Lines{"#1 start client 10.0.0.1:50000 server 10.0.0.2:443 guessed",
                             "#1 end"});  // no one-byte gap
}

TEST_CASE("conflict reports per flow stop at max_overlap_conflicts, the count does not") {
  capture::FlowLimits limits;
  limits.max_overlap_conflicts = 1;
  Wire w(limits);
  w.handshake();
  w.send(C, S, 1001, 5001, ACK, "abc");
  w.send(C, S, 1001, 5001, ACK, "xbc");
  w.send(C, S, 1001, 5001, ACK, "ybc");
  w.send(S, C, 5001, 1004, ACK);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'abc'", "#1 client conflict at 0 for 1", "#1 end"});
  CHECK(w.tracker.stats().conflicting_overlaps == 2);
}

TEST_CASE("a hole that never fills is a gap of the exact size, then the bytes after it") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, ACK, "abc");
  w.send(C, S, 1011, 5001, ACK, "xyz");  // bytes 1004..1010 (7) never arrive
  w.finish();
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client 'abc'", "#1 client gap 7", "#1 client 'xyz'", "#1 end"});
  CHECK(w.tracker.stats().gaps == 1);
}

TEST_CASE("sequence numbers wrap around 2^32") {
  Wire w;
  w.send(C, S, 0xfffffffd, 0, SYN);  // data starts at 0xfffffffe
  w.send(S, C, 0xfffffff0, 0xfffffffe, SYN | ACK);
  w.send(C, S, 0x00000001, 0xfffffff1, ACK, "def");  // after the wrap, before its bytes
  w.send(C, S, 0xfffffffe, 0xfffffff1, ACK, "abc");  // 0xfffffffe, 0xffffffff, 0x0
  w.send(S, C, 0xfffffff1, 0x00000004, ACK, "0123456789abcdef");  // server wraps mid-segment
  w.send(S, C, 0x00000001, 0x00000004, ACK, "g");
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'abc'", "#1 client 'def'",
                             "#1 server '0123456789abcdef'", "#1 server 'g'", "#1 end"});
}

TEST_CASE("without a SYN, a ClientHello says which side is the client") {
  // The client uses the lower port here, so the port rule alone would get it wrong.
  const trace::Endpoint client{"10.0.0.1", 443}, server{"10.0.0.2", 8443};
  Wire w;
  w.send(server, client, 9000, 100, ACK);  // a bare ACK first: nothing told yet
  w.send(client, server, 100, 9000, PSH | ACK, kClientHello);
  w.finish();
  REQUIRE(w.log.lines.size() == 3);
  CHECK(w.log.lines[0] == "#1 start client 10.0.0.1:443 server 10.0.0.2:8443");
  CHECK(w.log.flows[1].client.at(0).bytes == kClientHello);
}

TEST_CASE("without a SYN, an SSLv2 CLIENT-HELLO says which side is the client") {
  const trace::Endpoint client{"10.0.0.1", 443}, server{"10.0.0.2", 8443};
  // draft-hickman-netscape-ssl-00: 2-byte header with the high bit set (length 0x2e),
  // MSG-CLIENT-HELLO (1), version 3.1 (a TLS client in an SSLv2 hello), ...
  const std::string sslv2("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", 11);
  Wire w;
  w.send(client, server, 100, 9000, PSH | ACK, sslv2);
  w.finish();
  CHECK(w.log.lines.at(0) == "#1 start client 10.0.0.1:443 server 10.0.0.2:8443");
}

TEST_CASE("without a SYN, a ServerHello says which side is the server") {
  const trace::Endpoint client{"10.0.0.1", 443}, server{"10.0.0.2", 8443};
  Wire w;
  w.send(server, client, 9000, 100, PSH | ACK, kServerHello);
  w.finish();
  // The log prints bytes outside printable ASCII as dots.
  CHECK(w.log.lines == Lines{"#1 start client 10.0.0.1:443 server 10.0.0.2:8443",
                             "#1 server '..........'", "#1 end"});
  CHECK(w.log.flows[1].server.at(0).bytes == kServerHello);
}

TEST_CASE("without a SYN or a hello, the higher port is the client, marked as a guess") {
  Wire w;
  w.send(S, C, 7000, 3000, PSH | ACK, "encrypted stuff");  // the server's data comes first
  w.send(C, S, 3000, 7015, PSH | ACK, "more");
  w.finish();
  CHECK(w.log.lines == Lines{"#1 start client 10.0.0.1:50000 server 10.0.0.2:443 guessed",
                             "#1 server 'encrypted stuff'", "#1 client 'more'", "#1 end"});
}

TEST_CASE("a hello split before its sixth byte is waited for before deciding") {
  const trace::Endpoint client{"10.0.0.1", 443}, server{"10.0.0.2", 8443};
  Wire w;
  w.send(client, server, 100, 9000, PSH | ACK, kClientHello.substr(0, 3));
  CHECK(w.log.lines.empty());
  w.send(client, server, 103, 9000, PSH | ACK, kClientHello.substr(3));
  w.finish();
  CHECK(w.log.lines.at(0) == "#1 start client 10.0.0.1:443 server 10.0.0.2:8443");
  CHECK(FlowEventsLog::until_gap(w.log.flows[1].client, false) == kClientHello);
}

TEST_CASE("TCP Fast Open: data on the SYN counts once the server acknowledges it") {
  Wire w;
  w.send(C, S, 1000, 0, SYN, "early");
  w.send(S, C, 5000, 1006, SYN | ACK);  // acknowledges the SYN and its 5 bytes
  w.send(C, S, 1006, 5001, ACK, " data");
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'early'", "#1 client ' data'", "#1 end"});
}

TEST_CASE("TCP Fast Open: data on the SYN the server refused is taken from its resend") {
  Wire w;
  w.send(C, S, 1000, 0, SYN, "first");
  w.send(S, C, 5000, 1001, SYN | ACK);     // acknowledges the SYN only (RFC 7413 §3)
  w.send(C, S, 1001, 5001, ACK, "again");  // the client sends its data as usual
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'again'", "#1 end"});
  CHECK(w.tracker.stats().conflicting_overlaps == 0);
}

TEST_CASE("a FIN waits for the bytes before it, even when the hole fills later") {
  Wire w;
  w.handshake();
  w.send(C, S, 1004, 5001, FIN | ACK, "def");  // FIN at 1007, bytes 1001..1003 not yet here
  CHECK(w.log.lines == Lines{kStart});
  w.send(C, S, 1001, 5001, ACK, "abc");
  w.send(S, C, 5001, 1008, FIN | ACK);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'abc'", "#1 client 'def'", "#1 client fin",
                             "#1 server fin", "#1 end"});
}

TEST_CASE("bytes the peer acknowledged that the capture never showed are a gap at the end") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, ACK, "abc");
  w.send(S, C, 5001, 1204, ACK);  // the server got 200 more bytes than the capture has
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'abc'", "#1 client gap 200", "#1 end"});
}

TEST_CASE("a FIN after a hole that never fills comes after the gap") {
  Wire w;
  w.handshake();
  w.send(C, S, 1004, 5001, FIN | ACK, "def");
  w.finish();
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client gap 3", "#1 client 'def'", "#1 client fin", "#1 end"});
}

TEST_CASE("an endpoint's RST with ACK after the hello was acknowledged shows no signs") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(S, C, 5001, 1011, ACK);  // the server's stack acknowledges the hello
  w.send(S, C, 5001, 1011, RST | ACK);
  w.finish();
  CHECK(w.log.lines.at(2) == "#1 server rst x1");
  const auto& reset = w.log.flows[1].resets.at(0);
  CHECK(reset.by == trace::Side::server);
  CHECK(reset.ack_flag);
  CHECK(reset.hello_acknowledged);
  CHECK(reset.ttl == 52);
  CHECK(reset.earlier_ttl == 52);
  CHECK(reset.seq == 5001);
  CHECK(reset.injected_signs.empty());
}

TEST_CASE("an RST acknowledging the hello itself counts as the server having received it") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(S, C, 5001, 1011, RST | ACK);  // no ACK before, but the RST's own covers the hello
  w.finish();
  const auto& reset = w.log.flows[1].resets.at(0);
  CHECK(reset.hello_acknowledged);
  CHECK(reset.injected_signs.empty());
}

TEST_CASE("an injected-looking RST: no ACK, hello never acknowledged, another TTL") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(S, C, 5001, 0, RST, "", with_ip(120, 7001));
  w.finish();
  const auto& reset = w.log.flows[1].resets.at(0);
  CHECK_FALSE(reset.ack_flag);
  CHECK_FALSE(reset.hello_acknowledged);
  CHECK(reset.ttl == 120);
  CHECK(reset.earlier_ttl == 52);
  CHECK(reset.injected_signs ==
        std::vector<std::string>{"the RST has no ACK flag",
                                 "the server had not acknowledged the client's first data",
                                 "TTL 120 where the server's packets had 52"});
}

TEST_CASE("an RST whose IP ID is off the count of its side's packets") {
  Wire w;
  w.handshake();                  // server IP IDs 7000 (SYN-ACK)
  w.send(S, C, 5001, 1001, ACK);  // 7001
  w.send(S, C, 5001, 1001, RST | ACK, "", with_ip(std::nullopt, 40000));
  w.finish();
  const auto& reset = w.log.flows[1].resets.at(0);
  CHECK(reset.ip_id == 40000);
  CHECK(reset.earlier_ip_id == 7001);
  CHECK(reset.injected_signs ==
        std::vector<std::string>{"IP ID 40000 where the server's packets counted up to 7001"});
}

TEST_CASE("RSTs with one sequence number that answer the peer's packets are no burst") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(S, C, 5001, 1011, RST | ACK);
  w.send(C, S, 1011, 5001, PSH | ACK, "more");  // in flight when the server reset
  w.send(S, C, 5001, 0, RST);                   // its stack answers it, and the next one
  w.send(C, S, 1015, 5001, PSH | ACK, "again");
  w.send(S, C, 5001, 0, RST);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client '..........'", "#1 server rst x1",
                             "#1 client 'more'", "#1 client 'again'", "#1 end"});
}

TEST_CASE("repeated RSTs with one sequence number are reported as repeats") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(S, C, 5001, 1011, ACK);  // the server has answered everything the client sent
  w.send(S, C, 5001, 1011, RST | ACK);
  w.send(S, C, 5001, 1011, RST | ACK);  // nothing the client sent could have drawn these
  w.send(S, C, 5001, 1011, RST | ACK);
  w.send(S, C, 9999, 1011, RST | ACK);  // another sequence number: not a repeat of the first
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client '..........'", "#1 server rst x1",
                             "#1 server rst again x2 [2 RSTs with one sequence number]",
                             "#1 server rst again x3 [3 RSTs with one sequence number]", "#1 end"});
}

TEST_CASE("RSTs answering packets that crossed the side's FIN are no burst") {
  Wire w;
  w.handshake();
  w.send(S, C, 5001, 1001, PSH | ACK, "data");  // in flight while the client closes
  w.send(S, C, 5005, 1001, FIN | ACK);
  w.send(C, S, 1001, 5001, FIN | ACK);  // sent before it saw the server's two packets
  w.send(C, S, 1002, 0, RST);           // its stack answers each of them
  w.send(C, S, 1002, 0, RST);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 server 'data'", "#1 server fin", "#1 client fin",
                             "#1 client rst x1", "#1 end"});
}

TEST_CASE("an RST past what the capture showed of its side is judged as after a close") {
  Wire w;
  w.handshake();
  w.send(S, C, 5001, 1001, PSH | ACK, "data");  // server IP IDs 7000, 7001: counting
  // The server's next 23 bytes and FIN were not captured; its stack's RST comes from where
  // they ended, bare and with an ID of its own.
  w.send(S, C, 5029, 0, RST, "", with_ip(std::nullopt, 30000));
  w.finish();
  CHECK(w.log.flows[1].resets.at(0).injected_signs.empty());
}

TEST_CASE("a side that sent a FIN may still reset, and the other side too") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, FIN | ACK);
  w.send(C, S, 1002, 5001, RST);  // an endpoint after its own FIN: a bare RST is normal
  w.send(S, C, 5001, 1002, RST | ACK);
  w.finish();
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client fin", "#1 client rst x1", "#1 server rst x1", "#1 end"});
}

TEST_CASE("a ClientHello sent again and never acknowledged is reported at the end") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(S, C, 5001, 1001, ACK);  // acknowledges the SYN, not the hello
  w.finish();
  REQUIRE(w.log.lines.size() == 4);
  CHECK(w.log.lines[2] == "#1 unacknowledged hello x2 over 2ms");
  CHECK(w.log.lines[3] == "#1 end");
}

TEST_CASE("a ClientHello sent again but acknowledged in the end is not reported") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(C, S, 1001, 5001, PSH | ACK, kClientHello);
  w.send(S, C, 5001, 1011, ACK);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, w.log.lines[1], "#1 end"});
}

TEST_CASE("a SYN on a 4-tuple whose connection closed starts a new flow") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, FIN | ACK);
  w.send(S, C, 5001, 1002, FIN | ACK);
  w.send(C, S, 1000, 0, SYN);  // even the same ISN: the old connection is over
  w.send(S, C, 8000, 1001, SYN | ACK);
  w.send(C, S, 1001, 8001, ACK, "new");
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client fin", "#1 server fin", "#1 end",
                             "#2 start client 10.0.0.1:50000 server 10.0.0.2:443 syn",
                             "#2 client 'new'", "#2 end"});
}

TEST_CASE("a SYN with another ISN on an open 4-tuple starts a new flow; the same ISN does not") {
  Wire w;
  w.handshake();
  w.send(C, S, 1000, 0, SYN);  // a retransmitted SYN: the same connection
  w.send(C, S, 1001, 5001, ACK, "one");
  w.send(C, S, 2000000, 0, SYN);  // another ISN: a new connection (the old one died silently)
  w.send(C, S, 2000001, 0, ACK, "two");
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'one'", "#1 end",
                             "#2 start client 10.0.0.1:50000 server 10.0.0.2:443 syn",
                             "#2 client 'two'", "#2 end"});
}

TEST_CASE("a SYN after an RST starts a new flow") {
  Wire w;
  w.send(C, S, 1000, 0, SYN);
  w.send(S, C, 0, 1001, RST | ACK);  // connection refused
  w.send(C, S, 1000, 0, SYN);
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 server rst x1", "#1 end",
                             "#2 start client 10.0.0.1:50000 server 10.0.0.2:443 syn", "#2 end"});
}

TEST_CASE("past max_flows the least recently seen flow is evicted") {
  capture::FlowLimits limits;
  limits.max_flows = 2;
  Wire w(limits);
  const trace::Endpoint c1{"10.0.0.1", 40001}, c2{"10.0.0.1", 40002}, c3{"10.0.0.1", 40003};
  w.send(c1, S, 100, 0, SYN);
  w.send(c2, S, 200, 0, SYN);
  w.send(c1, S, 101, 0, ACK, "one");  // c1 seen again: c2 is now the least recent
  w.send(c3, S, 300, 0, SYN);
  w.finish();
  CHECK(w.log.lines == Lines{"#1 start client 10.0.0.1:40001 server 10.0.0.2:443 syn",
                             "#2 start client 10.0.0.1:40002 server 10.0.0.2:443 syn",
                             "#1 client 'one'", "#2 end evicted",
                             "#3 start client 10.0.0.1:40003 server 10.0.0.2:443 syn", "#1 end",
                             "#3 end"});
  CHECK(w.tracker.stats().evicted == 1);
}

TEST_CASE("past the out-of-order limit the tracker skips the hole as a gap") {
  capture::FlowLimits limits;
  limits.max_out_of_order = 8;
  Wire w(limits);
  w.handshake();
  w.send(C, S, 1011, 5001, ACK, "abcd");  // 10 bytes missing before it; 4 held
  w.send(C, S, 1015, 5001, ACK, "efgh");  // 8 held: at the limit
  CHECK(w.log.lines == Lines{kStart});
  w.send(C, S, 1019, 5001, ACK, "i");  // 9 held: over it
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client gap 10", "#1 client 'abcd'", "#1 client 'efgh'", "#1 client 'i'"});
  w.send(C, S, 1001, 5001, ACK, "0123456789");  // too late: already skipped
  w.finish();
  CHECK(w.log.lines.back() == "#1 end");
  CHECK(w.log.lines.size() == 6);
}

TEST_CASE("the out-of-order segment count is bounded too") {
  capture::FlowLimits limits;
  limits.max_out_of_order_segments = 2;
  Wire w(limits);
  w.handshake();
  w.send(C, S, 1003, 5001, ACK, "c");
  w.send(C, S, 1005, 5001, ACK, "e");
  w.send(C, S, 1007, 5001, ACK, "g");  // a third segment held: over the limit
  CHECK(w.log.lines == Lines{kStart, "#1 client gap 2", "#1 client 'c'"});  // 2 held again
}

TEST_CASE("when the consumer wants no more payload, closes are still reported") {
  Wire w;
  w.log.want_payload = false;
  w.handshake();
  w.send(C, S, 1001, 5001, ACK, "hello");
  w.send(S, C, 5001, 1006, ACK, "not delivered");
  w.send(C, S, 1010, 5001, FIN | ACK);  // after a hole: nothing waits for bytes any more
  w.send(S, C, 5014, 1006, RST | ACK);
  w.finish();
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client 'hello'", "#1 client fin", "#1 server rst x1", "#1 end"});
}

TEST_CASE("bytes the snaplen cut off show as a gap; the next segment goes on after them") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001, 5001, ACK, "abc", cut_from(10));  // 7 bytes not captured
  w.send(C, S, 1011, 5001, ACK, "klm");
  w.finish();
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client 'abc'", "#1 client gap 7", "#1 client 'klm'", "#1 end"});
}

TEST_CASE("a full copy of bytes the snaplen cut replaces the gap") {
  Wire w;
  w.handshake();
  w.send(C, S, 1004, 5001, ACK, "d", cut_from(4));  // held: 1 byte + 3 cut
  w.send(C, S, 1001, 5001, ACK, "abcdefg");         // all of it, in full
  w.finish();
  CHECK(w.log.lines ==
        Lines{kStart, "#1 client 'abc'", "#1 client 'd'", "#1 client 'efg'", "#1 end"});
}

TEST_CASE("finish ends flows in the order they started, undecided ones last") {
  Wire w;
  const trace::Endpoint c2{"10.0.0.1", 40002}, c3{"10.0.0.1", 40003};
  w.send(c2, S, 100, 0, SYN);
  w.send(c3, S, 300, 7, ACK);  // a bare ACK of a connection seen mid-way: undecided
  w.send(C, S, 1000, 0, SYN);
  w.finish();
  CHECK(w.log.lines == Lines{"#1 start client 10.0.0.1:40002 server 10.0.0.2:443 syn",
                             "#2 start client 10.0.0.1:50000 server 10.0.0.2:443 syn", "#1 end",
                             "#2 end", "#3 start client 10.0.0.1:40003 server 10.0.0.2:443 guessed",
                             "#3 end"});
  CHECK(w.log.contract_violations.empty());
}

TEST_CASE("a segment beyond any possible window is not part of the stream") {
  Wire w;
  w.handshake();
  w.send(C, S, 1001 + (1u << 31), 5001, ACK, "far");  // half the sequence space away
  w.send(C, S, 1001, 5001, ACK, "near");
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 client 'near'", "#1 end"});
}

TEST_CASE("a SYN-ACK seen without its SYN still tells the client and where its bytes start") {
  Wire w;
  w.send(S, C, 5000, 1001, SYN | ACK);
  w.send(C, S, 1001, 5001, ACK, "hi");
  w.finish();
  CHECK(w.log.lines ==
        Lines{"#1 start client 10.0.0.1:50000 server 10.0.0.2:443", "#1 client 'hi'", "#1 end"});
}

TEST_CASE("a server answering with two initial sequence numbers: the client's ACK picks one") {
  Wire w;
  w.send(C, S, 1000, 0, SYN);
  w.send(S, C, 5000, 1001, SYN | ACK);
  w.send(S, C, 90000, 1001, SYN | ACK);  // another ISN (the server restarted the handshake)
  w.send(S, C, 5000, 1001, SYN | ACK);   // and the first one again
  w.send(C, S, 1001, 90001, ACK);        // the client goes on with the second
  w.send(S, C, 90001, 1001, ACK, "data");
  w.finish();
  CHECK(w.log.lines == Lines{kStart, "#1 server 'data'", "#1 end"});
}
