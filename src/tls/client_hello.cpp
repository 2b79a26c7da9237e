// ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) and the extensions a client sends.
// Every read goes through ByteReader. The first error found is the one reported; decoding goes
// on wherever the framing still holds, so that a broken hello still shows what it offered.
#include <algorithm>
#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/types.hpp"
#include "hello_reading.hpp"

namespace tlsglass::tls {
namespace {

using namespace hello_reading;



// Keeps the first problem a decoder meets while it goes on decoding.
void note(HelloError& found, HelloError error) {
  if (found == HelloError::none) found = error;
}


std::string text(const ByteReader& bytes) {
  const Bytes raw = bytes.rest();
  return std::string(raw.begin(), raw.end());
}

// ---- The fields before the extensions ----



// legacy_version, random, legacy_session_id<0..32>, cipher_suites<2..2^16-2>,
// legacy_compression_methods<1..2^8-1>. False when the message ends among them.
bool read_fixed_fields(ByteReader& in, ClientHello& hello) {
  const auto version = in.u16();
  if (!version) return false;
  hello.legacy_version = *version;

  const auto random = in.take(hello.random.size());
  if (!random) return false;
  std::copy(random->begin(), random->end(), hello.random.begin());

  auto session_id = message_vector(in, in.u8());
  if (!session_id) return false;
  const Bytes id = session_id->items.rest();
  hello.session_id.assign(id.begin(), id.end());
  if (session_id->cut) return false;
  if (id.size() > 32) fail(hello, HelloError::bad_length);

  auto suites = message_vector(in, in.u16());
  if (!suites) return false;
  hello.cipher_suites.reserve(suites->items.remaining() / 2);
  while (suites->items.remaining() >= 2) hello.cipher_suites.push_back(*suites->items.u16());
  if (suites->cut) return false;
  if (!suites->items.empty()) fail(hello, HelloError::bad_length);  // an odd byte count
  if (hello.cipher_suites.empty()) fail(hello, HelloError::no_cipher_suites);

  auto compression = message_vector(in, in.u8());
  if (!compression) return false;
  const Bytes methods = compression->items.rest();
  hello.compression_methods.assign(methods.begin(), methods.end());
  if (compression->cut) return false;
  if (methods.empty()) fail(hello, HelloError::bad_length);  // at least null (0) is offered
  return true;
}

// ---- Extension bodies ----
// Inside an extension, a field that runs past the body is bad_length (the extension's length
// disagrees with its content), a value the RFC forbids is bad_extension, and bytes after the
// last field are trailing_bytes.

enum class Prefix { u8, u16 };

std::optional<ByteReader> vector(ByteReader& data, Prefix prefix) {
  return prefix == Prefix::u8 ? data.block8() : data.block16();
}

// A vector of 16-bit code points that is the whole body; every such list has an entry.
HelloError code_points(ByteReader& data, Prefix prefix, std::vector<std::uint16_t>& out) {
  auto list = vector(data, prefix);
  if (!list) return HelloError::bad_length;
  const std::size_t before = out.size();
  out.reserve(before + list->remaining() / 2);
  while (list->remaining() >= 2) out.push_back(*list->u16());
  if (!list->empty()) return HelloError::bad_length;  // an odd byte count
  return finish(data, out.size() == before ? HelloError::bad_extension : HelloError::none);
}

// A vector<1..2^8-1> of one-byte values that is the whole body.
HelloError octets(ByteReader& data, std::vector<std::uint8_t>& out) {
  auto list = data.block8();
  if (!list) return HelloError::bad_length;
  const Bytes values = list->rest();
  out.assign(values.begin(), values.end());
  return finish(data, values.empty() ? HelloError::bad_extension : HelloError::none);
}

// RFC 6066 §3: ServerName server_name_list<1..2^16-1>, each a NameType and, for host_name (0),
// a HostName<1..2^16-1>. No other NameType was ever defined; they are read the same way.
HelloError server_name(ByteReader& data, ClientHello& hello) {
  auto list = data.block16();
  if (!list) return HelloError::bad_length;
  HelloError found = list->empty() ? HelloError::bad_extension : HelloError::none;
  while (!list->empty()) {
    const auto type = list->u8();
    const auto name = type ? list->block16() : std::nullopt;
    if (!name) return HelloError::bad_length;
    if (*type != 0 || hello.server_name) continue;  // the first host_name is the one used
    hello.server_name = text(*name);
    if (name->empty()) note(found, HelloError::bad_extension);
  }
  return finish(data, found);
}

// RFC 8446 §4.2.8: KeyShareEntry client_shares<0..2^16-1>, each a NamedGroup and
// key_exchange<1..2^16-1>; at most one share per group.
HelloError key_share(ByteReader& data, ClientHello& hello) {
  auto shares = data.block16();
  if (!shares) return HelloError::bad_length;
  const std::size_t first = hello.key_shares.size();
  HelloError found = HelloError::none;
  while (!shares->empty()) {
    const auto group = shares->u16();
    const auto key = group ? shares->block16() : std::nullopt;
    if (!key) return HelloError::bad_length;
    const auto begin = hello.key_shares.begin() + static_cast<std::ptrdiff_t>(first);
    if (key->empty() || std::any_of(begin, hello.key_shares.end(),
                                    [&](const KeyShareEntry& e) { return e.group == *group; })) {
      note(found, HelloError::bad_extension);
    }
    hello.key_shares.push_back({*group, static_cast<std::uint16_t>(key->remaining())});
  }
  return finish(data, found);
}

// RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>, each opaque<1..2^8-1>.
HelloError alpn(ByteReader& data, ClientHello& hello) {
  auto list = data.block16();
  if (!list) return HelloError::bad_length;
  HelloError found = list->empty() ? HelloError::bad_extension : HelloError::none;
  while (!list->empty()) {
    const auto name = list->block8();
    if (!name) return HelloError::bad_length;
    hello.alpn.push_back(text(*name));
    if (name->empty()) note(found, HelloError::bad_extension);
  }
  return finish(data, found);
}

// RFC 8446 §4.2.11: OfferedPsks { PskIdentity identities<7..2^16-1>; PskBinderEntry
// binders<33..2^16-1>; }, an identity being opaque<1..2^16-1> plus a uint32 ticket age and a
// binder opaque<32..255>, one binder per identity.
HelloError pre_shared_key(ByteReader& data, ClientHello& hello) {
  auto identities = data.block16();
  if (!identities) return HelloError::bad_length;
  HelloError found = HelloError::none;
  std::uint16_t count = 0;
  while (!identities->empty()) {
    const auto identity = identities->block16();
    if (!identity || !identities->u32()) return HelloError::bad_length;
    if (identity->empty()) note(found, HelloError::bad_extension);
    hello.psk_identities = ++count;
  }
  auto binders = data.block16();
  if (!binders) return HelloError::bad_length;
  std::uint16_t binder_count = 0;
  while (!binders->empty()) {
    const auto binder = binders->block8();
    if (!binder) return HelloError::bad_length;
    if (binder->remaining() < 32) note(found, HelloError::bad_extension);
    ++binder_count;
  }
  if (count == 0 || binder_count != count) note(found, HelloError::bad_extension);
  return finish(data, found);
}

// RFC 6066 §8: CertificateStatusRequest { CertificateStatusType status_type; ocsp (1):
// ResponderID responder_id_list<0..2^16-1>; Extensions request_extensions<0..2^16-1>; }.
HelloError status_request(ByteReader& data, ClientHello& hello) {
  const auto type = data.u8();
  if (!type) return HelloError::bad_length;
  hello.status_request_type = *type;
  if (*type != 1) return HelloError::none;  // no other type's body is defined
  if (!data.block16() || !data.block16()) return HelloError::bad_length;
  return finish(data, HelloError::none);
}

// RFC 8449 §4: uint16 RecordSizeLimit; below 64 is an illegal_parameter.
HelloError record_size_limit(ByteReader& data, ClientHello& hello) {
  const auto limit = data.u16();
  if (!limit) return HelloError::bad_length;
  hello.record_size_limit = *limit;
  return finish(data, *limit < 64 ? HelloError::bad_extension : HelloError::none);
}

// RFC 7685 §3: the body is padding and "MUST" be all zero bytes.
HelloError padding(ByteReader& data, ClientHello& hello) {
  const Bytes zeros = data.rest();
  hello.padding_length = static_cast<std::uint16_t>(zeros.size());
  const bool all_zero = std::all_of(zeros.begin(), zeros.end(), [](auto b) { return b == 0; });
  return all_zero ? HelloError::none : HelloError::bad_extension;
}

// RFC 5746 §3.2: opaque renegotiated_connection<0..255> (empty on a first handshake).
HelloError renegotiation_info(ByteReader& data, ClientHello& hello) {
  const auto connection = data.block8();
  if (!connection) return HelloError::bad_length;
  hello.renegotiation_info_length = static_cast<std::uint16_t>(connection->remaining());
  return finish(data, HelloError::none);
}

// draft-ietf-tls-esni-22 §5: ECHClientHello { ECHClientHelloType type; outer (0):
// HpkeSymmetricCipherSuite cipher_suite (kdf_id, aead_id); uint8 config_id; opaque
// enc<0..2^16-1>; opaque payload<1..2^16-1>; inner (1): empty }. A GREASE ECH (RFC draft §6.2)
// is an outer hello too: on the wire the two cannot be told apart.
HelloError encrypted_client_hello(ByteReader& data, ClientHello& hello) {
  const auto type = data.u8();
  if (!type) return HelloError::bad_length;
  if (*type == 1) return finish(data, HelloError::none);
  if (*type != 0) return HelloError::bad_extension;
  hello.ech = true;
  if (!data.u16() || !data.u16() || !data.u8() || !data.block16()) return HelloError::bad_length;
  const auto payload = data.block16();
  if (!payload) return HelloError::bad_length;
  return finish(data, payload->empty() ? HelloError::bad_extension : HelloError::none);
}

// Extensions whose body is empty in a ClientHello (RFC 7627 §5.1, RFC 7366 §2, RFC 8446
// §4.2.10).
HelloError empty(ByteReader& data, ClientHello&) { return finish(data, HelloError::none); }

using Decoder = HelloError (*)(ByteReader&, ClientHello&);
struct ExtensionDecoder {
  std::uint16_t type;
  Decoder decode;
};

// Sorted by code point. Extensions not listed are recorded in `extensions` only.
constexpr std::array<ExtensionDecoder, 21> kDecoders{{
    {ext::server_name, server_name},
    {ext::status_request, status_request},
    {ext::supported_groups,  // RFC 8446 §4.2.7: NamedGroup named_group_list<2..2^16-1>
     [](ByteReader& d, ClientHello& h) { return code_points(d, Prefix::u16, h.supported_groups); }},
    {ext::ec_point_formats,  // RFC 8422 §5.1.2: ECPointFormat ec_point_format_list<1..2^8-1>
     [](ByteReader& d, ClientHello& h) { return octets(d, h.ec_point_formats); }},
    {ext::signature_algorithms,  // RFC 8446 §4.2.3: SignatureScheme list<2..2^16-2>
     [](ByteReader& d, ClientHello& h) {
       return code_points(d, Prefix::u16, h.signature_algorithms);
     }},
    {ext::alpn, alpn},
    {ext::padding, padding},
    {ext::encrypt_then_mac, empty},
    {ext::extended_master_secret, empty},
    {ext::compress_certificate,  // RFC 8879 §3: CertificateCompressionAlgorithm list<2..2^8-2>
     [](ByteReader& d, ClientHello& h) {
       return code_points(d, Prefix::u8, h.compress_certificate_algorithms);
     }},
    {ext::record_size_limit, record_size_limit},
    {ext::session_ticket,  // RFC 5077 §3.2: the ticket itself, empty to ask for a new one
     [](ByteReader& d, ClientHello& h) {
       h.session_ticket_length = static_cast<std::uint16_t>(d.remaining());
       return HelloError::none;
     }},
    {kKeyShareDraft, key_share},
    {ext::pre_shared_key, pre_shared_key},
    {ext::early_data, empty},
    {ext::supported_versions,  // RFC 8446 §4.2.1: ProtocolVersion versions<2..254>
     [](ByteReader& d, ClientHello& h) {
       return code_points(d, Prefix::u8, h.supported_versions);
     }},
    {ext::psk_key_exchange_modes,  // RFC 8446 §4.2.9: PskKeyExchangeMode ke_modes<1..255>
     [](ByteReader& d, ClientHello& h) { return octets(d, h.psk_key_exchange_modes); }},
    {ext::signature_algorithms_cert,  // RFC 8446 §4.2.3: as signature_algorithms
     [](ByteReader& d, ClientHello& h) {
       return code_points(d, Prefix::u16, h.signature_algorithms_cert);
     }},
    {ext::key_share, key_share},
    {ext::encrypted_client_hello, encrypted_client_hello},
    {ext::renegotiation_info, renegotiation_info},
}};
// Strictly ascending: sorted for the binary search, and one decoder per type.
static_assert(std::adjacent_find(kDecoders.begin(), kDecoders.end(),
                                 [](const auto& a, const auto& b) { return a.type >= b.type; }) ==
              kDecoders.end());

HelloError decode_extension(std::uint16_t type, ByteReader data, ClientHello& hello) {
  const auto it =
      std::lower_bound(kDecoders.begin(), kDecoders.end(), type,
                       [](const ExtensionDecoder& d, std::uint16_t t) { return d.type < t; });
  if (it == kDecoders.end() || it->type != type) return HelloError::none;
  return it->decode(data, hello);
}

// The extension types met so far. A real hello has a few dozen: a linear scan of a small
// array, no allocation. A hostile one may have thousands (a 64 KiB message holds 16,384): past
// the array a bitset of every type keeps the check constant-time.
class ExtensionTypesSeen {
 public:
  // False when `type` was seen before.
  bool insert(std::uint16_t type) {
    if (all_) {
      if (all_->test(type)) return false;
      all_->set(type);
      return true;
    }
    for (std::size_t i = 0; i < count_; ++i)
      if (few_[i] == type) return false;
    if (count_ < few_.size()) {
      few_[count_++] = type;
      return true;
    }
    all_ = std::make_unique<std::bitset<65536>>();
    for (auto seen : few_) all_->set(seen);
    all_->set(type);
    return true;
  }

