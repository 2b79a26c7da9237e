// Reading helpers shared by the ClientHello and ServerHello parsers (private to src/tls/).
#pragma once

#include <cstdint>
#include <optional>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/tls/hello.hpp"

namespace tlsglass::tls::hello_reading {

// draft-ietf-tls-tls13 numbered key_share 40 until -23 moved it to 51; TLS 1.3 draft captures
// carry it, and Wireshark decodes it as a key share too.
inline constexpr std::uint16_t kKeyShareDraft = 40;

// The first error found is the one reported; decoding goes on where the framing holds.
template <typename Hello>
void fail(Hello& hello, HelloError error, std::uint16_t extension = 0) {
  if (hello.error != HelloError::none) return;
  hello.error = error;
  hello.error_extension = extension;
}

// What is left in an extension after its last field (RFC 8446 §4.2: the body is exactly the
// structure its type defines).
inline HelloError finish(const ByteReader& data, HelloError found) {
  if (found == HelloError::none && !data.empty()) return HelloError::trailing_bytes;
  return found;
}

// A vector of the message itself (RFC 8446 §3.4). When the message ends inside it, the bytes
// that are there come back with `cut` set: a hello cut short by a capture or a buffering cap
// still shows its leading fields.
struct MessageVector {
  ByteReader items;
  bool cut;
};

inline std::optional<MessageVector> message_vector(ByteReader& in,
                                                   std::optional<std::uint16_t> length) {
  if (!length) return std::nullopt;
  const bool cut = *length > in.remaining();
  return MessageVector{ByteReader(*in.take(cut ? in.remaining() : *length)), cut};
}

}  // namespace tlsglass::tls::hello_reading
