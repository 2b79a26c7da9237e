#include "tlsglass/log/console_line.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "console_text.hpp"
#include "tlsglass/log/ladder.hpp"
#include "tlsglass/log/safe_text.hpp"
#include "tlsglass/tls/registry.hpp"
#include "tlsglass/trace/verdict.hpp"

namespace tlsglass::log {

namespace {

using Json = nlohmann::json;

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kDim = "\x1b[2m";

std::string paint(const ConsoleStyle& style, const char* color, std::string_view text) {
  if (!style.color) return std::string(text);
  return fmt::format("{}{}{}", color, text, kReset);
}

const char* cause_color(std::string_view cause, bool inferred) {
  if (cause == "ok") return kGreen;
  if (cause == "incomplete" || inferred) return kYellow;
  return kRed;
}

const char* cause_color(const trace::HandshakeRecord& record) {
  return cause_color(trace::cause_name(record.cause), record.inferred);
}

std::string clock(trace::Timestamp at) {
  const auto millis = std::chrono::floor<std::chrono::milliseconds>(at);
  const auto seconds = std::chrono::floor<std::chrono::seconds>(millis);
  return fmt::format("{:%H:%M:%S}.{:03d}", seconds, (millis - seconds).count());
}

std::string endpoint(const trace::Endpoint& e) { return endpoint_text(e.ip, e.port); }

template <typename Name>
std::string list(const std::vector<std::uint16_t>& codes, Name name, std::size_t limit = 8) {
  std::string out;
  std::size_t shown = 0;
  for (auto code : codes) {
    if (!out.empty()) out += ", ";
    if (shown++ == limit) {
      out += fmt::format("... ({} in all)", codes.size());
      break;
    }
    out += name(code);
  }
  return out;
}

// The fields of the line; the timeline stays out (the line does not draw it).
ConsoleRecord line_fields(const trace::HandshakeRecord& record) {
  ConsoleRecord out;
  out.clock = clock(record.timestamp);
  out.conn = record.conn;
  if (record.source) out.source = endpoint(*record.source);
  out.domain = record.destination_domain;
  if (record.destination) out.destination = endpoint(*record.destination);
  if (record.version) out.version = trace::display_version(*record.version);
  if (record.cipher) out.cipher = tls::cipher_suite_name(*record.cipher);
  out.next_protocol = record.next_protocol;
  out.cause = std::string(trace::cause_name(record.cause));
  out.inferred = record.inferred;
  out.explanation = record.explanation;
  out.server_name = record.client.server_name;
  return out;
}

}  // namespace

bool wants_color(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  return isatty(fd) == 1;
}

bool wants_utf8() {
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    std::string lower(value);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find("utf-8") != std::string::npos || lower.find("utf8") != std::string::npos;
  }
  return false;
}

std::size_t terminal_width(int fd, std::size_t fallback) {
  winsize size{};
  if (isatty(fd) != 1 || ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return fallback;
  return size.ws_col;
}

std::string console_line(const ConsoleRecord& record, ConsoleStyle style) {
  std::string line = terminal_safe(record.clock);
  if (record.conn) line += fmt::format(" #{}", *record.conn);
  if (record.source) line += " " + terminal_safe(*record.source);
  line += " ->";
  if (record.domain) line += " " + terminal_safe(*record.domain);
  if (record.destination) {
    line += record.domain ? " (" + terminal_safe(*record.destination) + ")"
                          : " " + terminal_safe(*record.destination);
  }
  if (!record.domain && !record.destination) line += " ?";
  for (const auto* field : {&record.version, &record.cipher, &record.next_protocol}) {
    if (*field) line += " " + terminal_safe(**field);
  }
  line += " " + paint(style, cause_color(record.cause, record.inferred), terminal_safe(record.cause));
  if (record.cause != "ok" && !record.explanation.empty())
    line += ": " + terminal_safe(record.explanation);
  return line;
}

std::string console_line(const trace::HandshakeRecord& record, ConsoleStyle style) {
  return console_line(line_fields(record), style);
}

std::string summary(const trace::HandshakeRecord& record, ConsoleStyle style) {
  std::string out = console_line(record, style) + "\n";
  const trace::ClientSide& client = record.client;
  if (record.client_hello_seen) {
    out += fmt::format("  client  SNI {}  versions {}  ALPN {}\n",
                       client.server_name ? terminal_safe(*client.server_name) : "(none)",
                       client.supported_versions.empty()
                           ? trace::display_version(client.legacy_version) + " (legacy)"
                           : list(client.supported_versions, trace::display_version),
                       client.alpn.empty() ? "(none)" : [&] {
                         std::string names;
                         for (const auto& p : client.alpn) names += (names.empty() ? "" : ", ") + terminal_safe(p);
                         return names;
                       }());
    out += fmt::format("          ciphers {}\n", list(client.cipher_suites, tls::cipher_suite_name, 6));
    if (!client.supported_groups.empty())
      out += fmt::format("          groups {}  key shares {}\n",
                         list(client.supported_groups, tls::group_name, 6),
                         list(client.key_share_groups, tls::group_name, 4));
    out += fmt::format("          hello {} bytes in {} record(s){}\n", client.hello_bytes,
                       client.hello_records, client.ech ? "  ECH" : "");
    if (!client.ja3.empty()) out += fmt::format("          JA3 {}\n", client.ja3);
    if (!client.ja4.empty()) out += fmt::format("          JA4 {}\n", client.ja4);
  }
  if (record.server_hello_seen) {
    out += fmt::format("  server  {} {}{}{}\n",
                       record.version ? trace::display_version(*record.version) : "?",
                       record.cipher ? tls::cipher_suite_name(*record.cipher) : "?",
                       record.curve ? " " + tls::group_name(*record.curve) : "",
                       record.server.hello_retry_request ? "  (after HelloRetryRequest)" : "");
    if (!record.server.ja3s.empty()) out += fmt::format("          JA3S {}\n", record.server.ja3s);
  }
  if (!record.server.chain.empty()) {
    const auto& leaf = record.server.chain.front();
    out += fmt::format("  cert    {}  (issuer {})\n", terminal_safe(leaf.subject),
                       terminal_safe(leaf.issuer));
    if (leaf.not_before && leaf.not_after)
      out += fmt::format("          valid {:%Y-%m-%d} to {:%Y-%m-%d}\n", *leaf.not_before,
                         *leaf.not_after);
  }
  out += fmt::format("  verdict {}{}\n", paint(style, cause_color(record), trace::cause_name(record.cause)),
                     record.inferred ? " (inferred)" : "");
  if (!record.explanation.empty())
    out += fmt::format("          {}\n", terminal_safe(record.explanation));
  if (!record.next_step.empty())
    out += fmt::format("  next    {}\n", paint(style, kDim, terminal_safe(record.next_step)));
  for (const auto& row : ladder(record.timeline, trace::cause_name(record.cause), style))
    out += row + "\n";
  return out;
}

}  // namespace tlsglass::log
