#include "test_peers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

namespace tlsglass::test {

namespace {

constexpr timeval kReceiveTimeout{10, 0};

void fail(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

Socket::Socket(int fd) : fd_(fd) {
  if (fd_ >= 0) setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &kReceiveTimeout, sizeof kReceiveTimeout);
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

int Socket::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

Socket Socket::connect_to(std::uint16_t port, const char* ip) {
  const bool v6 = std::string_view(ip).find(':') != std::string_view::npos;
  Socket socket(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket.valid()) fail("socket");
  sockaddr_storage address{};
  socklen_t length;
  if (v6) {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(address);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &in6.sin6_addr);
    length = sizeof in6;
  } else {
    auto& in4 = reinterpret_cast<sockaddr_in&>(address);
    in4.sin_family = AF_INET;
    in4.sin_port = htons(port);
    inet_pton(AF_INET, ip, &in4.sin_addr);
    length = sizeof in4;
  }
  if (::connect(socket.fd(), reinterpret_cast<sockaddr*>(&address), length) != 0) fail("connect");
  return socket;
}

void Socket::send_all(const std::string& bytes) const {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("send");
    done += static_cast<std::size_t>(n);
  }
}

std::string Socket::receive(std::size_t count) const {
  std::string out(count, '\0');
  std::size_t done = 0;
  while (done < count) {
    const ssize_t n = ::recv(fd_, out.data() + done, count - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

std::string Socket::receive_to_end(int* error) const {
  std::string out;
  char buffer[65536];
  if (error) *error = 0;
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (error) *error = errno;
      break;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

void Socket::shutdown_write() const { ::shutdown(fd_, SHUT_WR); }

void Socket::reset() {
  const linger abort{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  ::close(release());
}

TestServer::TestServer(std::function<void(Socket&)> handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) fail("bind");
  if (::listen(listen_fd_, 128) != 0) fail("listen");
  socklen_t length = sizeof address;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] {
    while (!stopping_) {
      pollfd ready{listen_fd_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, fd] {
        Socket socket(fd);
        handler_(socket);
      });
    }
  });
}

TestServer::~TestServer() {
  stopping_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  std::lock_guard lock(mutex_);
  for (auto& worker : workers_) worker.join();
}

void echo(Socket& socket) {
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    socket.send_all(std::string(buffer, static_cast<std::size_t>(n)));
  }
}

RunningProxy::RunningProxy(proxy::ProxyConfig config) {
  thread_ = std::thread([this, config] {
    const int code = proxy::run_proxy(
        config,
        [this](const trace::HandshakeRecord& record) {
          std::lock_guard lock(mutex_);
          records_.push_back(record);
          changed_.notify_all();
        },
        [this](const std::vector<proxy::HostPort>& bound) {
          std::lock_guard lock(mutex_);
          port_ = bound.front().port;
          listening_ = true;
          changed_.notify_all();
        });
    std::lock_guard lock(mutex_);
    exit_code_ = code;
    returned_ = true;
    changed_.notify_all();
  });
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, 10s, [this] { return listening_ || returned_; }) || !listening_)
    throw std::runtime_error("the proxy did not start listening");
}

RunningProxy::~RunningProxy() { stop(); }

int RunningProxy::stop() {
  if (thread_.joinable()) {
    proxy::request_stop();
    thread_.join();
  }
  return exit_code_;
}

std::vector<trace::HandshakeRecord> RunningProxy::wait_records(std::size_t count,
                                                               std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return records_.size() >= count; });
  return records_;
}

std::vector<trace::HandshakeRecord> RunningProxy::records() {
  std::lock_guard lock(mutex_);
  return records_;
}

FullBacklog::FullBacklog() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::listen(listen_fd_, 0);
  socklen_t length = sizeof address;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    fillers_.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);
}

FullBacklog::~FullBacklog() {
  for (int fd : fillers_) ::close(fd);
  ::close(listen_fd_);
}

proxy::ProxyConfig forward_to(std::uint16_t port) {
  proxy::ProxyConfig config;
  config.mode = proxy::Mode::forward;
  config.upstream = proxy::HostPort{"127.0.0.1", port};
  config.listen = {{"127.0.0.1", 0}};
  config.workers = 2;
  config.shutdown_grace_s = 0.2;
  return config;
}

proxy::ProxyConfig connect_mode() {
  proxy::ProxyConfig config;
  config.listen = {{"127.0.0.1", 0}};
  config.workers = 2;
  config.connect_timeout_s = 2;
  config.shutdown_grace_s = 0.2;
  return config;
}

std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string random_bytes(std::size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::string out(count, '\0');
  for (auto& c : out) c = static_cast<char>(generator() & 0xff);
  return out;
}

}  // namespace tlsglass::test
