// decode_frame: every link type it reads, the IP variants, and damaged or cut frames. Frames
// are built field by field (wire.hpp, after the RFC diagrams) and, for the first one, given
// as the literal bytes of a real frame.
#include <catch2/catch.hpp>

#include <deque>
#include <string>

#include "tlsglass/capture/tcp_flows.hpp"
#include "wire.hpp"

namespace {

using namespace tlsglass;
using capture::DecodedFrame;
using capture::FrameSkip;
using wire::Bytes;
using wire::cat;

namespace flag = capture::tcp_flag;

// pcap LINKTYPE_* values from https://www.tcpdump.org/linktypes.html.
constexpr int kNull = 0, kEthernet = 1, kRaw = 101, kLoop = 108, kSll = 113, kIpv4 = 228,
              kIpv6 = 229, kSll2 = 276;

const trace::Timestamp kAt{std::chrono::seconds(1700000000)};

// The segment views the frame's bytes: frames are kept for the whole run, so a test may pass
// a temporary.
DecodedFrame decode(int link, Bytes frame) {
  static std::deque<Bytes> kept;
  const Bytes& stored = kept.emplace_back(std::move(frame));
  return capture::decode_frame(link, tls::Bytes(stored.data(), stored.size()), kAt);
}

std::string payload_of(const DecodedFrame& d) {
  return std::string(d.segment->payload.begin(), d.segment->payload.end());
}

// A TCP segment "hello" from 192.0.2.1:51000 to 198.51.100.2:443 in IPv4.
Bytes ipv4_hello(wire::Ipv4 fields = {}) {
  return wire::ipv4(fields,
                    wire::tcp(51000, 443, 1000, 2000, flag::psh | flag::ack, wire::text("hello")));
}

}  // namespace

TEST_CASE("an Ethernet frame written out byte by byte decodes to its TCP segment") {
  // A SYN from 10.0.0.1:54321 to 10.0.0.2:443, written out byte by byte as tcpdump -xx
  // prints one: Ethernet II, IPv4 (total length 44, DF, TTL 64, ID 0x1c46), TCP (data
  // offset 6: a 4-byte MSS option), 2 bytes of padding to the 60-byte minimum frame.
  const Bytes frame = {
      0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
      0x08, 0x00,                                                              // eth
      0x45, 0x00, 0x00, 0x2c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x0a, 0x85,  // IPv4
      0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,                          // addresses
      0xd4, 0x31, 0x01, 0xbb, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00,  // TCP
      0x60, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
      0x00, 0x00};  // Ethernet padding up to 60 bytes
  const auto d = decode(kEthernet, frame);
  REQUIRE(d.segment);
  CHECK(d.segment->source.ip.text() == "10.0.0.1");
  CHECK(d.segment->source.port == 54321);
  CHECK(d.segment->destination.ip.text() == "10.0.0.2");
  CHECK(d.segment->destination.port == 443);
  CHECK(d.segment->seq == 0x12345678);
  CHECK(d.segment->ack == 0);
  CHECK(d.segment->flags == flag::syn);
  CHECK(d.segment->ttl == 64);
  CHECK(d.segment->ip_id == 0x1c46);
  CHECK(d.segment->payload.empty());
  CHECK(d.segment->payload_length == 0);  // the 2 padding bytes are not payload
  CHECK(d.segment->at == kAt);
}

TEST_CASE("Ethernet padding after a short IP packet is not payload") {
  Bytes frame = wire::ethernet(0x0800, ipv4_hello());
  REQUIRE(frame.size() < 60);
  frame.resize(60, 0xee);  // what the NIC pads a minimum-size frame with
  const auto d = decode(kEthernet, frame);
  REQUIRE(d.segment);
  CHECK(payload_of(d) == "hello");
  CHECK(d.segment->payload_length == 5);
}

TEST_CASE("IPv4 options are skipped by the header length") {
  wire::Ipv4 fields;
  fields.options = {0x01, 0x01, 0x01, 0x00};  // NOP NOP NOP EOL (RFC 791 §3.1)
  const auto d = decode(kEthernet, wire::ethernet(0x0800, ipv4_hello(fields)));
  REQUIRE(d.segment);
  CHECK(payload_of(d) == "hello");
  CHECK(d.segment->source.ip.text() == "192.0.2.1");
  CHECK(d.segment->destination.ip.text() == "198.51.100.2");
}

