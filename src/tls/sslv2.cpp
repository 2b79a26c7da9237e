// SSL 2.0 CLIENT-HELLO and SERVER-HELLO (draft-hickman-netscape-ssl-00 §2.5; the CLIENT-HELLO
// also as the V2ClientHello of RFC 5246 Appendix E.2, which TLS clients once sent to reach SSL
// 2.0 servers). `body` starts after the one-byte message type. Lengths come first, then the
// fields they measure, with no nesting: each field is taken from what is left of the message.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/types.hpp"

namespace tlsglass::tls {
namespace {

template <typename Hello>
void fail(Hello& hello, HelloError error) {
  if (hello.error == HelloError::none) hello.error = error;  // the first error is reported
}

// `length` bytes of the message, or what is left of it with `cut` set.
struct Field {
  ByteReader bytes;
  bool cut;
};

Field field(ByteReader& in, std::uint16_t length) {
  const bool cut = length > in.remaining();
  return Field{ByteReader(*in.take(cut ? in.remaining() : length)), cut};
}

// CIPHER-SPECS-DATA: three bytes per spec. An SSL 3.0/TLS suite is written as 0x00 followed by
// its two bytes (RFC 5246 Appendix E.2).
bool read_cipher_specs(ByteReader& in, std::uint16_t length, std::vector<std::uint32_t>& specs,
                       std::vector<std::uint16_t>* tls_suites) {
  Field data = field(in, length);
  while (data.bytes.remaining() >= 3) {
    const std::uint32_t spec = *data.bytes.u24();
    specs.push_back(spec);
    if (tls_suites && (spec >> 16) == 0) tls_suites->push_back(static_cast<std::uint16_t>(spec));
  }
  return !data.cut;
}

// A challenge or connection id of 16 to 32 bytes becomes the low-order bytes of the 32-byte
// random (RFC 5246 Appendix E.2, RFC 2246 Appendix E.1: right-justified, zero-padded on the
// left). A longer one keeps its last 32 bytes.
bool read_nonce(ByteReader& in, std::uint16_t length, std::array<std::uint8_t, 32>& random) {
  Field data = field(in, length);
  if (data.cut) return false;
  const Bytes nonce = data.bytes.rest();
  const std::size_t n = std::min(nonce.size(), random.size());
  std::copy(nonce.end() - static_cast<std::ptrdiff_t>(n), nonce.end(), random.end() - n);
  return true;
}

bool valid_nonce_length(std::uint16_t length) { return length >= 16 && length <= 32; }

template <typename Hello>
Hello truncated(Hello& hello) {
  fail(hello, HelloError::truncated);
  return hello;
}

}  // namespace

// CLIENT-HELLO: CLIENT-VERSION, CIPHER-SPECS-LENGTH, SESSION-ID-LENGTH, CHALLENGE-LENGTH (two
// bytes each), then CIPHER-SPECS-DATA, SESSION-ID-DATA, CHALLENGE-DATA.
ClientHello parse_sslv2_client_hello(Bytes body) {
  ClientHello hello;
  hello.sslv2 = true;
  ByteReader in(body);
  const auto version = in.u16();
  const auto specs_length = in.u16();
  const auto session_id_length = in.u16();
  const auto challenge_length = in.u16();
  if (!version) return truncated(hello);
  hello.legacy_version = *version;
  if (!specs_length || !session_id_length || !challenge_length) return truncated(hello);

  // "It cannot be zero and MUST be a multiple of the V2CipherSpec length (3)" (RFC 5246 E.2).
  if (!read_cipher_specs(in, *specs_length, hello.sslv2_cipher_specs, &hello.cipher_suites)) {
    return truncated(hello);
  }
  if (*specs_length % 3 != 0) fail(hello, HelloError::bad_length);
  if (hello.sslv2_cipher_specs.empty()) fail(hello, HelloError::no_cipher_suites);

  // SSL 2.0 §2.5: a session id is 16 bytes when there is one.
  Field session_id = field(in, *session_id_length);
  const Bytes id = session_id.bytes.rest();
  hello.session_id.assign(id.begin(), id.end());
  if (session_id.cut) return truncated(hello);
  if (id.size() != 0 && id.size() != 16) fail(hello, HelloError::bad_length);

  if (!read_nonce(in, *challenge_length, hello.random)) return truncated(hello);
  if (!valid_nonce_length(*challenge_length)) fail(hello, HelloError::bad_length);
  if (!in.empty()) fail(hello, HelloError::trailing_bytes);
  return hello;
}

// SERVER-HELLO: SESSION-ID-HIT, CERTIFICATE-TYPE (one byte each), SERVER-VERSION,
// CERTIFICATE-LENGTH, CIPHER-SPECS-LENGTH, CONNECTION-ID-LENGTH (two bytes each), then
// CERTIFICATE-DATA, CIPHER-SPECS-DATA, CONNECTION-ID-DATA. The connection id, the server's
// nonce, goes into `random` the way a client's challenge does.
ServerHello parse_sslv2_server_hello(Bytes body) {
  ServerHello hello;
  hello.sslv2 = true;
  ByteReader in(body);
  const auto session_id_hit = in.u8();
  const auto certificate_type = in.u8();
  const auto version = in.u16();
  const auto certificate_length = in.u16();
  const auto specs_length = in.u16();
  const auto connection_id_length = in.u16();
  if (!session_id_hit || !certificate_type || !version) return truncated(hello);
  hello.legacy_version = *version;
  if (!certificate_length || !specs_length || !connection_id_length) return truncated(hello);

  if (field(in, *certificate_length).cut) return truncated(hello);
  if (!read_cipher_specs(in, *specs_length, hello.sslv2_cipher_specs, nullptr)) {
    return truncated(hello);
  }
  if (*specs_length % 3 != 0) fail(hello, HelloError::bad_length);
  // SSL 2.0 §2.5: on a session-id hit the certificate and cipher specs are left out;
  // otherwise the server lists the specs the client may choose from.
  if (*session_id_hit == 0 && hello.sslv2_cipher_specs.empty()) {
    fail(hello, HelloError::no_cipher_suites);
  }

  if (!read_nonce(in, *connection_id_length, hello.random)) return truncated(hello);
  if (!valid_nonce_length(*connection_id_length)) fail(hello, HelloError::bad_length);
  if (!in.empty()) fail(hello, HelloError::trailing_bytes);
  return hello;
}

}  // namespace tlsglass::tls
