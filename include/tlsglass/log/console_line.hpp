// The human forms of a record: one line per handshake (stderr while the proxy runs, `tail`),
// and a short multi-line summary (`analyze` on a terminal). Colour only when asked for.
#pragma once

#include <string>

#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::log {

struct ConsoleStyle {
  bool color = false;
};

// Whether stderr/stdout (`fd`) should get colour: a TTY and NO_COLOR unset.
bool wants_color(int fd);

// "10:00:00.123 #17 127.0.0.1:51234 -> app.example.test TLS1.3 TLS_AES_128_GCM_SHA256 h2 ok"
// or, for a failure, the cause and its explanation. No trailing newline.
std::string console_line(const trace::HandshakeRecord& record, ConsoleStyle style = {});

// A readable block: what the client offered, what the server chose, the certificate, the
// verdict and the timeline. Ends with a newline.
std::string summary(const trace::HandshakeRecord& record, ConsoleStyle style = {});

}  // namespace tlsglass::log