TEST_CASE("TCP options are skipped by the data offset") {
  const Bytes options = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02};  // MSS, NOP NOP SACKOK
  const Bytes packet = wire::ipv4({}, wire::tcp(1, 2, 3, 4, flag::ack, wire::text("xy"), options));
  const auto d = decode(kRaw, packet);
  REQUIRE(d.segment);
  CHECK(payload_of(d) == "xy");
}

TEST_CASE("IPv4 fragments are not reassembled") {
  wire::Ipv4 first_fragment;
  first_fragment.flags_fragment = 0x2000;  // MF, offset 0
  CHECK(decode(kRaw, ipv4_hello(first_fragment)).skip == FrameSkip::ip_fragment);
  wire::Ipv4 later_fragment;
  later_fragment.flags_fragment = 0x0003;  // offset 24 bytes, last fragment
  CHECK(decode(kRaw, ipv4_hello(later_fragment)).skip == FrameSkip::ip_fragment);
  wire::Ipv4 not_fragmented;
  not_fragmented.flags_fragment = 0x0000;  // DF clear, MF clear, offset 0: a whole packet
  CHECK(decode(kRaw, ipv4_hello(not_fragmented)).segment);
}

TEST_CASE("802.1Q and QinQ tags are skipped down to the IP packet") {
  const Bytes ip = ipv4_hello();
  // Ethernet type 0x8100, TCI (VLAN 100), inner type 0x0800.
  const Bytes single = wire::ethernet(0x8100, cat({{0x00, 0x64, 0x08, 0x00}, ip}));
  // 802.1ad service tag 0x88a8 (VLAN 10), then a customer tag 0x8100 (VLAN 20), then IPv4.
  const Bytes qinq =
      wire::ethernet(0x88a8, cat({{0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00}, ip}));
  // The pre-standard QinQ TPID 0x9100.
  const Bytes old_qinq =
      wire::ethernet(0x9100, cat({{0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00}, ip}));
  for (const Bytes& frame : {single, qinq, old_qinq}) {
    const auto d = decode(kEthernet, frame);
    REQUIRE(d.segment);
    CHECK(payload_of(d) == "hello");
  }
  // Five stacked tags is more than any network uses: refused, not looped over.
  Bytes deep;
  for (int i = 0; i < 5; ++i) deep.insert(deep.end(), {0x00, 0x01, 0x81, 0x00});
  deep.insert(deep.end(), {0x00, 0x01, 0x08, 0x00});
  CHECK(decode(kEthernet, wire::ethernet(0x8100, cat({deep, ip}))).skip == FrameSkip::unsupported);
}

TEST_CASE("PPPoE session frames carry IPv4 and IPv6") {
  // RFC 2516 §4: VER=1 TYPE=1 (0x11), CODE 0, SESSION_ID, LENGTH (of the PPP frame), then
  // the PPP protocol field (RFC 1661 §2): 0x0021 IPv4, 0x0057 IPv6.
  const auto pppoe = [](std::uint16_t protocol, const Bytes& packet) {
    Bytes out{0x11, 0x00, 0x12, 0x34};
    wire::put16(out, static_cast<std::uint16_t>(packet.size() + 2));
    wire::put16(out, protocol);
    out.insert(out.end(), packet.begin(), packet.end());
    return wire::ethernet(0x8864, out);
  };
  const auto v4 = decode(kEthernet, pppoe(0x0021, ipv4_hello()));
  REQUIRE(v4.segment);
  CHECK(payload_of(v4) == "hello");
  const auto v6 = decode(
      kEthernet, pppoe(0x0057, wire::ipv6(6, wire::tcp(1, 2, 3, 4, flag::ack, wire::text("six")))));
  REQUIRE(v6.segment);
  CHECK(payload_of(v6) == "six");
  CHECK(v6.segment->source.ip.text() == "2001:db8::1");
  // LCP (0xc021) is PPP's own control traffic.
  CHECK(decode(kEthernet, pppoe(0xc021, {0x09, 0x01, 0x00, 0x08})).skip == FrameSkip::not_tcp);
  // PPPoE discovery (0x8863) carries no IP.
  CHECK(decode(kEthernet, wire::ethernet(0x8863, {0x11, 0x09, 0x00, 0x00, 0x00, 0x00})).skip ==
        FrameSkip::not_tcp);
}

