// The captured ClientHello made ready to be sent again: found in the client's stream, framed
// into a chosen number of records, given another server_name. Every read goes through
// ByteReader; what is copied is bounded by RecordLimits.
#include "tlsglass/tls/hello_rewrite.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "tlsglass/tls/types.hpp"

namespace tlsglass::tls {

namespace {

constexpr std::size_t kTlsHeader = 5;        // RFC 8446 §5.1: type, legacy_record_version, length
constexpr std::size_t kSslv2Header = 2;      // SSL 2.0: 2-byte record header, high bit set
constexpr std::size_t kHandshakeHeader = 4;  // RFC 8446 §4: msg_type, uint24 length
constexpr std::uint8_t kClientHello = static_cast<std::uint8_t>(HandshakeType::client_hello);
constexpr std::uint8_t kHandshakeRecord = static_cast<std::uint8_t>(ContentType::handshake);

// The same acceptance as RecordReader's: a stream it would call not_tls is not_tls here.
bool valid_content_type(std::uint8_t type) { return type >= 20 && type <= 24; }
bool valid_record_version(std::uint16_t version) {
  return version >= version::ssl3 && version <= version::tls13;
}

std::uint32_t u24_at(const std::vector<std::uint8_t>& bytes) {
  return static_cast<std::uint32_t>(bytes[1]) << 16 | static_cast<std::uint32_t>(bytes[2]) << 8 |
         bytes[3];
}

void put_u16(std::vector<std::uint8_t>& out, std::size_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8 & 0xff));
  out.push_back(static_cast<std::uint8_t>(value & 0xff));
}

void put_u24(std::vector<std::uint8_t>& out, std::size_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 16 & 0xff));
  put_u16(out, value & 0xffff);
}

void append(std::vector<std::uint8_t>& out, Bytes bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

// SSL 2.0 record header: the opening record of a backwards-compatible hello (RFC 5246
// appendix E.2). Only its extent is read; its contents are not TLS handshake bytes.
ReassembledClientHello sslv2_hello(Bytes stream) {
  ReassembledClientHello out;
  ByteReader in(stream);
  const auto length = in.u16();
  if (!length) {
    out.error = HelloRewriteError::incomplete;
    return out;
  }
  const std::size_t payload = *length & 0x7fff;
  const auto body = in.take(payload);
  if (!body) {
    out.error = HelloRewriteError::incomplete;
    return out;
  }
  // Message type 1 is CLIENT-HELLO (SSL 2.0 draft); anything else is not a hello.
  if (body->empty() || (*body)[0] != 1) {
    out.error = HelloRewriteError::not_tls;
    return out;
  }
  out.error = HelloRewriteError::sslv2_hello;
  out.records = 1;
  out.record_version = version::ssl2;
  out.stream_end = kSslv2Header + payload;
  return out;
}

}  // namespace

std::string_view hello_rewrite_error_name(HelloRewriteError error) {
  constexpr std::array<std::string_view, 10> kNames{
      "none",          "not_tls",         "sslv2_hello",       "not_client_hello",
      "incomplete",    "record_too_long", "message_too_large", "malformed_hello",
      "bad_host_name", "too_large",
  };
  const auto index = static_cast<std::size_t>(error);
  return index < kNames.size() ? kNames[index] : std::string_view("unknown");
}

