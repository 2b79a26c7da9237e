#include "tlsglass/log/console_line.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>

#include "tlsglass/log/safe_text.hpp"
#include "tlsglass/tls/registry.hpp"
#include "tlsglass/trace/verdict.hpp"

namespace tlsglass::log {

namespace {

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kDim = "\x1b[2m";

std::string paint(const ConsoleStyle& style, const char* color, std::string_view text) {
  if (!style.color) return std::string(text);
  return fmt::format("{}{}{}", color, text, kReset);
}

const char* cause_color(const trace::HandshakeRecord& record) {
  if (record.cause == trace::Cause::ok) return kGreen;
  if (record.cause == trace::Cause::incomplete || record.inferred) return kYellow;
  return kRed;
}

std::string clock(trace::Timestamp at) {
  const auto millis = std::chrono::floor<std::chrono::milliseconds>(at);
  const auto seconds = std::chrono::floor<std::chrono::seconds>(millis);
  return fmt::format("{:%H:%M:%S}.{:03d}", seconds, (millis - seconds).count());
}

std::string endpoint(const trace::Endpoint& e) {
  return e.ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", e.ip, e.port)
                                              : fmt::format("{}:{}", e.ip, e.port);
}

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

}  // namespace

bool wants_color(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  return isatty(fd) == 1;
}

std::string console_line(const trace::HandshakeRecord& record, ConsoleStyle style) {
  std::string line = clock(record.timestamp);
  line += fmt::format(" #{}", record.conn);
  if (record.source) line += " " + endpoint(*record.source);
  line += " ->";
  if (record.destination_domain) line += " " + terminal_safe(*record.destination_domain);
  if (record.destination) {
    line += record.destination_domain ? " (" + endpoint(*record.destination) + ")"
                                      : " " + endpoint(*record.destination);
  }
  if (!record.destination_domain && !record.destination) line += " ?";
  if (record.version) line += " " + trace::display_version(*record.version);
  if (record.cipher) line += " " + tls::cipher_suite_name(*record.cipher);
  if (record.next_protocol) line += " " + terminal_safe(*record.next_protocol);
  line += " " + paint(style, cause_color(record), trace::cause_name(record.cause));
  if (record.cause != trace::Cause::ok && !record.explanation.empty())
    line += ": " + terminal_safe(record.explanation);
  return line;
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
  for (const auto& entry : record.timeline) {
    out += fmt::format("  {:>9.1f} ms  {} {}\n", entry.ms,
                       entry.from == trace::Side::client ? "client ->" : "<- server",
                       terminal_safe(entry.what));
  }
  return out;
}

}  // namespace tlsglass::log
