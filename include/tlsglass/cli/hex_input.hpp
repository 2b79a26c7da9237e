// Hex dumps as engineers paste them: plain hex, `xxd`, `hexdump -C`, `tshark -x`, and the
// byte lines of `openssl s_client -msg` (its ">>>"/"<<<" header lines are skipped).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tlsglass::cli {

struct HexError {
  std::size_t line = 0;
  std::string reason;
};

std::variant<std::vector<std::uint8_t>, HexError> decode_hex_dump(std::string_view text);

}  // namespace tlsglass::cli
