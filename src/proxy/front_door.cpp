// How each mode learns where a client goes, and how it tells the client when it cannot get
// there: the CONNECT head (connect), the SOCKS5 request (socks5), the ClientHello's SNI (sni),
// the connection's original destination (transparent), or the one --upstream (forward).
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tlsglass/proxy/connection.hpp"
#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/self_addresses.hpp"
#include "tlsglass/proxy/worker.hpp"

// <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h> clash with the libc
// headers; the two option numbers are all that is needed from them.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace tlsglass::proxy {

using trace::Side;

namespace {

// sni mode reads this much of the client before it gives up on a ClientHello (one hello with a
// post-quantum key share is about 2 KB; RFC 8446 allows up to 2^24, nobody sends that).
constexpr std::size_t kMaxHelloWait = 64 * 1024;

SocksReply socks_reply_for(const DialFailure* failure, Answer answer) {
  if (answer == Answer::forbidden) return SocksReply::not_allowed;
  // A connect that timed out: TTL expired, as Dante's sockd answers ETIMEDOUT.
  if (answer == Answer::gateway_timeout) return SocksReply::ttl_expired;
  if (!failure) return SocksReply::general_failure;
  switch (failure->kind) {
    case DialFailure::Kind::dns: return SocksReply::host_unreachable;
    case DialFailure::Kind::denied:
    case DialFailure::Kind::loop: return SocksReply::not_allowed;
    case DialFailure::Kind::connect: break;
  }
  switch (failure->last_status) {
    case UV_ECONNREFUSED: return SocksReply::connection_refused;
    case UV_ENETUNREACH: return SocksReply::network_unreachable;
    case UV_EHOSTUNREACH: return SocksReply::host_unreachable;
    case UV_ETIMEDOUT: return SocksReply::ttl_expired;
    default: return SocksReply::general_failure;
  }
}

std::optional<sockaddr_storage> socket_address(uv_tcp_t* tcp, bool peer) {
  sockaddr_storage address{};
  int length = sizeof address;
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  const int status = peer ? uv_tcp_getpeername(tcp, raw, &length) : uv_tcp_getsockname(tcp, raw, &length);
  if (status != 0) return std::nullopt;
  return address;
}

}  // namespace

void Connection::open_front_door() {
  const ProxyConfig& config = worker_.config();
  dialer_.set_mark(config.upstream_mark);
  switch (config.mode) {
    case Mode::connect:
      request_ = std::make_unique<ConnectRequestReader>(config.max_request_head);
      break;
    case Mode::socks5:
      socks_ = std::make_unique<Socks5Negotiation>(config.socks_credentials);
      break;
    case Mode::sni:
      dialer_.set_loop_guard(&worker_.self_addresses());
      break;
    case Mode::transparent:
      dialer_.set_loop_guard(&worker_.self_addresses());
      dialer_.set_track_own(true);
      start_transparent();
      return;
    case Mode::forward:
      // The client is read once the server is there; until then the kernel holds what it sends.
      dial(*config.upstream, nullptr);
      return;
  }
  enter(Phase::request);
  start_reading(Side::client);
}

void Connection::read_request(tls::Bytes bytes) {
  switch (worker_.config().mode) {
    case Mode::connect:
      if (request_) read_connect_head(bytes);
      return;
    case Mode::socks5:
      if (socks_) read_socks(bytes);
      return;
    case Mode::sni:
      read_hello(bytes);
      return;
    case Mode::forward:
    case Mode::transparent:
      return;
  }
}

void Connection::read_connect_head(tls::Bytes bytes) {
  const ConnectHead head = request_->feed(bytes);
  if (head.state == ConnectHead::State::need_more) return;
  request_.reset();
  if (head.state == ConnectHead::State::refused) {
    answer(head.answer, head.reason);
    return;
  }
  // The head is complete. Whatever came after it in this read is the start of the tunnel
  // (a pipelined ClientHello): kept for the server, and the client is not read again until
  // the server is connected.
  stop_reading(Side::client);
  pending_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(head.tunnel_offset), bytes.end());
  dial_allowed(head.target);
}

