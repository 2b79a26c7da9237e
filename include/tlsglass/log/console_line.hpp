// The human forms of a record: one line per handshake (stderr while the proxy runs, `tail`),
// and a short multi-line summary (`analyze` on a terminal). Colour only when asked for.
//
// `tail` reads records back from the JSON log, the proxy and `analyze` have a
// trace::HandshakeRecord: both become a ConsoleRecord first, so the line is formatted once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::log {

struct ConsoleStyle {
  bool color = false;
  bool utf8 = false;        // box-drawing and arrow characters; ASCII otherwise
  std::size_t width = 80;   // columns the ladder diagram may use
};

// Whether stderr/stdout (`fd`) should get colour: a TTY and NO_COLOR unset.
bool wants_color(int fd);

// Whether the locale's character set is UTF-8: the first of LC_ALL, LC_CTYPE, LANG that is set
// and not empty names it (as setlocale would pick); unset means "C", which is ASCII.
bool wants_utf8();

// Columns of the terminal on `fd`, or `fallback` when it is not a terminal.
std::size_t terminal_width(int fd, std::size_t fallback = 80);

// What the console line shows, taken from a trace::HandshakeRecord or from a JSON record line.
// Strings are as recorded: the formatting makes each one terminal-safe, whoever wrote it.
struct ConsoleRecord {
  std::string clock;  // "10:00:00.123" (UTC)
  std::optional<std::uint64_t> conn;
  std::optional<std::string> source;       // "127.0.0.1:51234", "[::1]:51234"
  std::optional<std::string> domain;       // SNI, else the CONNECT/SOCKS host name
  std::optional<std::string> destination;  // "ip:port"
  std::optional<std::string> version;      // "TLS1.3"
  std::optional<std::string> cipher;
  std::optional<std::string> next_protocol;
  std::string cause;
  bool inferred = false;
  std::string explanation;
  std::optional<std::string> server_name;  // tls.client.server_name (not on the line; filters)
  std::vector<trace::TimelineEntry> timeline;
};

// A parsed JSON record line (DESIGN.md "The handshake record") as a ConsoleRecord. nullopt, and
// in `problem` a short reason without any of the record's bytes, when it is not one: it needs
// "@timestamp" and "tlsglass.cause" (strings); every other field it reads is optional but must
// have the type the record gives it.
std::optional<ConsoleRecord> console_record(const nlohmann::json& record, std::string& problem);

// "10:00:00.123 #17 127.0.0.1:51234 -> app.example.test TLS1.3 TLS_AES_128_GCM_SHA256 h2 ok"
// or, for a failure, the cause and its explanation. No trailing newline.
std::string console_line(const ConsoleRecord& record, ConsoleStyle style = {});
std::string console_line(const trace::HandshakeRecord& record, ConsoleStyle style = {});

// A readable block: what the client offered, what the server chose, the certificate, the
// verdict and the timeline as a ladder diagram. Ends with a newline.
std::string summary(const trace::HandshakeRecord& record, ConsoleStyle style = {});

}  // namespace tlsglass::log
