// Real peers for the relay tests, on 127.0.0.1 only: blocking sockets driven from plain
// threads (a client, a server with one handler per connection), and the proxy itself run by
// run_proxy() on its own thread, its records collected.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tlsglass/proxy/proxy.hpp"

namespace tlsglass::test {

using namespace std::chrono_literals;

// A connected TCP socket with a receive timeout, so that a relay bug fails a test instead of
// hanging it. Closes on destruction.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd);
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  ~Socket();

  static Socket connect_to(std::uint16_t port, const char* ip = "127.0.0.1");
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();

  void send_all(const std::string& bytes) const;
  // Exactly `count` bytes, or fewer if the stream ended first.
  std::string receive(std::size_t count) const;
  // Everything until the peer's FIN; `error` gets errno if the stream ended with one.
  std::string receive_to_end(int* error = nullptr) const;
  void shutdown_write() const;
  // Close with an RST (SO_LINGER {1, 0}).
  void reset();

 private:
  int fd_ = -1;
};

// Listens on 127.0.0.1:0; each accepted connection runs `handler` on its own thread.
class TestServer {
 public:
  explicit TestServer(std::function<void(Socket&)> handler);
  ~TestServer();
  std::uint16_t port() const { return port_; }
  int connections() const { return accepted_.load(); }

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::function<void(Socket&)> handler_;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

// Echoes every byte back until the client's FIN, then closes.
void echo(Socket& socket);

// run_proxy() on a thread; the constructor returns once it listens.
class RunningProxy {
 public:
  explicit RunningProxy(proxy::ProxyConfig config);
  ~RunningProxy();  // stop()
  std::uint16_t port() const { return port_; }
  // request_stop() and wait for run_proxy() to return; its exit code.
  int stop();
  // Waits until at least `count` records arrived; all records so far.
  std::vector<trace::HandshakeRecord> wait_records(std::size_t count,
                                                   std::chrono::milliseconds timeout = 5s);
  std::vector<trace::HandshakeRecord> records();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<trace::HandshakeRecord> records_;
  std::uint16_t port_ = 0;
  bool listening_ = false;
  bool returned_ = false;
  int exit_code_ = -1;
  std::thread thread_;
};

// A listen socket whose accept queue is full: new SYNs are dropped (tcp(7)), so a connect to
// it hangs until the connecting side gives up.
class FullBacklog {
 public:
  FullBacklog();
  ~FullBacklog();
  FullBacklog(const FullBacklog&) = delete;
  FullBacklog& operator=(const FullBacklog&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

proxy::ProxyConfig forward_to(std::uint16_t port);
proxy::ProxyConfig connect_mode();
std::string random_bytes(std::size_t count, unsigned seed);
// A loopback port nothing listens on: bound, never listened on, then closed.
std::uint16_t closed_port();

}  // namespace tlsglass::test
