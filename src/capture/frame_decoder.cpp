// One captured frame down to a TCP segment: link layer (Ethernet with VLAN tags and PPPoE,
// Linux cooked SLL/SLL2, BSD loopback, raw IP), IPv4 or IPv6 with its extension headers, TCP.
//
// Every header is read through a ByteReader over the captured bytes, so nothing past the
// frame is ever read. Lengths come from the headers, not the frame: Ethernet pads short
// frames to 60 bytes, so the TCP payload ends where the IP total length says. When the
// capture cut the frame (snaplen), the segment carries the captured part of the payload and
// its true length in `payload_length`: the tracker then shows the cut bytes as a gap.
#include <string_view>

#include "tlsglass/capture/tcp_flows.hpp"

namespace tlsglass::capture {

using tls::Bytes;
using trace::Timestamp;

namespace {

using tls::ByteReader;

// pcap LINKTYPE_* values (https://www.tcpdump.org/linktypes.html). DLT_RAW is 12 on most
// systems and 14 on OpenBSD; pcap_datalink() hands those back for LINKTYPE_RAW files.
namespace link_type {
constexpr int null_bsd = 0, ethernet = 1, dlt_raw = 12, dlt_raw_openbsd = 14, raw = 101, loop = 108,
              linux_sll = 113, ipv4 = 228, ipv6 = 229, linux_sll2 = 276;
}

namespace ethertype {
constexpr std::uint16_t ipv4 = 0x0800, arp = 0x0806, vlan = 0x8100, rarp = 0x8035, ipv6 = 0x86dd,
                        pppoe_discovery = 0x8863, pppoe_session = 0x8864, eapol = 0x888e,
                        qinq = 0x88a8, lldp = 0x88cc, qinq_old = 0x9100;
// Below this the field is an IEEE 802.3 length, not a type: an LLC frame, never IP here.
constexpr std::uint16_t min_type = 0x0600;
}  // namespace ethertype

// IP protocol numbers / IPv6 next-header values (IANA "Assigned Internet Protocol Numbers").
namespace ip_proto {
constexpr std::uint8_t hop_by_hop = 0, ipv4_in_ip = 4, tcp = 6, ipv6_in_ip = 41, routing = 43,
                       fragment = 44, esp = 50, ah = 51, no_next_header = 59,
                       destination_options = 60, mobility = 135, hip = 139, shim6 = 140;
}

// Bounds on header chains, so a hostile frame cannot make us loop: more VLAN tags, IPv6
// extension headers or nested IP-in-IP than any real network uses is "unsupported".
constexpr int kMaxVlanTags = 4;
constexpr int kMaxExtensionHeaders = 16;
constexpr int kMaxIpNesting = 3;

DecodedFrame skipped(FrameSkip why) {
  DecodedFrame out;
  out.skip = why;
  return out;
}

// What the IP layer hands to TCP: the addresses and the TCP bytes, both as captured and as
// long as the IP header says they are.
struct IpPacket {
  IpAddress source, destination;
  std::uint8_t ttl = 0;
  std::optional<std::uint16_t> ip_id;
  Bytes transport;                 // captured bytes of the IP payload
  std::uint32_t transport_length;  // the IP payload's length per the IP header
};

DecodedFrame decode_ip(Bytes packet, int nesting, Timestamp at);

// RFC 9293 §3.1: the TCP header; its data offset counts 32-bit words, options included.
DecodedFrame decode_tcp(const IpPacket& ip, Timestamp at) {
  ByteReader r(ip.transport);
  TcpSegment seg;
  seg.at = at;
  const auto sport = r.u16(), dport = r.u16();
  const auto seq = r.u32(), ack = r.u32();
  const auto offset = r.u8(), flags = r.u8();
  if (!sport || !dport || !seq || !ack || !offset || !flags) return skipped(FrameSkip::truncated);
  const std::size_t header = static_cast<std::size_t>(*offset >> 4) * 4;
  // A data offset below the fixed header, or past the TCP length the IP header gives, is a
  // damaged header; options cut by the snaplen leave nothing we could use either.
  if (header < 20 || header > ip.transport_length || header > ip.transport.size()) {
    return skipped(FrameSkip::truncated);
  }
  seg.source = {ip.source, *sport};
  seg.destination = {ip.destination, *dport};
  seg.seq = *seq;
  seg.ack = *ack;
  seg.flags = *flags;
  seg.ttl = ip.ttl;
  seg.ip_id = ip.ip_id;
  seg.payload = ip.transport.subspan(header);
  seg.payload_length = ip.transport_length - static_cast<std::uint32_t>(header);
  DecodedFrame out;
  out.segment = std::move(seg);
  return out;
}

// The transport bytes of an IP payload: captured, but never beyond what the IP header says
// (Ethernet padding follows short packets). A declared length of 0 is what a capture on the
// sending host shows for a TCP segmentation offload super-packet (and an IPv6 jumbogram,
// whose real length we do not read): the captured bytes are then all there is.
Bytes clip_to_declared(Bytes captured, std::uint32_t& declared) {
  if (declared == 0) declared = static_cast<std::uint32_t>(captured.size());
  return captured.size() > declared ? captured.first(declared) : captured;
}

DecodedFrame decode_transport(std::uint8_t protocol, IpPacket& ip, int nesting, Timestamp at) {
  switch (protocol) {
    case ip_proto::tcp:
      return decode_tcp(ip, at);
    // IP-in-IP tunnels (RFC 2003, RFC 4213): the inner header names the connection.
    case ip_proto::ipv4_in_ip:
    case ip_proto::ipv6_in_ip:
      return decode_ip(ip.transport, nesting + 1, at);
    default:
      return skipped(FrameSkip::not_tcp);
  }
}

// RFC 791 §3.1.
DecodedFrame decode_ipv4(Bytes packet, int nesting, Timestamp at) {
  ByteReader r(packet);
  const auto version_ihl = r.u8();
  (void)r.u8();  // type of service
  const auto total_length = r.u16(), id = r.u16(), fragment = r.u16();
  const auto ttl = r.u8(), protocol = r.u8();
  (void)r.u16();  // header checksum (offloaded checksums are wrong in captures: not checked)
  const auto source = r.take(4), destination = r.take(4);
  if (!version_ihl || !total_length || !id || !fragment || !ttl || !protocol || !source ||
      !destination) {
    return skipped(FrameSkip::truncated);
  }
  if (*version_ihl >> 4 != 4) return skipped(FrameSkip::unsupported);
  const std::size_t header = static_cast<std::size_t>(*version_ihl & 0x0f) * 4;
  if (header < 20 || header > packet.size()) return skipped(FrameSkip::truncated);
  if (*total_length != 0 && *total_length < header) return skipped(FrameSkip::truncated);
  // Flags MF (0x2000) and the fragment offset: any fragment, even the first (whose TCP
  // payload is incomplete), is not reassembled.
  if ((*fragment & 0x2000) != 0 || (*fragment & 0x1fff) != 0) {
    return skipped(FrameSkip::ip_fragment);
  }
  IpPacket ip;
  ip.source = IpAddress::from_bytes(*source);
  ip.destination = IpAddress::from_bytes(*destination);
  ip.ttl = *ttl;
  ip.ip_id = *id;
  std::uint32_t declared =
      *total_length == 0 ? 0 : *total_length - static_cast<std::uint32_t>(header);
  ip.transport = clip_to_declared(packet.subspan(header), declared);
  ip.transport_length = declared;
  return decode_transport(*protocol, ip, nesting, at);
}

// RFC 8200 §3 (fixed header) and §4 (extension headers), RFC 4302 §2.2 (AH).
DecodedFrame decode_ipv6(Bytes packet, int nesting, Timestamp at) {
  ByteReader r(packet);
  const auto version = r.u8();
  (void)r.take(3);  // traffic class, flow label
  const auto payload_length = r.u16();
  auto next = r.u8();
  const auto hop_limit = r.u8();
  const auto source = r.take(16), destination = r.take(16);
  if (!version || !payload_length || !next || !hop_limit || !source || !destination) {
    return skipped(FrameSkip::truncated);
  }
  if (*version >> 4 != 6) return skipped(FrameSkip::unsupported);
  std::uint32_t declared = *payload_length;
  Bytes rest = clip_to_declared(r.rest(), declared);
  std::uint8_t header_type = *next;
  for (int headers = 0;; ++headers) {
    if (headers > kMaxExtensionHeaders) return skipped(FrameSkip::unsupported);
    std::size_t length = 0;
    switch (header_type) {
      case ip_proto::hop_by_hop:
      case ip_proto::routing:
      case ip_proto::destination_options:
      case ip_proto::mobility:
      case ip_proto::hip:
      case ip_proto::shim6: {
        // Next Header, Hdr Ext Len in 8-octet units not counting the first 8 (RFC 8200 §4.3).
        if (rest.size() < 2) return skipped(FrameSkip::truncated);
        length = (static_cast<std::size_t>(rest[1]) + 1) * 8;
        break;
      }
      case ip_proto::fragment: {
        // RFC 8200 §4.5: offset in the top 13 bits of bytes 2-3, M flag in the lowest bit.
        // Offset 0 without M is an atomic fragment: a whole packet.
        if (rest.size() < 8) return skipped(FrameSkip::truncated);
        const std::uint16_t offset_flags = static_cast<std::uint16_t>(rest[2] << 8 | rest[3]);
        if ((offset_flags >> 3) != 0 || (offset_flags & 1) != 0) {
          return skipped(FrameSkip::ip_fragment);
        }
        length = 8;
        break;
      }
      case ip_proto::ah: {
        // RFC 4302 §2.2: Payload Len in 32-bit words, minus 2.
        if (rest.size() < 2) return skipped(FrameSkip::truncated);
        length = (static_cast<std::size_t>(rest[1]) + 2) * 4;
        break;
      }
      case ip_proto::no_next_header:
      case ip_proto::esp:
        return skipped(FrameSkip::not_tcp);
      default: {
        IpPacket ip;
        ip.source = IpAddress::from_bytes(*source);
        ip.destination = IpAddress::from_bytes(*destination);
        ip.ttl = *hop_limit;
        ip.transport = rest;
        ip.transport_length = declared;
        return decode_transport(header_type, ip, nesting, at);
      }
    }
    // An extension header longer than the payload length allows is damaged; one cut by the
    // snaplen leaves no transport header to read.
    if (length > declared || length > rest.size()) return skipped(FrameSkip::truncated);
    header_type = rest[0];
    rest = rest.subspan(length);
    declared -= static_cast<std::uint32_t>(length);
  }
}

// The version nibble picks the header (raw IP link types, IP-in-IP).
DecodedFrame decode_ip(Bytes packet, int nesting, Timestamp at) {
  if (nesting > kMaxIpNesting) return skipped(FrameSkip::unsupported);
  if (packet.empty()) return skipped(FrameSkip::truncated);
  switch (packet[0] >> 4) {
    case 4:
      return decode_ipv4(packet, nesting, at);
    case 6:
      return decode_ipv6(packet, nesting, at);
    default:
      return skipped(FrameSkip::unsupported);
  }
}

// RFC 2516 §4 (PPPoE session stage: VER=1, TYPE=1, CODE=0, SESSION_ID, LENGTH) carrying a
// PPP frame (RFC 1661 §2: the protocol field, 1 byte when compressed - its value is odd).
DecodedFrame decode_pppoe_session(Bytes bytes, Timestamp at) {
  ByteReader r(bytes);
  const auto version_type = r.u8(), code = r.u8();
  const auto session = r.u16(), length = r.u16();
  if (!version_type || !code || !session || !length) return skipped(FrameSkip::truncated);
  if (*version_type != 0x11 || *code != 0) return skipped(FrameSkip::unsupported);
  Bytes ppp = r.rest();
  if (ppp.size() > *length) ppp = ppp.first(*length);  // padding after the PPPoE payload
  if (ppp.empty()) return skipped(FrameSkip::truncated);
  std::uint16_t protocol = ppp[0];
  std::size_t protocol_bytes = 1;
  if ((ppp[0] & 1) == 0) {
    if (ppp.size() < 2) return skipped(FrameSkip::truncated);
    protocol = static_cast<std::uint16_t>(ppp[0] << 8 | ppp[1]);
    protocol_bytes = 2;
  }
  const Bytes packet = ppp.subspan(protocol_bytes);
  switch (protocol) {
    case 0x0021:
      return decode_ipv4(packet, 0, at);
    case 0x0057:
      return decode_ipv6(packet, 0, at);
    default:
      return skipped(FrameSkip::not_tcp);  // LCP, IPCP, authentication...
  }
}

// An EtherType and what follows it, after any 802.1Q / 802.1ad (QinQ) tags: each tag is
// TCI (2 bytes) and the next EtherType (2 bytes).
DecodedFrame decode_ethertype(std::uint16_t type, Bytes bytes, Timestamp at) {
  ByteReader r(bytes);
  for (int tags = 0;
       type == ethertype::vlan || type == ethertype::qinq || type == ethertype::qinq_old; ++tags) {
    if (tags == kMaxVlanTags) return skipped(FrameSkip::unsupported);
    const auto tci = r.u16(), inner = r.u16();
    if (!tci || !inner) return skipped(FrameSkip::truncated);
    type = *inner;
  }
  switch (type) {
    case ethertype::ipv4:
      return decode_ipv4(r.rest(), 0, at);
    case ethertype::ipv6:
      return decode_ipv6(r.rest(), 0, at);
    case ethertype::pppoe_session:
      return decode_pppoe_session(r.rest(), at);
    case ethertype::arp:
    case ethertype::rarp:
    case ethertype::pppoe_discovery:
    case ethertype::eapol:
    case ethertype::lldp:
      return skipped(FrameSkip::not_tcp);
    default:
      return skipped(type < ethertype::min_type ? FrameSkip::not_tcp : FrameSkip::unsupported);
  }
}

// LINKTYPE_NULL / LINKTYPE_LOOP: a 4-byte BSD address family. AF_INET is 2 everywhere;
// AF_INET6 is 24 (NetBSD, OpenBSD, BSD/OS), 28 (FreeBSD, DragonFly) or 30 (Darwin).
DecodedFrame decode_bsd_loopback(Bytes frame, bool network_order, Timestamp at) {
  if (frame.size() < 4) return skipped(FrameSkip::truncated);
  const std::uint32_t big = static_cast<std::uint32_t>(frame[0]) << 24 |
                            static_cast<std::uint32_t>(frame[1]) << 16 |
                            static_cast<std::uint32_t>(frame[2]) << 8 | frame[3];
  const std::uint32_t little = static_cast<std::uint32_t>(frame[3]) << 24 |
                               static_cast<std::uint32_t>(frame[2]) << 16 |
                               static_cast<std::uint32_t>(frame[1]) << 8 | frame[0];
  const auto is_family = [&](auto&& known) {
    return known(big) || (!network_order && known(little));
  };
  const Bytes packet = frame.subspan(4);
  // NULL is in the byte order of the host that wrote the file, which need not be ours; no
  // family value reads as another one byte-swapped, so trying both orders is safe.
  if (is_family([](std::uint32_t af) { return af == 2; })) return decode_ipv4(packet, 0, at);
  if (is_family([](std::uint32_t af) { return af == 24 || af == 28 || af == 30; })) {
    return decode_ipv6(packet, 0, at);
  }
  return skipped(FrameSkip::unsupported);
}

}  // namespace

std::string_view frame_skip_name(FrameSkip skip) {
  switch (skip) {
    case FrameSkip::not_tcp:
      return "not_tcp";
    case FrameSkip::truncated:
      return "truncated";
    case FrameSkip::ip_fragment:
      return "ip_fragment";
    case FrameSkip::unsupported:
      return "unsupported";
  }
  return "unknown";
}

bool link_type_supported(int type) {
  switch (type) {
    case link_type::null_bsd:
    case link_type::ethernet:
    case link_type::dlt_raw:
    case link_type::dlt_raw_openbsd:
    case link_type::raw:
    case link_type::loop:
    case link_type::linux_sll:
    case link_type::ipv4:
    case link_type::ipv6:
    case link_type::linux_sll2:
      return true;
    default:
      return false;
  }
}

DecodedFrame decode_frame(int type, Bytes frame, Timestamp at) {
  ByteReader r(frame);
  switch (type) {
    case link_type::ethernet: {
      // IEEE 802.3: destination, source, EtherType.
      if (!r.skip(12)) return skipped(FrameSkip::truncated);
      const auto ether = r.u16();
      if (!ether) return skipped(FrameSkip::truncated);
      return decode_ethertype(*ether, r.rest(), at);
    }
    case link_type::linux_sll: {
      // Packet type, ARPHRD type, address length, 8 address bytes, protocol type.
      const auto packet_type = r.u16(), arphrd = r.u16();
      if (!packet_type || !arphrd || !r.skip(10)) return skipped(FrameSkip::truncated);
      const auto protocol = r.u16();
      if (!protocol) return skipped(FrameSkip::truncated);
      if (*arphrd == 824) return skipped(FrameSkip::not_tcp);  // ARPHRD_NETLINK
      return decode_ethertype(*protocol, r.rest(), at);
    }
    case link_type::linux_sll2: {
      // Protocol type, reserved, interface index, ARPHRD type, packet type, address length,
      // 8 address bytes.
      const auto protocol = r.u16();
      if (!protocol || !r.skip(6)) return skipped(FrameSkip::truncated);
      const auto arphrd = r.u16();
      if (!arphrd || !r.skip(10)) return skipped(FrameSkip::truncated);
      if (*arphrd == 824) return skipped(FrameSkip::not_tcp);  // ARPHRD_NETLINK
      return decode_ethertype(*protocol, r.rest(), at);
    }
    case link_type::raw:
    case link_type::dlt_raw:
    case link_type::dlt_raw_openbsd:
      return decode_ip(frame, 0, at);
    case link_type::ipv4:
      if (!frame.empty() && frame[0] >> 4 != 4) return skipped(FrameSkip::unsupported);
      return decode_ip(frame, 0, at);
    case link_type::ipv6:
      if (!frame.empty() && frame[0] >> 4 != 6) return skipped(FrameSkip::unsupported);
      return decode_ip(frame, 0, at);
    case link_type::null_bsd:
      return decode_bsd_loopback(frame, false, at);
    case link_type::loop:
      return decode_bsd_loopback(frame, true, at);
    default:
      return skipped(FrameSkip::unsupported);
  }
}

}  // namespace tlsglass::capture
