#include "tlsglass/cli/hex_input.hpp"

#include <cctype>

namespace tlsglass::cli {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool all_hex(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (hex_value(c) < 0) return false;
  }
  return true;
}

struct Token {
  std::string_view text;
  std::size_t spaces_before = 0;
};

std::vector<Token> tokenize(std::string_view line) {
  std::vector<Token> tokens;
  std::size_t i = 0, spaces = 0;
  while (i < line.size()) {
    if (std::isspace(static_cast<unsigned char>(line[i]))) {
      ++spaces, ++i;
      continue;
    }
    std::size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    tokens.push_back({line.substr(start, i - start), spaces});
    spaces = 0;
  }
  return tokens;
}

}  // namespace

std::variant<std::vector<std::uint8_t>, HexError> decode_hex_dump(std::string_view text) {
  std::vector<std::uint8_t> out;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<Token> tokens = tokenize(line);
    if (tokens.empty()) continue;
    const std::string_view first = tokens.front().text;
    // `openssl s_client -msg` headers: ">>> TLS 1.3, Handshake [length 0200], ClientHello".
    if (first.rfind(">>>", 0) == 0 || first.rfind("<<<", 0) == 0 || first.rfind("---", 0) == 0)
      continue;

    // An offset column ("00000010:" from xxd, "0010  " from tshark -x / hexdump -C) means a
    // dump format with at most 16 bytes per line followed by an ASCII column.
    std::size_t index = 0;
    bool has_offset = false;
    if (tokens.size() > 1) {
      std::string_view offset = first;
      const bool colon = !offset.empty() && offset.back() == ':';
      if (colon) offset.remove_suffix(1);
      if (all_hex(offset) && offset.size() >= 4 && offset.size() <= 8 &&
          (colon || tokens[1].spaces_before >= 2)) {
        has_offset = true;
        index = 1;
      }
    }
    std::size_t line_bytes = 0;
    for (; index < tokens.size(); ++index) {
      const Token& token = tokens[index];
      if (has_offset && (line_bytes >= 16 || token.spaces_before >= 3 || !all_hex(token.text) ||
                         token.text.size() % 2 != 0)) {
        break;  // the ASCII column
      }
      std::string_view digits = token.text;
      // "0x16,0x03" style and "16:03:01" style.
      std::string cleaned;
      for (std::size_t k = 0; k < digits.size(); ++k) {
        if ((digits[k] == 'x' || digits[k] == 'X') && k > 0 && digits[k - 1] == '0') {
          cleaned.pop_back();
          continue;
        }
        if (digits[k] == ':' || digits[k] == ',') continue;
        cleaned += digits[k];
      }
      if (!all_hex(cleaned) || cleaned.size() % 2 != 0) {
        return HexError{line_number, "\"" + std::string(token.text.substr(0, 20)) +
                                         "\" is not hex bytes"};
      }
      for (std::size_t k = 0; k < cleaned.size(); k += 2) {
        out.push_back(static_cast<std::uint8_t>(hex_value(cleaned[k]) << 4 | hex_value(cleaned[k + 1])));
        ++line_bytes;
      }
    }
  }
  return out;
}

}  // namespace tlsglass::cli