ReassembledClientHello client_hello_message(Bytes client_stream, RecordLimits limits) {
  // RecordReader takes a first byte with the high bit set as an SSLv2-format record.
  if (!client_stream.empty() && (client_stream[0] & 0x80)) return sslv2_hello(client_stream);

  ReassembledClientHello out;
  auto failed = [&out](HelloRewriteError error) {
    out.message.clear();
    out.error = error;
    return out;
  };
  ByteReader in(client_stream);
  bool first_record = true;
  // Each pass takes one whole record (at least 5 bytes), so the loop ends with the stream.
  while (true) {
    // Each field is judged as soon as it is there: garbage is not_tls even when short.
    const HelloRewriteError bad_header =
        first_record ? HelloRewriteError::not_tls : HelloRewriteError::not_client_hello;
    const auto type = in.u8();
    if (type && !valid_content_type(*type)) return failed(bad_header);
    const auto version = type ? in.u16() : std::nullopt;
    if (version && !valid_record_version(*version)) return failed(bad_header);
    const auto length = version ? in.u16() : std::nullopt;
    if (!length) return failed(HelloRewriteError::incomplete);
    // RFC 8446 §5.1: nothing but handshake records may come inside or before the hello.
    if (*type != kHandshakeRecord) return failed(HelloRewriteError::not_client_hello);
    if (*length > limits.max_record_length) return failed(HelloRewriteError::record_too_long);
    const auto payload = in.take(*length);
    if (!payload) return failed(HelloRewriteError::incomplete);
    first_record = false;
    if (payload->empty()) continue;  // tolerated, as RecordReader does; it carries nothing

    if (out.records++ == 0) out.record_version = *version;
    ByteReader bytes(*payload);
    // The 4-byte header first (it may itself be split across records), then the body.
    if (out.message.size() < kHandshakeHeader) {
      const std::size_t want = std::min(kHandshakeHeader - out.message.size(), bytes.remaining());
      append(out.message, *bytes.take(want));
      if (out.message.size() < kHandshakeHeader) continue;
      if (out.message[0] != kClientHello) return failed(HelloRewriteError::not_client_hello);
      if (u24_at(out.message) > limits.max_handshake_message) {
        return failed(HelloRewriteError::message_too_large);
      }
    }
    const std::size_t total = kHandshakeHeader + u24_at(out.message);
    const std::size_t want = std::min(total - out.message.size(), bytes.remaining());
    append(out.message, *bytes.take(want));
    if (out.message.size() == total) {
      out.trailing_bytes = bytes.remaining();
      out.stream_end = in.position();
      return out;
    }
  }
}

std::optional<std::size_t> client_hello_end(Bytes client_stream, RecordLimits limits) {
  const ReassembledClientHello hello = client_hello_message(client_stream, limits);
  if (!hello.ok()) return std::nullopt;
  return hello.stream_end;
}

std::size_t handshake_record_count(std::size_t message_size, std::size_t requested) {
  if (message_size == 0) return 0;
  const std::size_t fewest = (message_size + kMaxPlaintextRecord - 1) / kMaxPlaintextRecord;
  const std::size_t most = std::min(message_size, kMaxHandshakeRecords);
  return std::max(fewest, std::clamp<std::size_t>(requested, 1, most));
}

std::vector<std::uint8_t> frame_handshake(Bytes message, std::size_t requested_records,
                                          std::uint16_t record_version) {
  const std::size_t count = handshake_record_count(message.size(), requested_records);
  std::vector<std::uint8_t> out;
  if (count == 0) return out;
  out.reserve(message.size() + count * kTlsHeader);
  const std::size_t base = message.size() / count;
  const std::size_t larger = message.size() % count;  // records that carry base + 1 bytes
  std::size_t pos = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t size = base + (i < larger ? 1 : 0);
    out.push_back(kHandshakeRecord);
    put_u16(out, record_version);
    put_u16(out, size);
    append(out, message.subspan(pos, size));
    pos += size;
  }
  return out;
}

namespace {

// Where one extension lies in the hello's body.
struct ExtensionSpan {
  std::uint16_t type = 0;
  std::size_t begin = 0, end = 0;  // offsets in the body, type field to end of data
  Bytes data;
};

// The ClientHello body (RFC 8446 §4.1.2) cut where the rewrite needs it: the fields before the
// extensions, and each extension. Nothing inside an extension is interpreted.
struct HelloLayout {
  std::size_t fields_end = 0;  // body offset where the extensions block (or the body) ends
  bool has_extensions_block = false;
  std::vector<ExtensionSpan> extensions;
};

std::optional<HelloLayout> layout_of(Bytes body) {
  HelloLayout layout;
  ByteReader in(body);
  // legacy_version, random, legacy_session_id<0..32>, cipher_suites<2..2^16-2>,
  // legacy_compression_methods<1..2^8-1>.
  if (!in.skip(2 + 32) || !in.block8() || !in.block16() || !in.block8()) return std::nullopt;
  layout.fields_end = in.position();
  // RFC 5246 §7.4.1.2: the extensions block may be absent altogether.
  if (in.empty()) return layout;
  layout.has_extensions_block = true;
  auto block = in.block16();
  if (!block || !in.empty()) return std::nullopt;
  const std::size_t block_start = layout.fields_end + 2;
  // Each extension takes at least 4 bytes: this bounds the list.
  layout.extensions.reserve(block->remaining() / 4);
  while (!block->empty()) {
    ExtensionSpan span;
    span.begin = block_start + block->position();
    const auto type = block->u16();
    const auto data = type ? block->block16() : std::nullopt;
    if (!data) return std::nullopt;
    span.type = *type;
    span.data = data->rest();
    span.end = block_start + block->position();
    layout.extensions.push_back(span);
  }
  return layout;
}

// RFC 6066 §3: extension_data is a ServerNameList server_name_list<1..2^16-1> holding one
// ServerName { NameType name_type = host_name (0); HostName host_name<1..2^16-1>; }.
std::vector<std::uint8_t> server_name_extension(std::string_view host_name) {
  std::vector<std::uint8_t> out;
  out.reserve(host_name.size() + 9);
  put_u16(out, ext::server_name);
  put_u16(out, host_name.size() + 5);  // extension_data: list length, type, name length, name
  put_u16(out, host_name.size() + 3);  // server_name_list: type, name length, name
  out.push_back(0);                    // NameType host_name
  put_u16(out, host_name.size());
  out.insert(out.end(), host_name.begin(), host_name.end());
  return out;
}

}  // namespace

