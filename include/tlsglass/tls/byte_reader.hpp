// A bounds-checked cursor over a byte span: every read checks the bytes are there, and
// length-prefixed blocks open a nested reader whose end is checked against the outer end
// before anything inside is read (the picotls idiom).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace tlsglass::tls {

using Bytes = std::span<const std::uint8_t>;

class ByteReader {
 public:
  explicit ByteReader(Bytes bytes) : bytes_(bytes) {}

  std::size_t remaining() const { return bytes_.size() - pos_; }
  std::size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  Bytes rest() const { return bytes_.subspan(pos_); }

  std::optional<std::uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return bytes_[pos_++];
  }
  std::optional<std::uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    std::uint16_t v = static_cast<std::uint16_t>(bytes_[pos_] << 8 | bytes_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<std::uint32_t> u24() {
    if (remaining() < 3) return std::nullopt;
    std::uint32_t v = static_cast<std::uint32_t>(bytes_[pos_]) << 16 |
                      static_cast<std::uint32_t>(bytes_[pos_ + 1]) << 8 | bytes_[pos_ + 2];
    pos_ += 3;
    return v;
  }
  std::optional<std::uint32_t> u32() {
    auto hi = u16();
    if (!hi) return std::nullopt;
    auto lo = u16();
    if (!lo) return std::nullopt;
    return static_cast<std::uint32_t>(*hi) << 16 | *lo;
  }
  std::optional<Bytes> take(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    Bytes out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  bool skip(std::size_t n) { return take(n).has_value(); }

  // Length-prefixed blocks (RFC 8446 §3.4 vectors): the prefix is 1, 2 or 3 bytes.
  std::optional<ByteReader> block8() { return block(u8()); }
  std::optional<ByteReader> block16() { return block(u16()); }
  std::optional<ByteReader> block24() { return block(u24()); }

 private:
  template <typename Len>
  std::optional<ByteReader> block(std::optional<Len> len) {
    if (!len) return std::nullopt;
    auto inner = take(*len);
    if (!inner) return std::nullopt;
    return ByteReader(*inner);
  }

  Bytes bytes_;
  std::size_t pos_ = 0;
};

}  // namespace tlsglass::tls
