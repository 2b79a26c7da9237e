// ServerHello and HelloRetryRequest (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3) and the extensions a
// server answers with. As for the ClientHello: every read goes through ByteReader, the first
// error is the one reported, and decoding goes on wherever the framing still holds.
#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/types.hpp"
#include "hello_reading.hpp"

namespace tlsglass::tls {
namespace {

using namespace hello_reading;

// RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello whose random is SHA-256 of
// "HelloRetryRequest".
constexpr std::array<std::uint8_t, 32> kHelloRetryRequestRandom{
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};


// draft-ietf-tls-tls13 up to -21 put the version in ServerHello.version, 0x0304 as written or
// 0x7fNN for draft NN as implementations sent it, and had neither legacy_session_id_echo nor
// legacy_compression_method; -22 brought both back for middlebox compatibility, and RFC 8446
// §4.1.3 fixes legacy_version at 0x0303, so 0x0304 there can only be an early draft.
constexpr bool is_early_tls13_draft(std::uint16_t version) {
  return version == version::tls13 || ((version >> 8) == 0x7f && (version & 0xff) < 22);
}





// legacy_version, random, legacy_session_id_echo<0..32>, cipher_suite,
// legacy_compression_method. False when the message ends among them.
bool read_fixed_fields(ByteReader& in, ServerHello& hello) {
  const auto version = in.u16();
  if (!version) return false;
  hello.legacy_version = *version;

  const auto random = in.take(hello.random.size());
  if (!random) return false;
  std::copy(random->begin(), random->end(), hello.random.begin());
  hello.hello_retry_request = hello.random == kHelloRetryRequestRandom;

  const bool early_draft = is_early_tls13_draft(*version);
  if (!early_draft) {
    auto session_id = message_vector(in, in.u8());
    if (!session_id) return false;
    const Bytes id = session_id->items.rest();
    hello.session_id.assign(id.begin(), id.end());
    if (session_id->cut) return false;
    if (id.size() > 32) fail(hello, HelloError::bad_length);
  }

  const auto suite = in.u16();
  if (!suite) return false;
  hello.cipher_suite = *suite;

  if (!early_draft) {
    const auto compression = in.u8();
    if (!compression) return false;
    hello.compression_method = *compression;
  }
  return true;
}

// ---- Extension bodies (bad_length: a field runs past the body; bad_extension: a value the
// RFC forbids; trailing_bytes: bytes after the last field) ----

// RFC 8446 §4.2.8: KeyShareServerHello { KeyShareEntry server_share; } with key_exchange
// <1..2^16-1>; in a HelloRetryRequest, KeyShareHelloRetryRequest { NamedGroup selected_group; }.
HelloError key_share(ByteReader& data, ServerHello& hello) {
  const auto group = data.u16();
  if (!group) return HelloError::bad_length;
  hello.key_share_group = *group;
  if (hello.hello_retry_request) return finish(data, HelloError::none);
  const auto key = data.block16();
  if (!key) return HelloError::bad_length;
  return finish(data, key->empty() ? HelloError::bad_extension : HelloError::none);
}

// RFC 7301 §3.1: the server's ProtocolNameList "MUST contain exactly one" ProtocolName.
HelloError alpn(ByteReader& data, ServerHello& hello) {
  auto list = data.block16();
  if (!list) return HelloError::bad_length;
  const auto name = list->block8();
  if (!name) return HelloError::bad_length;
  const Bytes raw = name->rest();
  hello.alpn = std::string(raw.begin(), raw.end());
  const bool one_name = !raw.empty() && list->empty();
  return finish(data, one_name ? HelloError::none : HelloError::bad_extension);
}

// RFC 8446 §4.2.1: the server's supported_versions is one ProtocolVersion selected_version.
HelloError supported_versions(ByteReader& data, ServerHello& hello) {
  const auto version = data.u16();
  if (!version) return HelloError::bad_length;
  hello.selected_version = *version;
  return finish(data, HelloError::none);
}

// RFC 8446 §4.2.11: the server's pre_shared_key is uint16 selected_identity.
HelloError pre_shared_key(ByteReader& data, ServerHello& hello) {
  const auto identity = data.u16();
  if (!identity) return HelloError::bad_length;
  hello.selected_psk = *identity;
  return finish(data, HelloError::none);
}

// RFC 8422 §5.2: ECPointFormat ec_point_format_list<1..2^8-1>.
HelloError ec_point_formats(ByteReader& data, ServerHello& hello) {
  const auto list = data.block8();
  if (!list) return HelloError::bad_length;
  const Bytes formats = list->rest();
  hello.ec_point_formats.assign(formats.begin(), formats.end());
  return finish(data, formats.empty() ? HelloError::bad_extension : HelloError::none);
}

// RFC 7627 §5.2: an empty extension_data.
HelloError extended_master_secret(ByteReader& data, ServerHello& hello) {
  hello.extended_master_secret = true;
  return finish(data, HelloError::none);
}

// RFC 5746 §3.2: opaque renegotiated_connection<0..255>.
HelloError renegotiation_info(ByteReader& data, ServerHello&) {
  if (!data.block8()) return HelloError::bad_length;
  return finish(data, HelloError::none);
}

// Answered with an empty body: server_name (RFC 6066 §3), status_request (RFC 6066 §8),
// encrypt_then_mac (RFC 7366 §2), session_ticket (RFC 5077 §3.2).
HelloError empty(ByteReader& data, ServerHello&) { return finish(data, HelloError::none); }

using Decoder = HelloError (*)(ByteReader&, ServerHello&);
struct ExtensionDecoder {
  std::uint16_t type;
  Decoder decode;
};

// Sorted by code point. Extensions not listed are recorded in `extensions` only.
constexpr std::array<ExtensionDecoder, 12> kDecoders{{
    {ext::server_name, empty},
    {ext::status_request, empty},
    {ext::ec_point_formats, ec_point_formats},
    {ext::alpn, alpn},
    {ext::encrypt_then_mac, empty},
    {ext::extended_master_secret, extended_master_secret},
    {ext::session_ticket, empty},
    {kKeyShareDraft, key_share},
    {ext::pre_shared_key, pre_shared_key},
    {ext::supported_versions, supported_versions},
    {ext::key_share, key_share},
    {ext::renegotiation_info, renegotiation_info},
}};
// Strictly ascending: sorted for the binary search, and one decoder per type.
static_assert(std::adjacent_find(kDecoders.begin(), kDecoders.end(),
                                 [](const auto& a, const auto& b) { return a.type >= b.type; }) ==
              kDecoders.end());

HelloError decode_extension(std::uint16_t type, ByteReader data, ServerHello& hello) {
  const auto it =
      std::lower_bound(kDecoders.begin(), kDecoders.end(), type,
                       [](const ExtensionDecoder& d, std::uint16_t t) { return d.type < t; });
  if (it == kDecoders.end() || it->type != type) return HelloError::none;
  return it->decode(data, hello);
}

// Extension extensions<6..2^16-1> (RFC 8446 §4.1.3), each a type and opaque data<0..2^16-1>.
void read_extensions(ByteReader& in, ServerHello& hello) {
  // RFC 5246 §7.4.1.3: the block may be absent.
  if (in.empty()) return;
  hello.has_extensions_block = true;
  auto block = message_vector(in, in.u16());
  if (!block) return fail(hello, HelloError::truncated);
  if (block->cut) fail(hello, HelloError::truncated);
  const HelloError overrun = block->cut ? HelloError::truncated : HelloError::bad_length;
  ByteReader& list = block->items;
  std::bitset<65536> seen;
  while (!list.empty()) {
    const auto type = list.u16();
    if (!type) return fail(hello, overrun);
    hello.extensions.push_back(*type);
    const auto data = list.block16();
    if (!data) return fail(hello, overrun, *type);
    // RFC 8446 §4.2: no two extensions of one type; only the first one is decoded.
    if (seen.test(*type)) {
      fail(hello, HelloError::duplicate_extension, *type);
      continue;
    }
    seen.set(*type);
    const HelloError error = decode_extension(*type, *data, hello);
    if (error != HelloError::none) fail(hello, error, *type);
  }
  if (!in.empty()) fail(hello, HelloError::trailing_bytes);
}

}  // namespace

std::uint16_t ServerHello::negotiated_version() const {
  if (sslv2) return version::ssl2;
  // RFC 8446 §4.2.1: a TLS 1.3 server names its version in supported_versions only.
  return selected_version.value_or(legacy_version);
}

bool ServerHello::has_extension(std::uint16_t type) const {
  return std::find(extensions.begin(), extensions.end(), type) != extensions.end();
}

ServerHello parse_server_hello(Bytes body) {
  ServerHello hello;
  ByteReader in(body);
  if (!read_fixed_fields(in, hello)) {
    fail(hello, HelloError::truncated);
    return hello;
  }
  read_extensions(in, hello);
  return hello;
}

}  // namespace tlsglass::tls