RewrittenClientHello with_server_name(Bytes message, std::optional<std::string_view> host_name) {
  RewrittenClientHello out;
  auto failed = [&out](HelloRewriteError error) {
    out.message.clear();
    out.error = error;
    return out;
  };
  if (host_name && host_name->empty()) return failed(HelloRewriteError::bad_host_name);
  // The largest name whose extension_data (name + 5) still fits its uint16 length.
  if (host_name && host_name->size() > 0xffff - 5) return failed(HelloRewriteError::too_large);

  ByteReader in(message);
  const auto type = in.u8();
  if (!type) return failed(HelloRewriteError::incomplete);
  if (*type != kClientHello) return failed(HelloRewriteError::not_client_hello);
  const auto length = in.u24();
  if (!length || *length > in.remaining()) return failed(HelloRewriteError::incomplete);
  if (*length < in.remaining()) return failed(HelloRewriteError::malformed_hello);
  const Bytes body = in.rest();
  const auto layout = layout_of(body);
  if (!layout) return failed(HelloRewriteError::malformed_hello);

  const ExtensionSpan* old_name = nullptr;
  for (const ExtensionSpan& extension : layout->extensions) {
    if (extension.type != ext::server_name) continue;
    // RFC 8446 §4.2: one extension per type; which one a server reads is anyone's guess.
    if (old_name) return failed(HelloRewriteError::malformed_hello);
    old_name = &extension;
  }
  if (!old_name && !host_name) {  // nothing to remove: the hello as it was
    out.message.assign(message.begin(), message.end());
    return out;
  }

  const std::vector<std::uint8_t> new_name =
      host_name ? server_name_extension(*host_name) : std::vector<std::uint8_t>{};
  // The extensions as they will be: the old list with the server_name swapped, dropped, or
  // (absent before) put first.
  std::vector<std::uint8_t> extensions;
  if (!old_name) extensions = new_name;
  for (const ExtensionSpan& extension : layout->extensions) {
    if (&extension == old_name) {
      append(extensions, new_name);
    } else {
      append(extensions, body.subspan(extension.begin, extension.end - extension.begin));
    }
    if (extension.type == ext::pre_shared_key) out.stale_psk_binders = true;
    // ECHClientHello type outer (0); an inner one (1) never goes on the wire in clear.
    if (extension.type == ext::encrypted_client_hello && !extension.data.empty() &&
        extension.data[0] == 0) {
      out.stale_ech = true;
    }
  }
  if (extensions.size() > 0xffff) return failed(HelloRewriteError::too_large);

  const std::size_t body_size = layout->fields_end + 2 + extensions.size();
  out.message.reserve(kHandshakeHeader + body_size);
  out.message.push_back(kClientHello);
  put_u24(out.message, body_size);
  append(out.message, body.first(layout->fields_end));
  put_u16(out.message, extensions.size());
  append(out.message, extensions);
  if (std::equal(out.message.begin(), out.message.end(), message.begin(), message.end())) {
    out.stale_psk_binders = out.stale_ech = false;  // the same name again: nothing changed
  }
  return out;
}

}  // namespace tlsglass::tls