TEST_CASE("Linux cooked captures SLL and SLL2") {
  const Bytes ip = ipv4_hello();
  // LINKTYPE_LINUX_SLL: packet type (0 = to us), ARPHRD_ETHER (1), address length 6, 8
  // address bytes, protocol 0x0800.
  const Bytes sll =
      cat({{0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x02, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ip});
  // LINKTYPE_LINUX_SLL2: protocol 0x0800, reserved, interface index 2, ARPHRD_ETHER, packet
  // type 4 (outgoing), address length 6, 8 address bytes.
  const Bytes sll2 = cat({{0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01,
                           0x04, 0x06, 0x02, 0,    0,    0,    0,    1,    0,    0},
                          ip});
  for (const auto& [link, frame] : {std::pair{kSll, sll}, std::pair{kSll2, sll2}}) {
    const auto d = decode(link, frame);
    REQUIRE(d.segment);
    CHECK(payload_of(d) == "hello");
  }
  // SLL with an 802.2 LLC protocol value (0x0004): not IP.
  Bytes llc = sll;
  llc[14] = 0x00, llc[15] = 0x04;
  CHECK(decode(kSll, llc).skip == FrameSkip::not_tcp);
}

TEST_CASE("raw IP link types, including the DLT_RAW values 12 and 14") {
  const Bytes v4 = ipv4_hello();
  const Bytes v6 = wire::ipv6(6, wire::tcp(1, 2, 3, 4, flag::ack, wire::text("six")));
  for (int link : {kRaw, 12, 14}) {
    CHECK(decode(link, v4).segment);
    CHECK(decode(link, v6).segment);
  }
  CHECK(decode(kIpv4, v4).segment);
  CHECK(decode(kIpv6, v6).segment);
  CHECK(decode(kIpv4, v6).skip == FrameSkip::unsupported);  // the link type says IPv4
  CHECK(decode(kIpv6, v4).skip == FrameSkip::unsupported);
  CHECK(decode(kRaw, {0x50, 0, 0, 0}).skip == FrameSkip::unsupported);  // version 5
}

TEST_CASE("BSD loopback: NULL in the writer's byte order, LOOP in network order") {
  const Bytes v4 = ipv4_hello();
  const Bytes v6 = wire::ipv6(6, wire::tcp(1, 2, 3, 4, flag::ack, wire::text("six")));
  // AF_INET = 2; AF_INET6 = 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
  CHECK(decode(kNull, cat({{0x02, 0x00, 0x00, 0x00}, v4})).segment);  // little-endian writer
  CHECK(decode(kNull, cat({{0x00, 0x00, 0x00, 0x02}, v4})).segment);  // big-endian writer
  for (std::uint8_t af : {24, 28, 30}) {
    CHECK(decode(kNull, cat({{af, 0x00, 0x00, 0x00}, v6})).segment);
    CHECK(decode(kLoop, cat({{0x00, 0x00, 0x00, af}, v6})).segment);
  }
  CHECK(decode(kLoop, cat({{0x00, 0x00, 0x00, 0x02}, v4})).segment);
  CHECK(decode(kLoop, cat({{0x02, 0x00, 0x00, 0x00}, v4})).skip == FrameSkip::unsupported);
  CHECK(decode(kNull, cat({{0x07, 0x00, 0x00, 0x00}, v4})).skip == FrameSkip::unsupported);
}

TEST_CASE("IPv6 extension headers are walked to TCP") {
  const Bytes tcp = wire::tcp(443, 50000, 7, 8, flag::ack, wire::text("payload"));
  // Hop-by-hop (0): next header, Hdr Ext Len 0 (8 bytes), PadN option.
  const Bytes hop_by_hop = {43, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00};
  // Routing (43): next header, Hdr Ext Len 2 (24 bytes), routing type 0 (deprecated, but its
  // length is still well formed), segments left 0, then 20 more bytes.
  Bytes routing = {60, 0x02, 0x00, 0x00};
  routing.resize(24, 0);
  // Destination options (60): next header 44, length 0, PadN.
  const Bytes destination = {44, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00};
  // Fragment (44): next header 51, reserved, offset 0 and M 0 (an atomic fragment), ID.
  const Bytes atomic_fragment = {51, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
  // AH (51, RFC 4302 §2.2): next header 6, Payload Len 4 (= (4 + 2) * 4 = 24 bytes), reserved,
  // SPI, sequence number, 12 bytes of ICV.
  Bytes ah = {6, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01};
  ah.resize(24, 0xab);
  const auto d = decode(
      kRaw, wire::ipv6(0, cat({hop_by_hop, routing, destination, atomic_fragment, ah, tcp})));
  REQUIRE(d.segment);
  CHECK(payload_of(d) == "payload");
  CHECK(d.segment->source.ip.text() == "2001:db8::1");
  CHECK(d.segment->destination.ip.text() == "2001:db8::2");
  CHECK(d.segment->source.port == 443);
  CHECK_FALSE(d.segment->ip_id);
  CHECK(d.segment->ttl == 64);

  // A fragment header with an offset, or with M set, is a real fragment.
  const Bytes later = {6, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01};  // offset 1 (8 bytes)
  CHECK(decode(kRaw, wire::ipv6(44, cat({later, tcp}))).skip == FrameSkip::ip_fragment);
  const Bytes first = {6, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01};  // offset 0, M = 1
  CHECK(decode(kRaw, wire::ipv6(44, cat({first, tcp}))).skip == FrameSkip::ip_fragment);
  // No Next Header (59): nothing follows.
  CHECK(decode(kRaw, wire::ipv6(59, {})).skip == FrameSkip::not_tcp);
  // An extension header that claims more bytes than the payload length allows.
  const Bytes too_long = {6, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};  // 48 bytes
  CHECK(decode(kRaw, wire::ipv6(60, too_long)).skip == FrameSkip::truncated);
}

TEST_CASE("frames that are not TCP say so") {
  // ARP request (RFC 826) over Ethernet.
  const Bytes arp = wire::ethernet(0x0806, Bytes(28, 0x01));
  CHECK(decode(kEthernet, arp).skip == FrameSkip::not_tcp);
  // UDP (17) and ICMP (1) over IPv4.
  wire::Ipv4 udp;
  udp.protocol = 17;
  CHECK(decode(kRaw, wire::ipv4(udp, Bytes(8, 0))).skip == FrameSkip::not_tcp);
  wire::Ipv4 icmp;
  icmp.protocol = 1;
  CHECK(decode(kRaw, wire::ipv4(icmp, Bytes(8, 0))).skip == FrameSkip::not_tcp);
  // An 802.3 length field (below 0x0600) instead of an EtherType: LLC.
  CHECK(decode(kEthernet, wire::ethernet(0x0026, Bytes(38, 0))).skip == FrameSkip::not_tcp);
  // An EtherType we do not read (MPLS unicast).
  CHECK(decode(kEthernet, wire::ethernet(0x8847, Bytes(40, 0))).skip == FrameSkip::unsupported);
  // A link type we do not read (LINKTYPE_IEEE802_11 = 105).
  CHECK(decode(105, ipv4_hello()).skip == FrameSkip::unsupported);
  CHECK_FALSE(capture::link_type_supported(105));
  for (int link : {kNull, kEthernet, 12, 14, kRaw, kLoop, kSll, kIpv4, kIpv6, kSll2}) {
    CHECK(capture::link_type_supported(link));
  }
}

TEST_CASE("IP-in-IP tunnels decode to the inner connection") {
  wire::Ipv4 outer;
  outer.protocol = 4;  // RFC 2003
  outer.source = {203, 0, 113, 1};
  const auto d = decode(kRaw, wire::ipv4(outer, ipv4_hello()));
  REQUIRE(d.segment);
  CHECK(d.segment->source.ip.text() == "192.0.2.1");
  CHECK(payload_of(d) == "hello");
}

TEST_CASE("a frame cut at any byte never reads past its end and says why") {
  const Bytes v6 = wire::ipv6(60, cat({{6, 0x00, 0x01, 0x04, 0, 0, 0, 0},
                                       wire::tcp(1, 2, 3, 4, flag::ack, wire::text("abcdef"))}));
  Bytes pppoe{0x11, 0x00, 0x12, 0x34};
  wire::put16(pppoe, static_cast<std::uint16_t>(ipv4_hello().size() + 2));
  pppoe.insert(pppoe.end(), {0x00, 0x21});
  const Bytes v4 = ipv4_hello();
  pppoe.insert(pppoe.end(), v4.begin(), v4.end());
  struct Case {
    int link;
    Bytes frame;
    std::size_t headers;  // bytes before the TCP payload
  };
  const std::vector<Case> cases = {
      {kEthernet, wire::ethernet(0x0800, ipv4_hello()), 14 + 20 + 20},
      {kEthernet, wire::ethernet(0x8100, cat({{0x00, 0x64, 0x08, 0x00}, ipv4_hello()})), 18 + 40},
      {kEthernet, wire::ethernet(0x8864, pppoe), 14 + 8 + 40},
      {kSll, cat({Bytes(14, 0), {0x86, 0xdd}, v6}), 16 + 40 + 8 + 20},
      {kSll2, cat({{0x86, 0xdd}, Bytes(18, 0), v6}), 20 + 40 + 8 + 20},
      {kNull, cat({{0x02, 0, 0, 0}, ipv4_hello()}), 4 + 40},
      {kRaw, v6, 40 + 8 + 20},
  };
  for (const auto& c : cases) {
    for (std::size_t n = 0; n < c.frame.size(); ++n) {
      // A copy exactly n bytes long, so a read past it is a heap overflow under ASan.
      const Bytes cut(c.frame.begin(), c.frame.begin() + static_cast<std::ptrdiff_t>(n));
      INFO("link " << c.link << ", first " << n << " of " << c.frame.size() << " bytes");
      const auto d = decode(c.link, cut);
      if (n < c.headers) {
        CHECK_FALSE(d.segment);
        CHECK(d.skip == FrameSkip::truncated);
      } else {
        // Cut in the payload (a snaplen): the captured part, and the length it should have.
        REQUIRE(d.segment);
        CHECK(d.segment->payload.size() == n - c.headers);
        CHECK(d.segment->payload_length == c.frame.size() - c.headers);
      }
    }
  }
}

TEST_CASE("damaged length fields are refused, not trusted") {
  wire::Ipv4 short_total;
  short_total.total_length = 19;  // less than the header itself
  CHECK(decode(kRaw, ipv4_hello(short_total)).skip == FrameSkip::truncated);
  Bytes bad_ihl = ipv4_hello();
  bad_ihl[0] = 0x44;  // IHL 4: 16 bytes, below the minimum
  CHECK(decode(kRaw, bad_ihl).skip == FrameSkip::truncated);
  Bytes big_ihl = ipv4_hello();
  big_ihl[0] = 0x4f;  // IHL 15: 60 bytes of header, more than the 45-byte packet
  CHECK(decode(kRaw, big_ihl).skip == FrameSkip::truncated);
  Bytes bad_offset = ipv4_hello();
  bad_offset[20 + 12] = 0x40;  // TCP data offset 4 words: below the fixed header
  CHECK(decode(kRaw, bad_offset).skip == FrameSkip::truncated);
  Bytes long_offset = ipv4_hello();
  long_offset[20 + 12] = 0xf0;  // 60 bytes of TCP header, beyond the IP total length
  CHECK(decode(kRaw, long_offset).skip == FrameSkip::truncated);
}

TEST_CASE("a zero IPv4 total length (segmentation offload) takes the captured bytes") {
  wire::Ipv4 tso;
  tso.total_length = 0;
  const auto d = decode(kRaw, ipv4_hello(tso));
  REQUIRE(d.segment);
  CHECK(payload_of(d) == "hello");
  CHECK(d.segment->payload_length == 5);
}

TEST_CASE("skip reasons have names") {
  CHECK(capture::frame_skip_name(FrameSkip::not_tcp) == "not_tcp");
  CHECK(capture::frame_skip_name(FrameSkip::truncated) == "truncated");
  CHECK(capture::frame_skip_name(FrameSkip::ip_fragment) == "ip_fragment");
  CHECK(capture::frame_skip_name(FrameSkip::unsupported) == "unsupported");
}
