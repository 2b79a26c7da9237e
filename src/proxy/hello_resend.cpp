// A captured ClientHello sent to a live server on a loop of its own, and the server's answer
// kept as transcript events (see hello_resend.hpp for the rules).
#include "tlsglass/proxy/hello_resend.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <csignal>

#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/upstream.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/record_reader.hpp"
#include "tlsglass/tls/types.hpp"

#if __has_include(<linux/sockios.h>)
#include <linux/sockios.h>
#endif

namespace tlsglass::proxy {

namespace {

using Stop = ResendResult::Stop;
using Kind = trace::TranscriptEvent::Kind;

// After our FIN, how long the server gets to close its side before we close the socket.
constexpr std::uint64_t kLingerMs = 1000;
// How long a chunk may wait in the kernel's send queue (a closed receive window) before the
// next one is written anyway.
constexpr std::uint64_t kMaxUnsentWaitMs = 1000;

trace::Timestamp now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::uint64_t milliseconds(double seconds) {
  return seconds <= 0 ? 0 : static_cast<std::uint64_t>(std::ceil(seconds * 1000));
}

uv_handle_t* as_handle(auto* handle) { return reinterpret_cast<uv_handle_t*>(handle); }
uv_stream_t* as_stream(uv_tcp_t* tcp) { return reinterpret_cast<uv_stream_t*>(tcp); }

// Tells when the server's bytes hold a complete answer to a ClientHello: the rule documented at
// ResendRequest::settle. Reads the records only as far as that.
class AnswerWatch final : public tls::RecordObserver {
 public:
  void feed(tls::Bytes bytes) {
    if (!complete_) reader_.feed(bytes, *this);
  }
  bool complete() const { return complete_; }

  void on_record(const tls::RecordHeader& header) override {
    // A plaintext or an encrypted alert: the server is ending the handshake.
    if (header.type == static_cast<std::uint8_t>(tls::ContentType::alert)) complete_ = true;
  }
  void on_handshake(const tls::HandshakeMessage& message) override {
    if (message.sslv2) {
      complete_ = complete_ || message.type == 4;  // SSLv2 SERVER-HELLO
      return;
    }
    if (message.type == static_cast<std::uint8_t>(tls::HandshakeType::server_hello)) {
      const tls::ServerHello hello = tls::parse_server_hello(message.body);
      // RFC 8446 §4.1.4: after a HelloRetryRequest the server waits for a second ClientHello.
      if (hello.hello_retry_request) {
        complete_ = true;
        return;
      }
      server_hello_ = true;
      tls13_ = hello.negotiated_version() == tls::version::tls13;
    } else if (message.type == static_cast<std::uint8_t>(tls::HandshakeType::server_hello_done)) {
      complete_ = complete_ || server_hello_;  // RFC 5246 §7.4.5: the end of its flight
    }
  }
  void on_change_cipher_spec() override {
    // TLS <= 1.2 abbreviated handshake: the server's CCS and Finished come first. In TLS 1.3
    // the CCS is only for middlebox compatibility (RFC 8446 §D.4).
    complete_ = complete_ || (server_hello_ && !tls13_);
  }
  void on_encrypted_record(const tls::RecordHeader&) override {
    // RFC 8446 §2: what follows a TLS 1.3 ServerHello is encrypted; it then waits for the
    // client's Finished.
    complete_ = complete_ || (server_hello_ && tls13_);
  }
  void on_error(tls::RecordError, std::size_t) override {
    if (reader_.failed())
      complete_ = true;  // not TLS (an HTTP answer, garbage): no flight to wait for
  }

 private:
  tls::RecordReader reader_;
  bool server_hello_ = false;
  bool tls13_ = false;
  bool complete_ = false;
};

// One exchange. Every handle is closed exactly once through uv_close, and the object outlives
// the loop that runs them.
class HelloResend final : public Dialer::Events {
 public:
  explicit HelloResend(const ResendRequest& request) : request_(request), dialer_(&loop_, *this) {}

  ResendResult run();