 private:
  std::array<std::uint16_t, 48> few_{};
  std::size_t count_ = 0;
  std::unique_ptr<std::bitset<65536>> all_;
};

// Extension extensions<8..2^16-1> (RFC 8446 §4.1.2), each a type and opaque data<0..2^16-1>.
void read_extensions(ByteReader& in, ClientHello& hello) {
  // RFC 5246 §7.4.1.2: the block may be absent (SSL 3.0 and early TLS clients end here).
  if (in.empty()) return;
  hello.has_extensions_block = true;
  auto block = message_vector(in, in.u16());
  if (!block) return fail(hello, HelloError::truncated);
  if (block->cut) fail(hello, HelloError::truncated);
  // An extension that runs past the block: the message was cut, or a length is wrong.
  const HelloError overrun = block->cut ? HelloError::truncated : HelloError::bad_length;
  ByteReader& list = block->items;
  // Each extension takes at least 4 bytes: this bounds the list, and one allocation serves.
  hello.extensions.reserve(std::min<std::size_t>(list.remaining() / 4, 64));
  ExtensionTypesSeen seen;
  bool after_psk = false;
  while (!list.empty()) {
    const auto type = list.u16();
    if (!type) return fail(hello, overrun);
    hello.extensions.push_back(*type);
    const auto data = list.block16();
    if (!data) return fail(hello, overrun, *type);
    // RFC 8446 §4.2.11: pre_shared_key MUST be the last extension of the ClientHello.
    if (after_psk) fail(hello, HelloError::bad_extension, ext::pre_shared_key);
    after_psk = after_psk || *type == ext::pre_shared_key;
    // RFC 8446 §4.2: no two extensions of one type, GREASE included (BoringSSL keeps its two
    // GREASE extensions distinct for this reason). Only the first one is decoded.
    if (!seen.insert(*type)) {
      fail(hello, HelloError::duplicate_extension, *type);
      continue;
    }
    const HelloError error = decode_extension(*type, *data, hello);
    if (error != HelloError::none) fail(hello, error, *type);
  }
  if (!in.empty()) fail(hello, HelloError::trailing_bytes);
}

}  // namespace

std::string_view hello_error_name(HelloError error) {
  constexpr std::array<std::string_view, 7> kNames{
      "none",          "truncated",        "trailing_bytes", "bad_length", "duplicate_extension",
      "bad_extension", "no_cipher_suites",
  };
  const auto index = static_cast<std::size_t>(error);
  return index < kNames.size() ? kNames[index] : std::string_view("unknown");
}

bool ClientHello::has_extension(std::uint16_t type) const {
  return std::find(extensions.begin(), extensions.end(), type) != extensions.end();
}

ClientHello parse_client_hello(Bytes body) {
  ClientHello hello;
  ByteReader in(body);
  if (!read_fixed_fields(in, hello)) {
    fail(hello, HelloError::truncated);
    return hello;
  }
  read_extensions(in, hello);
  return hello;
}

}  // namespace tlsglass::tls
