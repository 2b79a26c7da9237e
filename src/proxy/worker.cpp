#include "tlsglass/proxy/worker.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "tlsglass/proxy/connection.hpp"
#include "tlsglass/proxy/listener.hpp"
#include "tlsglass/proxy/upstream.hpp"

namespace tlsglass::proxy {

Worker::Worker(const ProxyConfig& config, const RecordSink& sink, Counters& counters,
               trace::HelloHistory& history, const SelfAddresses& self)
    : config_(config), sink_(sink), counters_(counters), history_(history), self_(self) {
  uv_loop_init(&loop_);
  // Made before the thread starts, so stop() can be called from the start.
  uv_async_init(&loop_, &stop_async_, on_stop);
  stop_async_.data = this;
  uv_timer_init(&loop_, &grace_);
  grace_.data = this;
  uv_timer_init(&loop_, &trim_);
  trim_.data = this;
}

Worker::~Worker() {
  join();
  if (!started_) {  // never ran: close what the constructor opened
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&grace_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&trim_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop_);
}

void Worker::start(std::vector<int> listen_fds, std::latch& ready,
                   std::function<void()> on_finished) {
  on_finished_ = std::move(on_finished);
  started_ = true;
  thread_ = std::thread(
      [this, fds = std::move(listen_fds), &ready]() mutable { run(std::move(fds), ready); });
}

void Worker::run(std::vector<int> listen_fds, std::latch& ready) {
  for (int fd : listen_fds) {
    if (!error_.empty()) {
      ::close(fd);
      continue;
    }
    auto listener = std::make_unique<Listener>(&loop_, counters_,
                                               [this](int fd) { Connection::accept(*this, fd); });
    const int status = listener->listen(fd);
    if (status < 0) error_ = fmt::format("listen: {}", uv_error_words(status));
    listeners_.push_back(std::move(listener));
  }
  if (config_.probe_certs != ProbeCerts::off) {
    prober_ = std::make_unique<CertificateProber>(
        &loop_, config_.probe_timeout_s,
        [this](const trace::HandshakeRecord& record) { emit(record); },
        [this] { maybe_finish(); });
  }
  ready.count_down();
  if (!error_.empty()) stop(true);
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (on_finished_) on_finished_();
}

void Worker::stop(bool immediately) {
  int wanted = immediately ? 2 : 1;
  int current = stop_request_.load();
  while (current < wanted && !stop_request_.compare_exchange_weak(current, wanted)) {
  }
  uv_async_send(&stop_async_);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::on_stop(uv_async_t* handle) {
  auto* self = static_cast<Worker*>(handle->data);
  if (self->finished_) return;
  self->begin_stop();
  if (self->stop_request_.load() >= 2) self->close_connections();
  self->maybe_finish();
}

// Stop accepting; open connections get the grace period to finish on their own.
void Worker::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& listener : listeners_) listener->close();
  const auto grace_ms =
      static_cast<std::uint64_t>(std::llround(std::max(config_.shutdown_grace_s, 0.0) * 1000));
  uv_timer_start(
      &grace_, [](uv_timer_t* timer) { static_cast<Worker*>(timer->data)->close_connections(); },
      grace_ms, 0);
}

// Each connection still open writes its record and closes; the loop ends after their close
// callbacks.
void Worker::close_connections() {
  const std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* connection : open) connection->shut_down();
  // Records waiting for a probe go out now, unprobed (after the connections: none of them
  // starts a probe while the worker stops).
  if (prober_) prober_->cancel_all();
}

void Worker::maybe_finish() {
  if (!stopping_ || finished_ || !connections_.empty()) return;
  if (prober_ && !prober_->idle()) return;  // the grace timer cancels what is left
  finished_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&grace_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&trim_), nullptr);
}

void Worker::emit(const trace::HandshakeRecord& record) {
  counters_.records.fetch_add(1, std::memory_order_relaxed);
  if (sink_) sink_(record);
}

void Worker::add(Connection* connection) {
  connections_.insert(connection);
  peak_since_trim_ = std::max(peak_since_trim_, connections_.size());
}

void Worker::remove(Connection* connection) {
  connections_.erase(connection);
  if (!stopping_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(&trim_))) {
    uv_timer_start(
        &trim_, [](uv_timer_t* timer) { static_cast<Worker*>(timer->data)->trim_memory(); },
        kTrimDelayMs, 0);
  }
  maybe_finish();
}

// After a burst the allocator keeps the freed memory of its connections; once the load has
// at least halved, it goes back to the system (malloc_trim walks every thread's arena).
void Worker::trim_memory() {
  if (connections_.size() * 2 <= peak_since_trim_) malloc_trim(0);
  peak_since_trim_ = connections_.size();
}

}  // namespace tlsglass::proxy
