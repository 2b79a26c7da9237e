// A worker: one libuv event loop on its own thread, with its own SO_REUSEPORT listen socket for
// every listen address (the kernel spreads new connections over the workers), and the
// connections it accepted. Workers share nothing but the configuration, the record sink and
// the counters.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tlsglass/proxy/cert_probe.hpp"
#include "tlsglass/proxy/proxy.hpp"
#include "tlsglass/proxy/self_addresses.hpp"
#include "tlsglass/trace/hello_history.hpp"

namespace tlsglass::proxy {

class Connection;
class Listener;

// Totals over all workers (ProxyStats), and the connection numbers.
struct Counters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> active{0};
  std::atomic<std::uint64_t> records{0};
  std::atomic<std::uint64_t> accept_errors{0};
  std::atomic<std::uint64_t> next_conn{1};
};

class Worker {
 public:
  // Bytes one read may bring: the read buffer is the worker's, reused for every read (a read
  // is forwarded or copied before the next one starts).
  static constexpr std::size_t kReadBuffer = 64 * 1024;

  Worker(const ProxyConfig& config, const RecordSink& sink, Counters& counters,
         trace::HelloHistory& history, const SelfAddresses& self);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the loop on a new thread: listens on `listen_fds` (bound sockets, owned from now on),
  // then counts `ready` down (error() says if listening failed). `on_finished` is called on the
  // worker's thread when its loop has ended.
  void start(std::vector<int> listen_fds, std::latch& ready, std::function<void()> on_finished);
  // From any thread. Graceful: stop accepting, give open connections shutdown_grace_s, then
  // close them. Immediately: close them now. Either way each still gets its record.
  void stop(bool immediately);
  void join();
  const std::string& error() const { return error_; }

  // For this worker's connections (its own thread only).
  uv_loop_t* loop() { return &loop_; }
  const ProxyConfig& config() const { return config_; }
  uv_buf_t read_buffer() { return uv_buf_init(buffer_.data(), buffer_.size()); }
  std::uint64_t next_conn() { return counters_.next_conn.fetch_add(1); }
  Counters& counters() { return counters_; }
  trace::HelloHistory& history() { return history_; }
  const SelfAddresses& self_addresses() const { return self_; }
  void emit(const trace::HandshakeRecord& record);
  // --probe-certs: null when off. Records that wait for a probe go through it.
  CertificateProber* prober() { return stopping_ ? nullptr : prober_.get(); }
  void add(Connection* connection);
  void remove(Connection* connection);

 private:
  void run(std::vector<int> listen_fds, std::latch& ready);
  static void on_stop(uv_async_t* handle);
  void begin_stop();
  void close_connections();
  void maybe_finish();
  void trim_memory();

  const ProxyConfig& config_;
  const RecordSink& sink_;
  Counters& counters_;
  trace::HelloHistory& history_;
  const SelfAddresses& self_;
  uv_loop_t loop_;
  uv_async_t stop_async_;
  uv_timer_t grace_;
  uv_timer_t trim_;  // returns freed memory to the system after the load drops
  std::size_t peak_since_trim_ = 0;
  static constexpr std::uint64_t kTrimDelayMs = 1000;
  std::atomic<int> stop_request_{0};  // 0 none, 1 graceful, 2 immediately
  bool started_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<Connection*> connections_;
  std::unique_ptr<CertificateProber> prober_;
  std::array<char, kReadBuffer> buffer_;
  std::string error_;
  std::function<void()> on_finished_;
  std::thread thread_;
};

}  // namespace tlsglass::proxy