void Connection::read_socks(tls::Bytes bytes) {
  SocksStep step = socks_->feed(bytes);
  reply(step.reply);
  if (closing()) return;
  switch (step.state) {
    case SocksStep::State::need_more:
      return;
    case SocksStep::State::refused:
      socks_.reset();
      if (session_) {
        session_->on_upstream_unreachable(step.reason, now());
        settle_record();
      }
      linger_after_refusal();
      return;
    case SocksStep::State::complete:
      socks_.reset();
      stop_reading(Side::client);
      pending_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(step.tunnel_offset), bytes.end());
      dial_allowed(step.target);
      return;
  }
}

// sni mode: the session reads the hello as it comes (observe() gave it the bytes); the bytes
// wait here for the server the hello names.
void Connection::read_hello(tls::Bytes bytes) {
  if (pending_.size() + bytes.size() > kMaxHelloWait) {
    route_without_sni(fmt::format(" (no complete ClientHello in the first {} KiB)", kMaxHelloWait / 1024));
    return;
  }
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  const trace::ClientOpening opening =
      session_ ? session_->client_opening()
               : trace::ClientOpening{trace::ClientOpening::State::not_hello, std::nullopt};
  switch (opening.state) {
    case trace::ClientOpening::State::pending:
      return;
    case trace::ClientOpening::State::not_hello:
      route_without_sni(" (its first bytes are not a ClientHello)");
      return;
    case trace::ClientOpening::State::hello:
      break;
  }
  if (!opening.server_name) {
    route_without_sni("");
    return;
  }
  stop_reading(Side::client);
  // The port is the one the client connected to, unless --resolve gives one.
  std::uint16_t port = 443;
  if (auto local = socket_address(&client_tcp_, false)) {
    if (auto endpoint = endpoint_of(reinterpret_cast<const sockaddr*>(&*local))) port = endpoint->port;
  }
  HostPort target{*opening.server_name, port};
  if (const ResolveOverride* entry = find_resolve_override(worker_.config().resolve, target.host)) {
    target.host = entry->ip;
    if (entry->port) target.port = *entry->port;
  }
  dial_allowed(target);
}

// A ClientHello without SNI (or no hello at all) has no server in sni mode: --default-upstream
// if there is one, else an RST - with a no_sni record either way (the default server's
// answer decides the record when there is one).
void Connection::route_without_sni(const std::string& why) {
  stop_reading(Side::client);
  const ProxyConfig& config = worker_.config();
  if (config.default_upstream) {
    if (session_) {
      session_->note_route(fmt::format("client sent no SNI{}: sni mode sent it to "
                                       "--default-upstream {}",
                                       why, format_host_port(*config.default_upstream)));
    }
    dial_allowed(*config.default_upstream);
    return;
  }
  if (session_) {
    session_->on_no_route(
        fmt::format("client sent no SNI{}, and sni mode has nowhere to send it without "
                    "--default-upstream: the proxy reset the connection", why),
        now());
  }
  teardown(Side::client);
}

