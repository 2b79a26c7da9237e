// Listen sockets. Each worker has its own socket per listen address, all bound to the same
// address with SO_REUSEPORT so the kernel spreads new connections over the workers (socket(7)).
// libuv 1.44 has no UV_TCP_REUSEPORT, so the socket is made here and handed to uv_tcp_open.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "tlsglass/proxy/proxy.hpp"

namespace tlsglass::proxy {

struct Counters;

// A socket bound to `address` with SO_REUSEADDR and SO_REUSEPORT (IPv6: IPV6_V6ONLY, so
// [::]:P and 0.0.0.0:P can both be listened on), not yet listening. On failure -1 and a
// one-line reason in `error`. Without `reuse_port` the bind fails on a port anyone listens on.
int open_listen_socket(const HostPort& address, std::string& error, bool reuse_port = true);

// The address a socket is bound to (the real port after binding port 0).
std::optional<HostPort> bound_address(int fd);

// Accepts on one listen socket. The listener watches the socket with uv_poll_t and calls
// accept4() itself instead of uv_listen(): libuv's accept loop cannot be paused, and when
// accept() fails with EMFILE/ENFILE and its reserve descriptor is gone (several loops share one
// descriptor table) it calls back and retries at once, in a loop (libuv stream.c,
// uv__server_io). Here, out of descriptors, the listener refuses the clients already waiting
// (an RST each, using a reserve descriptor), says so once, and stops polling for a second.
// Accepted sockets go to libuv with uv_tcp_open().
class Listener {
 public:
  using Accept = std::function<void(int fd)>;

  Listener(uv_loop_t* loop, Counters& counters, Accept accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Takes `fd` (from open_listen_socket) and listens on it; a libuv status.
  int listen(int fd);
  // Stops accepting; the socket is closed in the poll handle's close callback.
  void close();

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  static void on_pause_over(uv_timer_t* timer);
  void out_of_descriptors(int error);
  void refuse_waiting();

  uv_poll_t poll_;
  uv_timer_t pause_;
  uv_loop_t* loop_;
  Counters& counters_;
  Accept accept_;
  int fd_ = -1;
  int reserve_fd_ = -1;  // given up to refuse clients when the table is full
  bool polling_ = false;
  bool open_ = false;
};

}  // namespace tlsglass::proxy
