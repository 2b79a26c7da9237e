#include "tlsglass/proxy/listener.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/upstream.hpp"
#include "tlsglass/proxy/worker.hpp"

namespace tlsglass::proxy {

namespace {

constexpr int kBacklog = 4096;
constexpr std::uint64_t kAcceptPauseMs = 1000;
constexpr int kAcceptBatch = 64;

// Out of descriptors is said once, not once per refused client or per worker; again only if
// it comes back after a quiet minute (accept_errors in the stats counts every time).
constexpr std::int64_t kReportEveryMs = 60'000;
std::atomic<std::int64_t> g_reported_at{-kReportEveryMs};

bool first_report_in_a_while() {
  const std::int64_t now = static_cast<std::int64_t>(uv_hrtime() / 1'000'000);
  std::int64_t last = g_reported_at.load();
  while (now - last >= kReportEveryMs) {
    if (g_reported_at.compare_exchange_weak(last, now)) return true;
  }
  return false;
}

std::string errno_words(int error) {
  return uv_error_words(-error);  // libuv codes are negative errno values on Unix
}

}  // namespace

int open_listen_socket(const HostPort& address, std::string& error, bool reuse_port) {
  sockaddr_storage storage{};
  const auto ip = parse_ip(address.host);
  if (!ip) {
    error = fmt::format("{} is not an IP address", address.host);
    return -1;
  }
  if (ip->v6) {
    uv_ip6_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in6*>(&storage));
  } else {
    uv_ip4_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in*>(&storage));
  }
  const int family = ip->v6 ? AF_INET6 : AF_INET;
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = fmt::format("socket: {}", errno_words(errno));
    return -1;
  }
  const int on = 1;
  // SO_REUSEADDR: restart while old connections linger in TIME_WAIT. SO_REUSEPORT: one socket
  // per worker on the same address.
  bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0;
  if (ok && reuse_port) ok = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0;
  if (ok && ip->v6) ok = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0;
  const socklen_t length = ip->v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (!ok || bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    error = errno_words(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

std::optional<HostPort> bound_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return std::nullopt;
  auto endpoint = endpoint_of(reinterpret_cast<sockaddr*>(&storage));
  if (!endpoint) return std::nullopt;
  return HostPort{endpoint->ip, endpoint->port};
}

Listener::Listener(uv_loop_t* loop, Counters& counters, Accept accept)
    : loop_(loop), counters_(counters), accept_(std::move(accept)) {
  uv_timer_init(loop, &pause_);
  pause_.data = this;
  open_ = true;
}

Listener::~Listener() {
  if (fd_ >= 0) ::close(fd_);
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

int Listener::listen(int fd) {
  fd_ = fd;
  if (::listen(fd_, kBacklog) != 0) return -errno;
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int status = uv_poll_init_socket(loop_, &poll_, fd_);
  if (status < 0) return status;
  poll_.data = this;
  polling_ = true;
  return uv_poll_start(&poll_, UV_READABLE, on_readable);
}

void Listener::close() {
  if (!open_) return;
  open_ = false;
  // uv_poll does not own the descriptor, and it must stay open while polled: it is closed
  // in the poll handle's close callback (or the destructor, if polling never started).
  if (polling_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* handle) {
      auto* self = static_cast<Listener*>(handle->data);
      ::close(self->fd_);
      self->fd_ = -1;
    });
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&pause_), nullptr);
}

void Listener::on_readable(uv_poll_t* poll, int status, int) {
  auto* self = static_cast<Listener*>(poll->data);
  if (status < 0 || !self->open_) return;
  // A bounded batch per wake-up: the loop's other connections get their turn.
  for (int i = 0; i < kAcceptBatch; ++i) {
    const int fd = ::accept4(self->fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      self->accept_(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    self->counters_.accept_errors.fetch_add(1, std::memory_order_relaxed);
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
      self->out_of_descriptors(errno);
    return;
  }
}

void Listener::out_of_descriptors(int error) {
  if (first_report_in_a_while()) {
    fmt::print(stderr,
               "tlsglass: accept: {}: refusing new connections, pausing accepts for {} ms "
               "(raise the descriptor limit, ulimit -n)\n",
               errno_words(error), kAcceptPauseMs);
  }
  refuse_waiting();
  uv_poll_stop(&poll_);
  uv_timer_start(&pause_, on_pause_over, kAcceptPauseMs, 0);
}

// The clients already in the accept queue get an RST now rather than a wait they cannot
// see the end of (libuv's "EMFILE trick", with the reserve descriptor given back after).
void Listener::refuse_waiting() {
  if (reserve_fd_ < 0) return;
  ::close(reserve_fd_);
  for (int i = 0; i < kAcceptBatch; ++i) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) break;
    const linger abort{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    ::close(fd);
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // may fail: next time, no refusal
}

void Listener::on_pause_over(uv_timer_t* timer) {
  auto* self = static_cast<Listener*>(timer->data);
  if (self->open_) uv_poll_start(&self->poll_, UV_READABLE, on_readable);
}

}  // namespace tlsglass::proxy
