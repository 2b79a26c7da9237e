// run_proxy: bind every listen address (one SO_REUSEPORT socket per worker), start the workers,
// and wait on a small control loop for SIGINT/SIGTERM or request_stop().
#include "tlsglass/proxy/proxy.hpp"

#include <fmt/format.h>
#include <uv.h>

#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <mutex>
#include <thread>

#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/listener.hpp"
#include "tlsglass/proxy/self_addresses.hpp"
#include "tlsglass/proxy/worker.hpp"

namespace tlsglass::proxy {

namespace {

// The main thread's loop: signals in, stop requests out to the workers.
struct Control {
  uv_loop_t loop;
  uv_signal_t interrupt, terminate;
  uv_async_t wake;  // request_stop(), or a worker ended
  std::vector<std::unique_ptr<Worker>>* workers = nullptr;
  std::atomic<bool> stop_requested{false};
  std::atomic<unsigned> finished{0};
  unsigned signals = 0;
  bool closing = false;
};

std::mutex g_control_mutex;
Control* g_control = nullptr;
Counters g_counters;

void stop_workers(Control& control, bool immediately) {
  for (auto& worker : *control.workers) worker->stop(immediately);
}

void on_signal(uv_signal_t* handle, int) {
  auto& control = *static_cast<Control*>(handle->data);
  // First signal: stop accepting, let open connections finish. Second: close them now.
  stop_workers(control, ++control.signals > 1);
}

void on_wake(uv_async_t* handle) {
  auto& control = *static_cast<Control*>(handle->data);
  if (control.stop_requested.exchange(false)) stop_workers(control, false);
  if (control.closing || control.finished.load() < control.workers->size()) return;
  control.closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&control.interrupt), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&control.terminate), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&control.wake), nullptr);
}

// Whether something already listens on `address`. Our own sockets share the port through
// SO_REUSEPORT, and so would another process of the same user that set it too; a plain bind
// first tells "in use" apart. For port 0 it also picks the port every worker then binds.
std::optional<HostPort> probe(const HostPort& address, std::string& error) {
  const int fd = open_listen_socket(address, error, false);
  if (fd < 0) return std::nullopt;
  auto bound = bound_address(fd);
  ::close(fd);
  if (!bound) error = "getsockname failed";
  return bound;
}

// transparent mode: a TPROXY rule delivers connections for addresses that are not this host's;
// only a socket with IP_TRANSPARENT may accept them (ip(7), needs CAP_NET_ADMIN). Without it,
// REDIRECT rules still work: said once, not fatal.
void allow_tproxy(int fd, const HostPort& address, bool quiet = false) {
  const int on = 1;
  const bool v6 = address.host.find(':') != std::string::npos;
  const int status = v6 ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof on)
                        : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on);
  if (status != 0 && !quiet) {
    fmt::print(stderr,
               "tlsglass: {}: IP_TRANSPARENT refused ({}): TPROXY rules cannot reach this "
               "listener (it needs CAP_NET_ADMIN); REDIRECT rules still work\n",
               format_host_port(address), std::strerror(errno));
  }
}

void reset_counters() {
  g_counters.accepted = 0;
  g_counters.active = 0;
  g_counters.records = 0;
  g_counters.accept_errors = 0;
  g_counters.next_conn = 1;
}

}  // namespace

int run_proxy(const ProxyConfig& given, RecordSink sink,
              std::function<void(const std::vector<HostPort>&)> on_listening) {
  ProxyConfig config = given;
  if (config.mode == Mode::forward && !config.upstream) {
    fmt::print(stderr, "tlsglass: forward mode needs --upstream HOST:PORT\n");
    return 2;
  }
  if (config.listen.empty()) {
    const std::uint16_t port = config.mode == Mode::connect  ? 8080
                               : config.mode == Mode::socks5 ? 1080
                                                             : 8443;
    config.listen.push_back(HostPort{"127.0.0.1", port});
  }
  const unsigned workers =
      config.workers ? config.workers : std::max(1u, std::thread::hardware_concurrency());
  // A peer that vanished must be an EPIPE from write(), not the end of the proxy.
  std::signal(SIGPIPE, SIG_IGN);

  // Bind everything before a worker runs: an address in use is a one-line error, exit 1.
  std::vector<std::vector<int>> fds(workers);
  std::vector<HostPort> bound;
  auto close_all = [&] {
    for (auto& list : fds)
      for (int fd : list) ::close(fd);
  };
  for (const HostPort& address : config.listen) {
    std::string error;
    auto real = probe(address, error);
    for (unsigned w = 0; real && w < workers; ++w) {
      const int fd = open_listen_socket(*real, error);
      if (fd < 0) {
        real.reset();
        break;
      }
      if (config.mode == Mode::transparent) allow_tproxy(fd, *real, /*quiet=*/w > 0);
      fds[w].push_back(fd);
    }
    if (!real) {
      fmt::print(stderr, "tlsglass: cannot listen on {}: {}\n", format_host_port(address), error);
      close_all();
      return 1;
    }
    bound.push_back(*real);
  }

  const SelfAddresses self(bound);
  reset_counters();
  Control control;
  uv_loop_init(&control.loop);
  uv_async_init(&control.loop, &control.wake, on_wake);
  control.wake.data = &control;
  // What worked before, per server, for every worker's verdicts (declared before the pool: it
  // outlives the workers).
  trace::HelloHistory history;
  std::vector<std::unique_ptr<Worker>> pool;
  control.workers = &pool;
  for (unsigned w = 0; w < workers; ++w)
    pool.push_back(std::make_unique<Worker>(config, sink, g_counters, history, self));

  std::latch ready(workers);
  for (unsigned w = 0; w < workers; ++w) {
    pool[w]->start(std::move(fds[w]), ready, [&control] {
      control.finished.fetch_add(1);
      uv_async_send(&control.wake);
    });
  }
  ready.wait();
  std::string failure;
  for (auto& worker : pool) {
    if (failure.empty()) failure = worker->error();
  }
  if (!failure.empty()) stop_workers(control, true);

  uv_signal_init(&control.loop, &control.interrupt);
  uv_signal_init(&control.loop, &control.terminate);
  control.interrupt.data = control.terminate.data = &control;
  if (failure.empty()) {
    uv_signal_start(&control.interrupt, on_signal, SIGINT);
    uv_signal_start(&control.terminate, on_signal, SIGTERM);
    {
      std::lock_guard lock(g_control_mutex);
      g_control = &control;
    }
    if (on_listening) on_listening(bound);
  }
  uv_run(&control.loop, UV_RUN_DEFAULT);
  {
    std::lock_guard lock(g_control_mutex);
    g_control = nullptr;
  }
  pool.clear();  // joins the worker threads
  uv_loop_close(&control.loop);
  if (!failure.empty()) {
    fmt::print(stderr, "tlsglass: {}\n", failure);
    return 1;
  }
  return 0;
}

void request_stop() {
  std::lock_guard lock(g_control_mutex);
  if (!g_control) return;
  g_control->stop_requested = true;
  uv_async_send(&g_control->wake);
}

ProxyStats current_stats() {
  ProxyStats stats;
  stats.accepted = g_counters.accepted.load();
  stats.active = g_counters.active.load();
  stats.records = g_counters.records.load();
  stats.accept_errors = g_counters.accept_errors.load();
  return stats;
}

}  // namespace tlsglass::proxy
