#include "tlsglass/trace/prelude.hpp"

#include <fmt/format.h>
#include <llhttp.h>

#include <algorithm>
#include <cstring>

namespace tlsglass::trace {

std::string_view prelude_kind_name(PreludeKind kind) {
  switch (kind) {
    case PreludeKind::none: return "none";
    case PreludeKind::http_connect: return "http_connect";
    case PreludeKind::http_request: return "http_request";
    case PreludeKind::socks4: return "socks4";
    case PreludeKind::socks5: return "socks5";
    case PreludeKind::plaintext: return "plaintext";
  }
  return "plaintext";
}

StartVerdict classify_start(tls::Bytes start) {
  if (start.empty()) return StartVerdict::need_more;
  const std::uint8_t first = start[0];
  // SSLv2-format record: 2-byte header with the high bit set, then the message type
  // (RFC 6101 appendix E.2): 1 CLIENT-HELLO, 4 SERVER-HELLO.
  if (first & 0x80) {
    if (start.size() < 3) return StartVerdict::need_more;
    return (start[2] == 1 || start[2] == 4) ? StartVerdict::tls : StartVerdict::not_tls;
  }
  if (first < 20 || first > 24) return StartVerdict::not_tls;
  if (start.size() < 2) return StartVerdict::need_more;
  if (start[1] != 3) return StartVerdict::not_tls;
  if (start.size() < 3) return StartVerdict::need_more;
  if (start[2] > 4) return StartVerdict::not_tls;
  return StartVerdict::tls;
}

PreludeKind classify_client_prelude(tls::Bytes start) {
  if (start.empty()) return PreludeKind::none;
  auto starts_with = [&](std::string_view text) {
    return start.size() >= text.size() &&
           std::memcmp(start.data(), text.data(), text.size()) == 0;
  };
  if (starts_with("CONNECT ")) return PreludeKind::http_connect;
  // RFC 1928 §3: version 5, then the number of methods (at least one).
  if (start[0] == 5 && start.size() >= 2 && start[1] >= 1 && start[1] <= 16)
    return PreludeKind::socks5;
  // SOCKS4(a): version 4, command 1 (CONNECT) or 2 (BIND).
  if (start[0] == 4 && start.size() >= 2 && (start[1] == 1 || start[1] == 2))
    return PreludeKind::socks4;
  if (http_start_line(start, false)) return PreludeKind::http_request;
  for (std::string_view method : {"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ",
                                  "PATCH ", "PRI * "}) {
    if (starts_with(method)) return PreludeKind::http_request;
  }
  return PreludeKind::plaintext;
}

const char* socks5_reply_words(std::uint8_t reply) {
  switch (reply) {
    case 0x00: return "succeeded";
    case 0x01: return "general SOCKS server failure";
    case 0x02: return "connection not allowed by ruleset";
    case 0x03: return "network unreachable";
    case 0x04: return "host unreachable";
    case 0x05: return "connection refused";
    case 0x06: return "TTL expired";
    case 0x07: return "command not supported";
    case 0x08: return "address type not supported";
    default: return "unassigned";
  }
}

std::optional<std::string> socks5_refusal(tls::Bytes b) {
  // Method selection: VER METHOD.
  if (b.size() < 2 || b[0] != 5) return std::nullopt;
  if (b[1] == 0xff)
    return std::string("the SOCKS5 proxy accepted none of the client's methods (X'FF')");
  std::size_t at = 2;
  if (b[1] == 0x02) {  // RFC 1929: VER(1) STATUS
    if (b.size() < 4 || b[2] != 1) return std::nullopt;
    if (b[3] != 0)
      return fmt::format("the SOCKS5 proxy refused the username/password (RFC 1929 status {})", b[3]);
    at = 4;
  } else if (b[1] != 0x00) {
    return std::nullopt;  // GSSAPI or a private method: its messages are not ours to read
  }
  // The reply: VER REP ...
  if (b.size() < at + 2 || b[at] != 5 || b[at + 1] == 0) return std::nullopt;
  return fmt::format("the SOCKS5 proxy answered X'{:02X}' ({})", b[at + 1],
                     socks5_reply_words(b[at + 1]));
}

std::optional<std::size_t> find_tls_start(tls::Bytes bytes, bool client, std::size_t from) {
  for (std::size_t i = from; i + 6 <= bytes.size(); ++i) {
    const auto* p = bytes.data() + i;
    if (p[1] != 3 || p[2] > 4) continue;
    const std::size_t length = static_cast<std::size_t>(p[3]) << 8 | p[4];
    if (p[0] == 22 && length >= 4 && p[5] == (client ? 1 : 2)) return i;
    if (!client && p[0] == 21 && length == 2) return i;
  }
  return std::nullopt;
}

namespace {

// Collects the start line while llhttp validates the head; pauses at its end.
struct HeadParse {
  std::string method_or_status;
  std::string url;
  std::string method;
  bool head_complete = false;
};

int on_url(llhttp_t* parser, const char* at, std::size_t length) {
  auto* parse = static_cast<HeadParse*>(parser->data);
  if (parse->url.size() < 512) parse->url.append(at, std::min<std::size_t>(length, 512));
  return 0;
}

int on_status(llhttp_t* parser, const char* at, std::size_t length) {
  auto* parse = static_cast<HeadParse*>(parser->data);
  if (parse->method_or_status.size() < 256)
    parse->method_or_status.append(at, std::min<std::size_t>(length, 256));
  return 0;
}

int on_headers_complete(llhttp_t* parser) {
  static_cast<HeadParse*>(parser->data)->head_complete = true;
  return HPE_PAUSED;
}

// Runs llhttp over `bytes`; returns the parse and the head length when the head is complete.
std::optional<std::size_t> parse_head(tls::Bytes bytes, bool response, HeadParse& parse) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_url = on_url;
  settings.on_status = on_status;
  settings.on_headers_complete = on_headers_complete;
  llhttp_t parser;
  llhttp_init(&parser, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
  parser.data = &parse;
  const char* data = reinterpret_cast<const char*>(bytes.data());
  const llhttp_errno_t result = llhttp_execute(&parser, data, bytes.size());
  if (result == HPE_PAUSED || result == HPE_PAUSED_UPGRADE) {
    if (!parse.head_complete) return std::nullopt;
    const char* end = llhttp_get_error_pos(&parser);
    std::size_t length = end ? static_cast<std::size_t>(end - data) : bytes.size();
    // Pausing in on_headers_complete stops before the final LF has been consumed.
    if (length < bytes.size() && bytes[length] == '\n') ++length;
    if (response) {
      parse.method_or_status = "HTTP/" + std::to_string(parser.http_major) + "." +
                               std::to_string(parser.http_minor) + " " +
                               std::to_string(parser.status_code) +
                               (parse.method_or_status.empty() ? "" : " ") +
                               parse.method_or_status;
    } else {
      parse.method = llhttp_method_name(static_cast<llhttp_method_t>(parser.method));
      parse.method_or_status = parse.method + " " + parse.url + " HTTP/" +
                               std::to_string(parser.http_major) + "." +
                               std::to_string(parser.http_minor);
    }
    return length;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::size_t> http_head_length(tls::Bytes bytes, bool response) {
  HeadParse parse;
  return parse_head(bytes, response, parse);
}

std::optional<std::string> http_start_line(tls::Bytes bytes, bool response) {
  // The start line alone is enough for a quote: parse up to the end of the first line plus
  // an empty header block, so a head cut short still yields its start line.
  const auto* begin = bytes.data();
  const auto* newline = std::find(begin, begin + bytes.size(), '\n');
  if (newline == begin + bytes.size()) return std::nullopt;
  std::string head(reinterpret_cast<const char*>(begin), newline - begin + 1);
  if (head.size() < 2 || head[head.size() - 2] != '\r') head.insert(head.size() - 1, "\r");
  head += "\r\n";
  HeadParse parse;
  auto head_bytes = tls::Bytes(reinterpret_cast<const std::uint8_t*>(head.data()), head.size());
  if (!parse_head(head_bytes, response, parse)) return std::nullopt;
  return parse.method_or_status;
}

std::optional<std::string> connect_target_host(tls::Bytes bytes) {
  HeadParse parse;
  if (!parse_head(bytes, false, parse) || parse.method != "CONNECT")
    return std::nullopt;
  std::string target = parse.url;
  if (!target.empty() && target.front() == '[') {  // [IPv6]:port
    auto close = target.find(']');
    return close == std::string::npos ? target : target.substr(1, close - 1);
  }
  auto colon = target.rfind(':');
  return colon == std::string::npos ? target : target.substr(0, colon);
}

std::string quote_stream_start(tls::Bytes bytes, std::size_t max_bytes) {
  if (auto line = http_start_line(bytes, true)) return *line;
  if (auto line = http_start_line(bytes, false)) return *line;
  std::size_t n = std::min(bytes.size(), max_bytes);
  const auto* begin = bytes.data();
  const auto* newline = std::find(begin, begin + n, '\n');
  n = static_cast<std::size_t>(newline - begin);
  if (n > 0 && begin[n - 1] == '\r') --n;
  return std::string(reinterpret_cast<const char*>(begin), n);
}

}  // namespace tlsglass::trace