// transparent mode: the kernel redirected the connection here. REDIRECT (NAT) rewrote its
// destination and keeps the original in conntrack (SO_ORIGINAL_DST); TPROXY did not rewrite
// it, so the socket's own local address is the original destination.
void Connection::start_transparent() {
  std::optional<sockaddr_storage> original;
  uv_os_fd_t fd = -1;
  const auto local = socket_address(&client_tcp_, false);
  if (local && uv_fileno(reinterpret_cast<uv_handle_t*>(&client_tcp_), &fd) == 0) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const bool v6 = local->ss_family == AF_INET6;
    if (getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST,
                   &address, &length) == 0) {
      original = address;
    } else {
      original = local;
    }
  }
  const auto destination =
      original ? endpoint_of(reinterpret_cast<const sockaddr*>(&*original)) : std::nullopt;
  if (!destination) {
    if (session_) session_->on_upstream_unreachable("the connection's original destination is unknown", now());
    teardown(Side::client);
    return;
  }
  const HostPort target{destination->ip, destination->port};
  target_ = target;
  if (session_) session_->set_destination(*destination);
  if (transcript_) transcript_->server = *destination;
  std::string loop;
  if (worker_.self_addresses().contains(*original)) {
    loop = fmt::format(
        "the connection's original destination {} is the proxy itself: it was not redirected "
        "(a client that connected to the proxy directly); not relayed, to avoid a loop",
        format_host_port(target));
  } else if (auto peer = socket_address(&client_tcp_, true); peer && is_own_connection(*peer)) {
    mark_looped_back(*peer);
    loop = fmt::format(
        "the proxy's own connection to {} was redirected back to it: exempt the proxy's "
        "connections from the redirect rule (--upstream-mark N and `-m mark ! --mark N`); not "
        "relayed, to avoid a loop",
        format_host_port(target));
  }
  if (!loop.empty()) {
    if (session_) session_->on_upstream_unreachable(loop, now());
    teardown(Side::client);
    return;
  }
  dial_allowed(target);
}

void Connection::dial_allowed(const HostPort& target) {
  const auto& rules = worker_.config().allow_dest;
  switch (check_destination(rules, target.host, target.port)) {
    case RuleVerdict::allowed:
      dial(target, nullptr);
      return;
    case RuleVerdict::by_address:
      dial(target, &rules);
      return;
    case RuleVerdict::denied:
      denied_ = true;
      target_ = target;
      tell_client_unreachable(
          nullptr, Answer::forbidden,
          fmt::format("{} is not allowed by --allow-dest", format_host_port(target)));
      return;
  }
}

// The server is connected: a CONNECT or SOCKS5 client is told so before the tunnel opens.
void Connection::on_server_connected() {
  switch (worker_.config().mode) {
    case Mode::connect:
      answer(Answer::established);
      return;
    case Mode::socks5: {
      std::optional<trace::Endpoint> bound;
      if (auto local = socket_address(&server_socket_->tcp, false))
        bound = endpoint_of(reinterpret_cast<const sockaddr*>(&*local));
      reply(socks_reply_bytes(SocksReply::succeeded, bound));
      return;
    }
    case Mode::forward:
    case Mode::sni:
    case Mode::transparent:
      return;
  }
}

// The server could not be reached (or may not be): the record says upstream_unreachable and
// why. A CONNECT client gets an HTTP answer, a SOCKS5 client its reply code (RFC 1928 §6),
// both followed by a FIN; a client of the other modes gets what a refused connection gives
// it, an RST.
void Connection::tell_client_unreachable(const DialFailure* failure, Answer answer,
                                         const std::string& reason) {
  switch (worker_.config().mode) {
    case Mode::connect:
      this->answer(answer, reason);
      return;
    case Mode::socks5: {
      const SocksReply code = socks_reply_for(failure, answer);
      reply(socks_reply_bytes(code));
      if (closing()) return;
      if (session_) {
        session_->on_upstream_unreachable(
            fmt::format("{} (SOCKS5 reply: {})", reason, socks_reply_words(code)), now());
        settle_record();
      }
      linger_after_refusal();
      return;
    }
    case Mode::forward:
    case Mode::sni:
    case Mode::transparent:
      if (session_) session_->on_upstream_unreachable(reason, now());
      teardown(Side::client);
      return;
  }
}

// No complete CONNECT head, SOCKS5 request or ClientHello within the handshake timeout.
void Connection::request_timed_out() {
  const ProxyConfig& config = worker_.config();
  const std::string within = fmt::format("{:g} s", config.handshake_timeout_s);
  if (config.mode == Mode::connect) {
    answer(Answer::request_timeout, fmt::format("no complete CONNECT request within {}", within));
    return;
  }
  if (session_) {
    session_->on_timeout(now());
    settle_record();
  }
  linger_after_refusal();
}

}  // namespace tlsglass::proxy
