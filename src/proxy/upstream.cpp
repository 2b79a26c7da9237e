#include "tlsglass/proxy/upstream.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/self_addresses.hpp"

namespace tlsglass::proxy {

namespace {

// A name may resolve to many addresses; trying more than this only delays the answer.
constexpr std::size_t kMaxAddresses = 16;

std::string endpoint_text(const sockaddr_storage& address) {
  auto endpoint = endpoint_of(reinterpret_cast<const sockaddr*>(&address));
  if (!endpoint) return "?";
  return format_host_port({endpoint->ip, endpoint->port});
}

// The proxy's own connections in flight or open, by local address (all workers share them).
std::mutex g_own_mutex;
std::unordered_set<std::string> g_own;
std::unordered_set<std::string> g_looped;  // of g_own's: refused as a loop where they arrived

std::string address_key(const sockaddr_storage& address) {
  auto endpoint = endpoint_of(reinterpret_cast<const sockaddr*>(&address));
  return endpoint ? format_host_port({endpoint->ip, endpoint->port}) : std::string();
}

// libuv makes a connect's socket inside uv_tcp_connect; a mark must be set before the SYN, so
// the socket is made here and handed to libuv (socket(7): SO_MARK needs CAP_NET_ADMIN).
int open_marked(uv_tcp_t& tcp, int family, std::uint32_t mark) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
    const int error = -errno;
    ::close(fd);
    return error;
  }
  const int status = uv_tcp_open(&tcp, fd);
  if (status < 0) ::close(fd);
  return status;
}

// The socket's memory is freed only here, after libuv is done with it.
void free_socket(uv_handle_t* handle) { delete static_cast<DialedSocket*>(handle->data); }

}  // namespace

DialedSocket::~DialedSocket() {
  if (own_key.empty()) return;
  std::lock_guard lock(g_own_mutex);
  g_own.erase(own_key);
  g_looped.erase(own_key);
}

std::string loop_words(const HostPort& target) {
  return fmt::format("the proxy's connection to {} was redirected back to the proxy itself (and "
                     "refused there, not to loop): exempt the proxy's connections from the "
                     "redirect rule (--upstream-mark N and `-m mark ! --mark N`)",
                     format_host_port(target));
}

void mark_looped_back(const sockaddr_storage& peer) {
  const std::string key = address_key(peer);
  std::lock_guard lock(g_own_mutex);
  if (g_own.count(key)) g_looped.insert(key);
}

bool looped_back(const DialedSocket& socket) {
  if (socket.own_key.empty()) return false;
  std::lock_guard lock(g_own_mutex);
  return g_looped.count(socket.own_key) != 0;
}

bool is_own_connection(const sockaddr_storage& peer) {
  const std::string key = address_key(peer);
  std::lock_guard lock(g_own_mutex);
  return g_own.count(key) != 0;
}

std::string uv_error_words(int status) {
  return fmt::format("{} ({})", uv_err_name(status), uv_strerror(status));
}

// The DNS request outlives a cancelled dialer: uv_cancel() cannot stop a lookup already
// running on the thread pool, and its callback comes anyway (libuv: uv_cancel).
struct Dialer::Lookup {
  uv_getaddrinfo_t request;
  Dialer* dialer = nullptr;
};

