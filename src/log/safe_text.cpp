#include "tlsglass/log/safe_text.hpp"

#include <fmt/format.h>

#include <cstdint>

namespace tlsglass::log {

namespace {

// Length of the valid UTF-8 sequence at `p` (RFC 3629 §4), or 0 if it is not one.
std::size_t utf8_sequence(std::string_view text, std::size_t i, char32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  const std::uint8_t lead = byte(i);
  std::size_t length;
  char32_t min;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    length = 2, min = 0x80, code_point = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, min = 0x800, code_point = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code_point = code_point << 6 | (byte(i + k) & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if (code_point < min || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff))
    return 0;
  return length;
}

std::string escape(std::string_view text, bool for_terminal) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence(text, i, code_point);
    if (length == 0) {
      out += fmt::format("\\x{:02x}", static_cast<std::uint8_t>(text[i]));
      ++i;
      continue;
    }
    if (for_terminal) {
      const bool control = code_point < 0x20 || code_point == 0x7f ||
                           (code_point >= 0x80 && code_point < 0xa0);
      const bool bidi = (code_point >= 0x202a && code_point <= 0x202e) ||
                        (code_point >= 0x2066 && code_point <= 0x2069);
      if (control) {
        out += fmt::format("\\x{:02x}", static_cast<std::uint32_t>(code_point));
        i += length;
        continue;
      }
      if (bidi) {
        out += fmt::format("\\u{{{:04x}}}", static_cast<std::uint32_t>(code_point));
        i += length;
        continue;
      }
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

}  // namespace

std::string valid_utf8(std::string_view text) { return escape(text, false); }
std::string terminal_safe(std::string_view text) { return escape(text, true); }

}  // namespace tlsglass::log
