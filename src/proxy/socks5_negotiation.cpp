// RFC 1928 and RFC 1929 from the server's side. Each message is collected whole (its length
// is known from its first bytes), answered, and dropped; nothing is buffered beyond one
// message, the longest of which (an RFC 1929 request) is 513 bytes.
#include "tlsglass/proxy/socks5_negotiation.hpp"

#include "tlsglass/trace/prelude.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>

namespace tlsglass::proxy {

namespace {

constexpr std::uint8_t kVersion = 5;
constexpr std::uint8_t kAuthVersion = 1;  // RFC 1929 §2
constexpr std::uint8_t kNoAuthentication = 0x00;
constexpr std::uint8_t kUsernamePassword = 0x02;
constexpr std::uint8_t kNoAcceptableMethods = 0xff;
constexpr std::uint8_t kConnect = 0x01;
constexpr std::uint8_t kIpv4 = 0x01, kDomainName = 0x03, kIpv6 = 0x04;

std::string bytes(std::initializer_list<std::uint8_t> values) {
  return std::string(values.begin(), values.end());
}

// A SOCKS5 greeting starts with 5; say what the client sent instead (a ClientHello straight
// away is the usual mistake: the client was not told to use SOCKS).
std::string not_socks_reason(std::uint8_t first) {
  if (first == 0x16) return "the client sent a TLS ClientHello, not a SOCKS5 greeting";
  if (first == 4) return "the client speaks SOCKS4, not SOCKS5";
  if (first >= 'A' && first <= 'Z') return "the client sent text (HTTP?), not a SOCKS5 greeting";
  return fmt::format("not a SOCKS5 greeting (first byte 0x{:02x}, RFC 1928 wants 0x05)", first);
}

bool host_name_byte(std::uint8_t c) { return c > 0x20 && c < 0x7f && c != '/' && c != '@'; }

}  // namespace

const char* socks_reply_words(SocksReply reply) {
  return trace::socks5_reply_words(static_cast<std::uint8_t>(reply));
}

std::string socks_reply_bytes(SocksReply reply, const std::optional<trace::Endpoint>& bound) {
  std::string out = bytes({kVersion, static_cast<std::uint8_t>(reply), 0x00});
  std::uint8_t address[16] = {};
  bool v6 = false;
  if (bound) {
    if (inet_pton(AF_INET, bound->ip.c_str(), address) != 1) {
      v6 = inet_pton(AF_INET6, bound->ip.c_str(), address) == 1;
      if (!v6) std::fill(std::begin(address), std::end(address), 0);
    }
  }
  out += static_cast<char>(v6 ? kIpv6 : kIpv4);
  out.append(reinterpret_cast<const char*>(address), v6 ? 16 : 4);
  const std::uint16_t port = bound ? bound->port : 0;
  out += static_cast<char>(port >> 8);
  out += static_cast<char>(port & 0xff);
  return out;
}

Socks5Negotiation::Socks5Negotiation(std::optional<SocksCredentials> credentials)
    : credentials_(std::move(credentials)) {
  buffer_.reserve(64);
}

std::size_t Socks5Negotiation::message_length() const {
  const auto& b = buffer_;
  switch (stage_) {
    case Stage::greeting:  // VER NMETHODS METHODS...
      return b.size() < 2 ? 0 : 2 + b[1];
    case Stage::auth:  // VER ULEN UNAME PLEN PASSWD
      if (b.size() < 2) return 0;
      if (b.size() < 3u + b[1]) return 0;
      return 3u + b[1] + b[2u + b[1]];
    case Stage::request:  // VER CMD RSV ATYP DST.ADDR DST.PORT
      if (b.size() < 4) return 0;
      if (b[3] == kIpv4) return 4 + 4 + 2;
      if (b[3] == kIpv6) return 4 + 16 + 2;
      if (b[3] == kDomainName) return b.size() < 5 ? 0 : 4 + 1 + b[4] + 2;
      return 4;  // an unknown address type: refused as soon as it is seen
  }
  return 0;
}

SocksStep Socks5Negotiation::refuse(std::string reply, std::string reason) {
  SocksStep step;
  step.state = SocksStep::State::refused;
  step.reply = std::move(reply);
  step.reason = std::move(reason);
  return step;
}

SocksStep Socks5Negotiation::feed(tls::Bytes chunk) {
  std::string replies;  // answers to the messages this chunk completed, in order
  std::size_t offset = 0;
  while (offset < chunk.size()) {
    // The first byte of a message says whether it is one at all.
    if (buffer_.empty()) {
      const std::uint8_t first = chunk[offset];
      if (stage_ == Stage::greeting && first != kVersion) return refuse({}, not_socks_reason(first));
      if (stage_ == Stage::auth && first != kAuthVersion)
        return refuse(replies + bytes({kAuthVersion, 0x01}),
                      fmt::format("the username/password request has version {}, RFC 1929 "
                                  "wants 1", first));
      if (stage_ == Stage::request && first != kVersion)
        return refuse(replies + socks_reply_bytes(SocksReply::general_failure),
                      fmt::format("the SOCKS5 request has version {}, not 5", first));
    }
    // Take bytes until the message's length is known and it is complete.
    std::size_t need = message_length();
    while (offset < chunk.size() && (need == 0 || buffer_.size() < need)) {
      buffer_.push_back(chunk[offset++]);
      need = message_length();
    }
    if (need == 0 || buffer_.size() < need) break;  // the rest comes in a later read
    // The whole message is in buffer_: answered here, then dropped (a refusal or the request
    // ends the negotiation; the others clear it below for the next message).
    const std::vector<std::uint8_t>& message = buffer_;

    switch (stage_) {
      case Stage::greeting: {
        // The one method this proxy takes: username/password with --socks-auth, else none.
        const std::uint8_t wanted = credentials_ ? kUsernamePassword : kNoAuthentication;
        if (std::find(message.begin() + 2, message.end(), wanted) == message.end()) {
          const char* why =
              message[1] == 0 ? "the SOCKS5 greeting offers no method"
              : credentials_  ? "the client offers no username/password authentication (RFC "
                                "1929), which --socks-auth requires"
                              : "the client offers no SOCKS5 method this proxy accepts (only "
                                "\"no authentication\"; add --socks-auth for username/password)";
          return refuse(replies + bytes({kVersion, kNoAcceptableMethods}), why);
        }
        replies += bytes({kVersion, wanted});
        stage_ = credentials_ ? Stage::auth : Stage::request;
        break;
      }
      case Stage::auth: {
        const std::size_t user_length = message[1];
        const std::string user(message.begin() + 2, message.begin() + 2 + user_length);
        const std::string password(message.begin() + 3 + user_length, message.end());
        if (user != credentials_->user || password != credentials_->password) {
          // RFC 1929 §2: a non-zero status, then the server closes.
          return refuse(replies + bytes({kAuthVersion, 0x01}),
                        fmt::format("SOCKS5 username/password refused (user \"{}\")",
                                    std::string_view(user).substr(0, 64)));
        }
        replies += bytes({kAuthVersion, 0x00});
        stage_ = Stage::request;
        break;
      }
      case Stage::request: {
        if (message[1] != kConnect) {
          const char* name = message[1] == 2 ? "BIND" : message[1] == 3 ? "UDP ASSOCIATE" : "an unknown command";
          return refuse(replies + socks_reply_bytes(SocksReply::command_not_supported),
                        fmt::format("the SOCKS5 client asked for {} (0x{:02x}); only CONNECT is "
                                    "supported", name, message[1]));
        }
        const std::uint8_t type = message[3];
        HostPort target;
        std::size_t port_at = 0;
        if (type == kIpv4 || type == kIpv6) {
          char text[INET6_ADDRSTRLEN] = {};
          inet_ntop(type == kIpv4 ? AF_INET : AF_INET6, message.data() + 4, text, sizeof text);
          target.host = text;
          port_at = type == kIpv4 ? 8 : 20;
        } else if (type == kDomainName) {
          const std::size_t length = message[4];
          target.host.assign(message.begin() + 5, message.begin() + 5 + static_cast<std::ptrdiff_t>(length));
          if (length == 0 || !std::all_of(target.host.begin(), target.host.end(), host_name_byte))
            return refuse(replies + socks_reply_bytes(SocksReply::general_failure),
                          "the SOCKS5 request's target is not a host name");
          port_at = 5 + length;
        } else {
          return refuse(replies + socks_reply_bytes(SocksReply::address_type_not_supported),
                        fmt::format("the SOCKS5 request has address type 0x{:02x} (RFC 1928 "
                                    "knows 1, 3 and 4)", type));
        }
        target.port = static_cast<std::uint16_t>(message[port_at] << 8 | message[port_at + 1]);
        if (target.port == 0)
          return refuse(replies + socks_reply_bytes(SocksReply::general_failure),
                        "the SOCKS5 request's port is 0");
        SocksStep step;
        step.state = SocksStep::State::complete;
        step.reply = std::move(replies);
        step.target = std::move(target);
        step.tunnel_offset = offset;
        return step;
      }
    }
    buffer_.clear();
  }
  SocksStep step;
  step.reply = std::move(replies);
  return step;
}

}  // namespace tlsglass::proxy