void Dialer::dial(const HostPort& target, const std::vector<DestinationRule>* address_rules) {
  target_ = target;
  rules_ = address_rules;
  if (auto ip = parse_ip(target.host)) {  // an IP literal needs no lookup
    sockaddr_storage address{};
    if (ip->v6) {
      uv_ip6_addr(target.host.c_str(), target.port, reinterpret_cast<sockaddr_in6*>(&address));
    } else {
      uv_ip4_addr(target.host.c_str(), target.port, reinterpret_cast<sockaddr_in*>(&address));
    }
    if (self_ && self_->contains(address)) {
      fail(DialFailure::Kind::loop,
           fmt::format("{} is the proxy itself: connecting would loop", format_host_port(target)));
      return;
    }
    dial_addresses(target, {address});
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;  // no AI_ADDRCONFIG: a loopback-only host still gets ::1
  auto* lookup = new Lookup;
  lookup->request.data = lookup;
  lookup->dialer = this;
  const std::string port = std::to_string(target.port);
  const int status = uv_getaddrinfo(loop_, &lookup->request, on_resolved, target.host.c_str(),
                                    port.c_str(), &hints);
  if (status < 0) {
    delete lookup;
    fail(DialFailure::Kind::dns,
         fmt::format("cannot resolve {}: {}", target.host, uv_error_words(status)));
    return;
  }
  lookup_ = lookup;
}

void Dialer::on_resolved(uv_getaddrinfo_t* request, int status, addrinfo* result) {
  auto* lookup = static_cast<Lookup*>(request->data);
  Dialer* self = lookup->dialer;
  delete lookup;
  if (!self) {  // cancelled while the lookup ran
    uv_freeaddrinfo(result);
    return;
  }
  self->lookup_ = nullptr;
  if (status < 0) {
    uv_freeaddrinfo(result);
    self->fail(DialFailure::Kind::dns,
               fmt::format("cannot resolve {}: {}", self->target_.host, uv_error_words(status)));
    return;
  }
  std::string refused, self_loop;
  for (const addrinfo* entry = result; entry && self->addresses_.size() < kMaxAddresses;
       entry = entry->ai_next) {
    if (entry->ai_family != AF_INET && entry->ai_family != AF_INET6) continue;
    sockaddr_storage address{};
    std::memcpy(&address, entry->ai_addr, entry->ai_addrlen);
    const auto ip = ip_of(address);
    if (self->rules_ && ip && !address_allowed(*self->rules_, *ip, self->target_.port)) {
      refused += (refused.empty() ? "" : ", ") + endpoint_text(address);
      continue;
    }
    if (self->self_ && self->self_->contains(address)) {
      self_loop += (self_loop.empty() ? "" : ", ") + endpoint_text(address);
      continue;
    }
    self->addresses_.push_back(address);
  }
  uv_freeaddrinfo(result);
  if (self->addresses_.empty() && !self_loop.empty()) {
    self->fail(DialFailure::Kind::loop,
               fmt::format("{} resolves to {}, the proxy itself: connecting would loop",
                           self->target_.host, self_loop));
    return;
  }
  if (self->addresses_.empty() && !refused.empty()) {
    self->fail(DialFailure::Kind::denied,
               fmt::format("{} resolves to {}, which --allow-dest does not allow",
                           format_host_port(self->target_), refused));
    return;
  }
  self->try_next();
}

void Dialer::dial_addresses(const HostPort& target, std::vector<sockaddr_storage> addresses) {
  target_ = target;
  addresses_ = std::move(addresses);
  next_ = 0;
  try_next();
}

void Dialer::try_next() {
  // Each failed attempt's socket is closed and a fresh one made: a socket whose connect
  // failed cannot be connected again (POSIX connect(): its state is unspecified).
  while (next_ < addresses_.size()) {
    const sockaddr_storage& address = addresses_[next_++];
    last_tried_ = endpoint_of(reinterpret_cast<const sockaddr*>(&address));
    auto* socket = new DialedSocket;
    socket->tcp.data = socket;
    socket->connect.data = socket;
    socket->dialer = this;
    int status = uv_tcp_init(loop_, &socket->tcp);
    if (status < 0) {  // nothing to close: the handle never existed
      delete socket;
      note_attempt(address, status);
      continue;
    }
    if (mark_ != 0) status = open_marked(socket->tcp, address.ss_family, mark_);
    if (status < 0) {
      note_attempt(address, status);
      uv_close(reinterpret_cast<uv_handle_t*>(&socket->tcp), free_socket);
      continue;
    }
    uv_tcp_nodelay(&socket->tcp, 1);
    // Tracked connections are listed under the lock held across connect(): on loopback the
    // kernel completes the handshake inside connect(), and another worker may accept the
    // redirected connection and ask is_own_connection() before the listing otherwise.
    std::unique_lock<std::mutex> own_lock(g_own_mutex, std::defer_lock);
    if (track_own_) own_lock.lock();
    status = uv_tcp_connect(&socket->connect, &socket->tcp,
                            reinterpret_cast<const sockaddr*>(&address), on_connected);
    if (status == 0 && track_own_) {
      sockaddr_storage local{};
      int length = sizeof local;
      if (uv_tcp_getsockname(&socket->tcp, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
        socket->own_key = address_key(local);
        g_own.insert(socket->own_key);
      }
    }
    if (own_lock.owns_lock()) own_lock.unlock();
    if (status < 0) {  // e.g. EMFILE: no socket for it
      note_attempt(address, status);
      uv_close(reinterpret_cast<uv_handle_t*>(&socket->tcp), free_socket);
      continue;
    }
    attempt_ = socket;
    return;
  }
  if (addresses_.empty()) {
    fail(DialFailure::Kind::dns, fmt::format("{} has no IPv4 or IPv6 address", target_.host));
    return;
  }
  fail(DialFailure::Kind::connect,
       fmt::format("cannot connect to {}: {}", format_host_port(target_), attempts_));
}

void Dialer::on_connected(uv_connect_t* request, int status) {
  auto* socket = static_cast<DialedSocket*>(request->data);
  Dialer* self = socket->dialer;
  if (!self) return;  // cancelled: the close already under way frees the socket
  self->attempt_ = nullptr;
  const sockaddr_storage& address = self->addresses_[self->next_ - 1];
  if (status < 0) {
    self->note_attempt(address, status);
    const bool looped = looped_back(*socket);
    uv_close(reinterpret_cast<uv_handle_t*>(&socket->tcp), free_socket);
    if (looped) {  // another address would loop the same way
      self->fail(DialFailure::Kind::loop, loop_words(self->target_));
      return;
    }
    self->try_next();
    return;
  }
  socket->dialer = nullptr;
  const auto peer = endpoint_of(reinterpret_cast<const sockaddr*>(&address));
  self->events_.on_dialed(socket, peer.value_or(trace::Endpoint{}));
}

void Dialer::note_attempt(const sockaddr_storage& address, int status) {
  last_status_ = status;
  if (!attempts_.empty()) attempts_ += "; ";
  attempts_ += endpoint_text(address) + " " + uv_error_words(status);
}

void Dialer::fail(DialFailure::Kind kind, std::string reason) {
  events_.on_dial_failed({kind, std::move(reason), last_status_});
}

std::string Dialer::timeout_reason(const HostPort& target, double timeout_s) const {
  const std::string within = fmt::format("{:g} s", timeout_s);
  if (resolving()) return fmt::format("DNS lookup of {} did not finish within {}", target.host, within);
  std::string reason = fmt::format("connect to {} timed out after {}", format_host_port(target), within);
  if (last_tried_) reason += " (trying " + format_host_port({last_tried_->ip, last_tried_->port}) + ")";
  if (!attempts_.empty()) reason += "; before that: " + attempts_;
  return reason;
}

void Dialer::cancel() {
  if (lookup_) {
    lookup_->dialer = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&lookup_->request));
    lookup_ = nullptr;
  }
  if (attempt_) {
    // The pending connect is called back with UV_ECANCELED before the close callback
    // (libuv: uv_close cancels a handle's requests); on_connected ignores it.
    attempt_->dialer = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&attempt_->tcp), free_socket);
    attempt_ = nullptr;
  }
}

}  // namespace tlsglass::proxy
