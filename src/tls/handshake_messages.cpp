#include "tlsglass/tls/handshake_messages.hpp"

namespace tlsglass::tls {

namespace {

// Bits of a big-endian unsigned integer: leading zero bytes and bits do not count.
std::uint16_t bit_length(Bytes value) {
  std::size_t i = 0;
  while (i < value.size() && value[i] == 0) ++i;
  if (i == value.size()) return 0;
  std::size_t bits = (value.size() - i) * 8;
  for (std::uint8_t top = value[i]; !(top & 0x80); top = static_cast<std::uint8_t>(top << 1))
    --bits;
  return static_cast<std::uint16_t>(bits);
}

// RFC 5246 §7.4.3 / §4.7: TLS 1.2 signs the params with a SignatureAndHashAlgorithm first,
// then a 16-bit-length signature; TLS <=1.1 has the signature alone. The message does not say
// which, so the scheme is read only when exactly that shape fills the rest.
void read_signature(ByteReader& in, ServerKeyExchange& out) {
  if (in.empty()) return;
  ByteReader probe = in;
  auto scheme = probe.u16();
  auto signature = probe.block16();
  if (scheme && signature && probe.empty()) {
    out.signature_scheme = *scheme;
    in = probe;
    return;
  }
  ByteReader legacy = in;
  if (!legacy.block16() || !legacy.empty()) out.malformed = true;
  in = legacy;
}

}  // namespace

ServerKeyExchange parse_server_key_exchange(Bytes body, bool ecdhe) {
  ServerKeyExchange out;
  ByteReader in(body);
  if (ecdhe) {
    // RFC 8422 §5.4: ECParameters (curve_type, named_curve), then the public point.
    auto curve_type = in.u8();
    if (!curve_type) {
      out.malformed = true;
      return out;
    }
    if (*curve_type != 3) {  // 3 = named_curve; explicit curves are deprecated (RFC 8422 §5.4)
      out.malformed = true;
      return out;
    }
    auto curve = in.u16();
    if (!curve) {
      out.malformed = true;
      return out;
    }
    out.named_curve = *curve;
    if (!in.block8()) {
      out.malformed = true;
      return out;
    }
  } else {
    // RFC 5246 §7.4.3: ServerDHParams dh_p, dh_g, dh_Ys, each opaque<1..2^16-1>.
    auto prime = in.block16();
    if (!prime) {
      out.malformed = true;
      return out;
    }
    out.dh_prime_bits = bit_length(prime->rest());
    if (!in.block16() || !in.block16()) {
      out.malformed = true;
      return out;
    }
  }
  read_signature(in, out);
  return out;
}

CertificateRequest parse_certificate_request(Bytes body, bool tls12) {
  CertificateRequest out;
  ByteReader in(body);
  // RFC 5246 §7.4.4: certificate_types<1..2^8-1>, supported_signature_algorithms<2..2^16-2>
  // (TLS 1.2 only), certificate_authorities<0..2^16-1> of DistinguishedName<1..2^16-1>.
  auto types = in.block8();
  if (!types) {
    out.malformed = true;
    return out;
  }
  while (auto type = types->u8()) out.certificate_types.push_back(*type);
  if (tls12) {
    auto algorithms = in.block16();
    if (!algorithms || algorithms->remaining() % 2 != 0) {
      out.malformed = true;
      return out;
    }
    while (auto scheme = algorithms->u16()) out.signature_algorithms.push_back(*scheme);
  }
  auto authorities = in.block16();
  if (!authorities) {
    out.malformed = true;
    return out;
  }
  while (!authorities->empty()) {
    if (!authorities->block16()) {
      out.malformed = true;
      break;
    }
    if (out.certificate_authorities < 0xffff) ++out.certificate_authorities;
  }
  if (!in.empty()) out.malformed = true;
  return out;
}

NewSessionTicket parse_new_session_ticket(Bytes body) {
  NewSessionTicket out;
  ByteReader in(body);
  // RFC 5077 §3.3: ticket_lifetime_hint (uint32), opaque ticket<0..2^16-1>.
  auto lifetime = in.u32();
  auto ticket = lifetime ? in.block16() : std::nullopt;
  if (!ticket || !in.empty()) {
    out.malformed = true;
    if (lifetime) out.lifetime_hint = *lifetime;
    return out;
  }
  out.lifetime_hint = *lifetime;
  out.ticket_length = static_cast<std::uint16_t>(ticket->remaining());
  return out;
}

}  // namespace tlsglass::tls
