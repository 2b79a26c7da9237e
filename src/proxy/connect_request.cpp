// RFC 9110 §9.3.6 CONNECT, read with llhttp. llhttp treats CONNECT as an upgrade: once the
// head is complete it stops with HPE_PAUSED_UPGRADE and llhttp_get_error_pos() points at the
// first byte after the head - the first byte of the tunnel.
#include "tlsglass/proxy/connect_request.hpp"

#include <fmt/format.h>
#include <llhttp.h>

#include <algorithm>

namespace tlsglass::proxy {

namespace {

constexpr std::size_t kMaxTarget = 512;  // more than any host:port (253 + ":65535")

std::string_view reason_phrase(Answer answer) {
  switch (answer) {
    case Answer::established:
      return "Connection established";
    case Answer::bad_request:
      return "Bad Request";
    case Answer::forbidden:
      return "Forbidden";
    case Answer::method_not_allowed:
      return "Method Not Allowed";
    case Answer::request_timeout:
      return "Request Timeout";
    case Answer::bad_gateway:
      return "Bad Gateway";
    case Answer::gateway_timeout:
      return "Gateway Timeout";
  }
  return "Error";
}

// Printable ASCII only, so a body quoting the client's bytes stays plain text.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

std::string answer_bytes(Answer answer, std::string_view reason) {
  const auto code = static_cast<unsigned>(answer);
  if (answer == Answer::established)
    return fmt::format("HTTP/1.1 {} {}\r\n\r\n", code, reason_phrase(answer));
  const std::string body = std::string(reason.empty() ? reason_phrase(answer) : reason) + "\n";
  // RFC 9110 §15.5.6: a 405 lists the methods the target supports.
  return fmt::format(
      "HTTP/1.1 {} {}\r\n{}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      code, reason_phrase(answer), answer == Answer::method_not_allowed ? "Allow: CONNECT\r\n" : "",
      body.size(), body);
}

class ConnectRequestReader::Impl {
 public:
  explicit Impl(std::size_t max_head) : max_head_(max_head) {
    llhttp_settings_init(&settings_);
    settings_.on_url = on_url;
    settings_.on_method_complete = on_method_complete;
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
  }

  ConnectHead feed(tls::Bytes chunk) {
    // Only as much of the chunk as the head may still take: bytes past the cap are either the
    // tunnel (if the head ends before them) or an oversized head.
    const std::size_t room = max_head_ - consumed_;
    const std::size_t take = std::min(room, chunk.size());
    const char* data = reinterpret_cast<const char*>(chunk.data());
    const llhttp_errno_t status = llhttp_execute(&parser_, data, take);
    consumed_ += take;

    if (other_method_) {
      return refuse(Answer::method_not_allowed,
                    fmt::format("this is a CONNECT proxy: {} requests are not forwarded",
                                llhttp_method_name(static_cast<llhttp_method_t>(parser_.method))));
    }
    if (target_too_long_)
      return refuse(Answer::bad_request, "request target too long for host:port");
    if (status == HPE_PAUSED_UPGRADE) return complete(data);
    if (status != HPE_OK) {
      const char* why = llhttp_get_error_reason(&parser_);
      return refuse(Answer::bad_request,
                    fmt::format("malformed request head: {} ({})", llhttp_errno_name(status),
                                printable(why ? why : "")));
    }
    if (consumed_ >= max_head_)
      return refuse(Answer::bad_request,
                    fmt::format("request head larger than {} bytes", max_head_));
    return {};
  }

 private:
  static Impl& of(llhttp_t* parser) { return *static_cast<Impl*>(parser->data); }

  static int on_url(llhttp_t* parser, const char* at, std::size_t length) {
    Impl& self = of(parser);
    if (self.target_.size() + length > kMaxTarget) {
      self.target_too_long_ = true;
      return HPE_PAUSED;
    }
    self.target_.append(at, length);
    return 0;
  }

  static int on_method_complete(llhttp_t* parser) {
    if (parser->method == HTTP_CONNECT) return 0;
    of(parser).other_method_ = true;
    return HPE_PAUSED;
  }

  ConnectHead complete(const char* data) {
    auto target = parse_host_port(target_);
    if (!target) {
      return refuse(
          Answer::bad_request,
          fmt::format("CONNECT needs host:port (RFC 9110 §9.3.6), got \"{}\"", printable(target_)));
    }
    ConnectHead head;
    head.state = ConnectHead::State::complete;
    head.target = std::move(*target);
    head.tunnel_offset = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
    return head;
  }

  static ConnectHead refuse(Answer answer, std::string reason) {
    ConnectHead head;
    head.state = ConnectHead::State::refused;
    head.answer = answer;
    head.reason = std::move(reason);
    return head;
  }

  llhttp_settings_t settings_;
  llhttp_t parser_;
  std::size_t max_head_;
  std::size_t consumed_ = 0;
  std::string target_;
  bool target_too_long_ = false;
  bool other_method_ = false;
};

ConnectRequestReader::ConnectRequestReader(std::size_t max_head)
    : impl_(std::make_unique<Impl>(max_head)) {}
ConnectRequestReader::~ConnectRequestReader() = default;
ConnectHead ConnectRequestReader::feed(tls::Bytes chunk) { return impl_->feed(chunk); }

}  // namespace tlsglass::proxy