 private:
  void on_dialed(DialedSocket* socket, const trace::Endpoint& server) override;
  void on_dial_failed(DialFailure failure) override;
  void dial_timed_out();

  void write_next();
  std::size_t unsent_bytes() const;
  void add_event(trace::Side from, Kind kind, tls::Bytes bytes = {});
  void on_server_bytes(tls::Bytes bytes);
  void on_server_close(ssize_t status);
  // Ends the wait for the answer: our FIN, then the close once the server has closed or
  // kLingerMs passed.
  void stop(Stop why);
  void close_socket();
  void close_timers();

  static void on_deadline(uv_timer_t* timer);
  static void on_pause(uv_timer_t* timer);
  static void on_settled(uv_timer_t* timer);
  static void on_written(uv_write_t* request, int status);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_shutdown(uv_shutdown_t* request, int status);
  static HelloResend* self(void* data) { return static_cast<HelloResend*>(data); }

  const ResendRequest& request_;
  uv_loop_t loop_{};
  Dialer dialer_;
  // deadline_: the connect timeout, then the answer timeout, then the linger after our FIN.
  uv_timer_t deadline_{}, pause_{}, settle_{};
  bool timers_closed_ = false;
  DialedSocket* socket_ = nullptr;  // ours from on_dialed until its close callback
  bool socket_closing_ = false;
  uv_write_t write_{};
  uv_shutdown_t shutdown_{};
  std::array<char, 64 * 1024> buffer_{};
  std::size_t next_chunk_ = 0;
  std::uint64_t unsent_wait_ms_ = 0;
  bool server_closed_ = false;
  bool stopping_ = false;
  AnswerWatch watch_;
  ResendResult result_;
};

ResendResult HelloResend::run() {
  result_.started = now();
  uv_loop_init(&loop_);
  for (uv_timer_t* timer : {&deadline_, &pause_, &settle_}) {
    uv_timer_init(&loop_, timer);
    timer->data = this;
  }
  uv_timer_start(&deadline_, on_deadline, milliseconds(request_.connect_timeout_s), 0);
  dialer_.dial({request_.host, request_.port}, nullptr);  // may call back before it returns
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  return std::move(result_);
}

void HelloResend::on_dial_failed(DialFailure failure) {
  result_.stop = Stop::connect_failed;
  result_.connect_error = std::move(failure.reason);
  result_.server = dialer_.last_tried();
  result_.stopped = now();
  close_timers();
}

void HelloResend::dial_timed_out() {
  const HostPort target{request_.host, request_.port};
  std::string reason = dialer_.timeout_reason(target, request_.connect_timeout_s);
  dialer_.cancel();
  result_.stop = Stop::connect_failed;
  result_.connect_error = std::move(reason);
  result_.server = dialer_.last_tried();
  result_.stopped = now();
  close_timers();
}

void HelloResend::on_dialed(DialedSocket* socket, const trace::Endpoint& server) {
  socket_ = socket;
  socket->tcp.data = this;
  result_.connected = now();
  result_.server = server;
  sockaddr_storage local{};
  int length = sizeof local;
  if (uv_tcp_getsockname(&socket->tcp, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
    result_.client = endpoint_of(reinterpret_cast<const sockaddr*>(&local));
  }
  // The Dialer set TCP_NODELAY: a chunk goes out when it is written, not when Nagle says.
  // Until the last chunk is written the answer timeout guards the sending too.
  uv_timer_start(&deadline_, on_deadline, milliseconds(request_.answer_timeout_s), 0);
  // Read from the start: a server (or middlebox) that answers or resets after the first
  // segment must be seen doing so.
  const int status = uv_read_start(
      as_stream(&socket->tcp),
      [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
        HelloResend* resend = self(handle->data);
        *buf = uv_buf_init(resend->buffer_.data(), resend->buffer_.size());
      },
      on_read);
  if (status < 0) {
    result_.socket_error = uv_error_words(status);
    stop(Stop::server_closed);
    return;
  }
  write_next();
}

void HelloResend::write_next() {
  if (stopping_ || server_closed_) return;
  while (next_chunk_ < request_.chunks.size() && request_.chunks[next_chunk_].empty()) {
    ++next_chunk_;  // nothing to send, no segment to make
  }
  if (next_chunk_ == request_.chunks.size()) {
    uv_timer_start(&deadline_, on_deadline, milliseconds(request_.answer_timeout_s), 0);
    return;
  }
  const std::vector<std::uint8_t>& chunk = request_.chunks[next_chunk_++];
  // libuv only reads the buffer: the request's bytes outlive the write.
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(const_cast<std::uint8_t*>(chunk.data())),
                             static_cast<unsigned>(chunk.size()));
  write_.data = this;
  const int status = uv_write(&write_, as_stream(&socket_->tcp), &buf, 1, on_written);
  if (status < 0) {
    // The connection is gone (the server reset it): the read side reports how.
    result_.socket_error = uv_error_words(status);
    return;
  }
  add_event(trace::Side::client, Kind::data, tls::Bytes(chunk));
}

void HelloResend::on_written(uv_write_t* request, int status) {
  HelloResend* resend = self(request->data);
  if (status < 0) {
    if (status != UV_ECANCELED) resend->result_.socket_error = uv_error_words(status);
    return;
  }
  ++resend->result_.chunks_sent;
  if (resend->stopping_ || resend->server_closed_) return;
  if (resend->next_chunk_ < resend->request_.chunks.size()) {
    resend->unsent_wait_ms_ = 0;
    uv_timer_start(&resend->pause_, on_pause,
                   static_cast<std::uint64_t>(resend->request_.segment_pause.count()), 0);
  } else {
    resend->write_next();  // none left: the answer timeout starts now
  }
}

// Bytes written but not yet sent by TCP (Linux SIOCOUTQNSD): while there are any, the next
// write could be merged into their segment.
std::size_t HelloResend::unsent_bytes() const {
#ifdef SIOCOUTQNSD
  uv_os_fd_t fd;
  int unsent = 0;
  if (socket_ && uv_fileno(as_handle(&socket_->tcp), &fd) == 0 &&
      ioctl(fd, SIOCOUTQNSD, &unsent) == 0 && unsent > 0) {
    return static_cast<std::size_t>(unsent);
  }
#endif
  return 0;
}

void HelloResend::on_pause(uv_timer_t* timer) {
  HelloResend* resend = self(timer->data);
  if (resend->unsent_bytes() > 0 && resend->unsent_wait_ms_ < kMaxUnsentWaitMs) {
    ++resend->unsent_wait_ms_;
    uv_timer_start(timer, on_pause, 1, 0);
    return;
  }
  resend->write_next();
}

void HelloResend::add_event(trace::Side from, Kind kind, tls::Bytes bytes) {
  trace::TranscriptEvent event;
  event.at = now();
  event.from = from;
  event.kind = kind;
  event.bytes.assign(bytes.begin(), bytes.end());
  result_.events.push_back(std::move(event));
}

void HelloResend::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  HelloResend* resend = self(stream->data);
  if (nread > 0) {
    resend->on_server_bytes(tls::Bytes(reinterpret_cast<const std::uint8_t*>(buf->base),
                                       static_cast<std::size_t>(nread)));
  } else if (nread < 0) {
    resend->on_server_close(nread);
  }
}

void HelloResend::on_server_bytes(tls::Bytes bytes) {
  if (stopping_) return;  // after our FIN: drained, not kept
  const std::size_t room = request_.max_answer_bytes - result_.answer_bytes;
  const tls::Bytes kept = bytes.first(std::min(room, bytes.size()));
  if (!kept.empty()) {
    add_event(trace::Side::server, Kind::data, kept);
    result_.answer_bytes += kept.size();
    watch_.feed(kept);
  }
  if (result_.answer_bytes >= request_.max_answer_bytes) return stop(Stop::answer_cap);
  if (watch_.complete() && request_.settle.count() > 0) {
    uv_timer_start(&settle_, on_settled, static_cast<std::uint64_t>(request_.settle.count()), 0);
  }
}

void HelloResend::on_server_close(ssize_t status) {
  uv_read_stop(as_stream(&socket_->tcp));
  server_closed_ = true;
  const int error = static_cast<int>(status);
  if (error == UV_EOF) {
    add_event(trace::Side::server, Kind::fin);
    if (stopping_) return close_socket();  // our FIN went first; both sides are done
    return stop(Stop::server_closed);      // we close too, with a FIN
  }
  // UV_ECONNRESET is the server's RST. Any other read error (ETIMEDOUT: retransmissions gave
  // up) also ends the connection without a FIN: kept as an RST, its name in socket_error.
  if (error != UV_ECONNRESET) result_.socket_error = uv_error_words(error);
  add_event(trace::Side::server, Kind::rst);
  if (!stopping_) {
    stopping_ = true;
    result_.stop = Stop::server_closed;
    result_.stopped = now();
  }
  close_socket();  // nothing to send a FIN on
}

void HelloResend::on_settled(uv_timer_t* timer) { self(timer->data)->stop(Stop::answer_complete); }

void HelloResend::on_deadline(uv_timer_t* timer) {
  HelloResend* resend = self(timer->data);
  if (!resend->socket_) return resend->dial_timed_out();
  if (!resend->stopping_) return resend->stop(Stop::timeout);
  resend->close_socket();  // the server did not close within kLingerMs of our FIN
}

void HelloResend::stop(Stop why) {
  if (stopping_) return;
  stopping_ = true;
  result_.stop = why;
  result_.timed_out = why == Stop::timeout;
  result_.stopped = now();
  uv_timer_stop(&pause_);
  uv_timer_stop(&settle_);
  // A FIN, not an RST: the server sees an orderly end, as from a client that gave up. uv_shutdown
  // waits for a write still in flight.
  shutdown_.data = this;
  if (uv_shutdown(&shutdown_, as_stream(&socket_->tcp), on_shutdown) < 0) return close_socket();
  add_event(trace::Side::client, Kind::fin);
  uv_timer_start(&deadline_, on_deadline, kLingerMs, 0);
}

void HelloResend::on_shutdown(uv_shutdown_t* request, int status) {
  HelloResend* resend = self(request->data);
  // Already closed by the server (or the shutdown failed): nothing more will come.
  if (status < 0 || resend->server_closed_) resend->close_socket();
  // Otherwise reading goes on, draining, until the server's FIN or the linger timer.
}

void HelloResend::close_socket() {
  if (!socket_ || socket_closing_) return;
  socket_closing_ = true;
  uv_close(as_handle(&socket_->tcp), [](uv_handle_t* handle) {
    HelloResend* resend = self(handle->data);
    delete resend->socket_;
    resend->socket_ = nullptr;
  });
  close_timers();
}

void HelloResend::close_timers() {
  if (timers_closed_) return;
  timers_closed_ = true;
  for (uv_timer_t* timer : {&deadline_, &pause_, &settle_}) uv_close(as_handle(timer), nullptr);
}

}  // namespace

ResendResult resend_hello(const ResendRequest& request) {
  // A write to a connection the server has reset must be an EPIPE, not a signal that ends
  // the program (run_proxy does the same).
  std::signal(SIGPIPE, SIG_IGN);
  return HelloResend(request).run();
}

std::vector<std::vector<std::uint8_t>> even_chunks(tls::Bytes bytes, std::size_t count) {
  std::vector<std::vector<std::uint8_t>> chunks;
  if (bytes.empty()) return chunks;
  count = std::clamp<std::size_t>(count, 1, bytes.size());
  const std::size_t base = bytes.size() / count;
  const std::size_t larger = bytes.size() % count;  // chunks that carry base + 1 bytes
  std::size_t pos = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t size = base + (i < larger ? 1 : 0);
    const tls::Bytes chunk = bytes.subspan(pos, size);
    chunks.emplace_back(chunk.begin(), chunk.end());
    pos += size;
  }
  return chunks;
}

}  // namespace tlsglass::proxy
