// Peer-controlled strings (SNI, ALPN, certificate names, quoted HTTP) made safe for where they
// go: JSON needs valid UTF-8 (nlohmann escapes the rest), a terminal needs no control codes.
#pragma once

#include <string>
#include <string_view>

namespace tlsglass::log {

// Valid UTF-8 passes unchanged; each byte of an invalid sequence becomes the text "\xNN".
std::string valid_utf8(std::string_view text);

// valid_utf8, and additionally C0/C1 control characters, DEL and the Unicode bidirectional
// overrides (U+202A..U+202E, U+2066..U+2069) written as "\xNN" / "\u{NNNN}": nothing a peer
// sends can move the cursor, change colours or reorder what the engineer reads.
std::string terminal_safe(std::string_view text);

}  // namespace tlsglass::log
