// A connection's life: accept, the CONNECT head (connect mode), dialing the server, the
// answers, the timer, the record, and the one teardown that closes everything.
#include "tlsglass/proxy/connection.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/worker.hpp"

namespace tlsglass::proxy {

using trace::CloseKind;
using trace::Side;

namespace {

// After an error answer, or while a broken side's data drains to the other, the connection
// waits this long for the peer before it closes anyway.
constexpr std::uint64_t kLingerMs = 2000;

std::uint64_t milliseconds(double seconds) {
  return static_cast<std::uint64_t>(std::llround(std::max(seconds, 0.001) * 1000));
}

}  // namespace

trace::Timestamp now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

Connection::Connection(Worker& worker) : worker_(worker), dialer_(worker.loop(), *this) {
  worker_.add(this);
}

Connection::~Connection() {
  // Every socket has closed: the transcript holds what both sides did.
  const ProxyConfig& config = worker_.config();
  if (transcript_ && !transcript_->path.empty() && !transcript_->server.ip.empty() &&
      config.capture_sink) {
    config.capture_sink(std::move(*transcript_));
  }
  worker_.counters().active.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove(this);
}

void Connection::accept(Worker& worker, int fd) {
  auto* connection = new Connection(worker);
  worker.counters().active.fetch_add(1, std::memory_order_relaxed);
  uv_tcp_init(worker.loop(), &connection->client_tcp_);
  connection->client_tcp_.data = connection;
  connection->open_handles_ = 1;
  Peer& client = connection->peer(Side::client);
  client.tcp = &connection->client_tcp_;
  client.open = true;
  if (uv_tcp_open(&connection->client_tcp_, fd) < 0) {
    ::close(fd);
    connection->teardown();  // no session yet: no record for a client never served
    return;
  }
  worker.counters().accepted.fetch_add(1, std::memory_order_relaxed);
  connection->start();
}

void Connection::start() {
  uv_timer_init(worker_.loop(), &timer_);
  timer_.data = this;
  timer_open_ = true;
  ++open_handles_;
  uv_tcp_nodelay(&client_tcp_, 1);

  const ProxyConfig& config = worker_.config();
  trace::SessionConfig session;
  session.conn = worker_.next_conn();
  session.mode = mode_name(config.mode);
  session.history = &worker_.history();
  accepted_at_ = now();
  sockaddr_storage address{};
  int length = sizeof address;
  if (uv_tcp_getpeername(&client_tcp_, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    session.source = endpoint_of(reinterpret_cast<sockaddr*>(&address));
  if (config.capture_decision) {
    transcript_ = std::make_unique<trace::Transcript>();
    transcript_->conn = session.conn;
    if (session.source) transcript_->client = *session.source;
    // Until a server is known (and when none ever is: a name that did not resolve, a
    // forbidden destination), the capture shows what the client's side of the wire did: it
    // talked to the proxy's own address.
    length = sizeof address;
    if (uv_tcp_getsockname(&client_tcp_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      if (auto local = endpoint_of(reinterpret_cast<sockaddr*>(&address)))
        transcript_->server = *local;
    }
    transcript_->opened = accepted_at_;
    transcript_->max_bytes = config.capture_max_bytes_per_connection;
  }
  session_ = std::make_unique<trace::Session>(std::move(session));
  accepted_ms_ = uv_now(worker_.loop());
  open_front_door();
}

Side Connection::side_of(const uv_stream_t* stream) const {
  return stream == reinterpret_cast<const uv_stream_t*>(peers_[0].tcp) ? Side::client
                                                                       : Side::server;
}

void Connection::enter(Phase phase) {
  phase_ = phase;
  phase_started_ = uv_now(worker_.loop());
  arm_timer();
}

void Connection::dial(const HostPort& target, const std::vector<DestinationRule>* address_rules) {
  enter(Phase::dialing);
  target_ = target;
  dialer_.dial(target, address_rules);  // may call back before it returns
}

void Connection::on_dialed(DialedSocket* socket, const trace::Endpoint& server) {
  server_socket_ = socket;
  socket->tcp.data = this;
  ++open_handles_;
  Peer& peer = this->peer(Side::server);
  peer.tcp = &socket->tcp;
  peer.open = true;

  const ProxyConfig& config = worker_.config();
  std::optional<std::string> domain;
  if (!parse_ip(target_.host)) domain = target_.host;
  if (session_) session_->set_destination(server, domain);
  if (transcript_) transcript_->server = server;

  last_activity_ = uv_now(worker_.loop());
  // The handshake timeout runs from the client's connection, as a replay of its capture (whose
  // SYN is the accept) counts it - but a dial that took most of it still leaves the server half
  // the timeout (at most a second) to answer.
  handshake_due_ = std::max(accepted_ms_ + milliseconds(config.handshake_timeout_s),
                            last_activity_ + std::min<std::uint64_t>(
                                1000, milliseconds(config.handshake_timeout_s) / 2));
  enter(Phase::relaying);
  on_server_connected();
  if (closing()) return;
  if (!pending_.empty()) forward(Side::server, pending_);
  std::vector<std::uint8_t>().swap(pending_);
  if (closing()) return;
  start_reading(Side::client);
  start_reading(Side::server);
}

void Connection::on_dial_failed(DialFailure failure) {
  if (failure.kind == DialFailure::Kind::denied) denied_ = true;
  const Answer answer =
      failure.kind == DialFailure::Kind::denied ? Answer::forbidden : Answer::bad_gateway;
  if (auto last = dialer_.last_tried(); last && answer != Answer::forbidden) {
    if (session_) session_->set_destination(*last);
    // The capture shows the client talking to the address it could not reach.
    if (transcript_) transcript_->server = *last;
  }
  if (failure.kind == DialFailure::Kind::loop && worker_.config().mode == Mode::sni &&
      !parse_ip(target_.host)) {
    // A hosts file or DNS that points the name at the proxy (how clients are sent to it)
    // cannot also say where the name really lives.
    failure.reason += fmt::format(": give its real address with --resolve {}=IP", target_.host);
  }
  tell_client_unreachable(&failure, answer, failure.reason);
}

void Connection::dial_timed_out() {
  const ProxyConfig& config = worker_.config();
  const std::string reason = dialer_.timeout_reason(target_, config.connect_timeout_s);
  if (auto last = dialer_.last_tried()) {
    if (session_) session_->set_destination(*last);
    if (transcript_) transcript_->server = *last;
  }
  dialer_.cancel();
  tell_client_unreachable(nullptr, Answer::gateway_timeout, reason);
}

void Connection::reply(std::string_view bytes) {
  if (bytes.empty()) return;
  const tls::Bytes view(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  observe(Side::server, view);
  forward(Side::client, view);
}

void Connection::answer(Answer answer, const std::string& reason) {
  reply(answer_bytes(answer, reason));
  if (answer == Answer::established || closing()) return;

  if (session_) {
    if (answer == Answer::forbidden || answer == Answer::bad_gateway ||
        answer == Answer::gateway_timeout) {
      session_->on_upstream_unreachable(reason, now());
    } else if (answer == Answer::request_timeout) {
      session_->on_timeout(now());
    }
    settle_record();
  }
  linger_after_refusal();
}

// RFC 9112 §9.6 (and RFC 1928 §6 for SOCKS): close after the answer, but read what the client
// still sends until its FIN, so that unread bytes do not turn our close into an RST that
// destroys the answer.
void Connection::linger_after_refusal() {
  if (closing()) return;
  enter(Phase::answering);
  shut_down_writes(Side::client);
  if (!peer(Side::client).eof) start_reading(Side::client);
}

void Connection::arm_timer() {
  if (closing()) return;
  const ProxyConfig& config = worker_.config();
  std::uint64_t due = 0;
  switch (phase_) {
    case Phase::request:
      due = phase_started_ + milliseconds(config.handshake_timeout_s);
      break;
    case Phase::dialing:
      due = phase_started_ + milliseconds(config.connect_timeout_s);
      break;
    case Phase::relaying:
      due = last_activity_ + milliseconds(config.idle_timeout_s);
      if (session_ && !handshake_timed_out_) due = std::min(due, handshake_due_);
      break;
    case Phase::answering:
    case Phase::draining:
      due = phase_started_ + kLingerMs;
      break;
    case Phase::closing:
      return;
  }
  const std::uint64_t now_ms = uv_now(worker_.loop());
  uv_timer_start(
      &timer_, [](uv_timer_t* timer) { static_cast<Connection*>(timer->data)->on_timer(); },
      due > now_ms ? due - now_ms : 0, 0);
}

void Connection::on_timer() {
  const ProxyConfig& config = worker_.config();
  const std::uint64_t now_ms = uv_now(worker_.loop());
  switch (phase_) {
    case Phase::request:
      request_timed_out();
      return;
    case Phase::dialing:
      dial_timed_out();
      return;
    case Phase::relaying:
      if (session_ && !handshake_timed_out_ && now_ms >= handshake_due_) {
        // DESIGN.md: a handshake still unfinished gets its `timeout` record; the relay goes
        // on - giving up is the client's call.
        handshake_timed_out_ = true;
        // Stamped with the deadline itself, not the timer's (slightly later) firing: a replay
        // of the capture puts the timeout at the same moment.
        session_->on_timeout(accepted_at_ +
                             std::chrono::milliseconds(handshake_due_ - accepted_ms_));
        settle_record();
      }
      if (now_ms >= last_activity_ + milliseconds(config.idle_timeout_s)) {
        if (session_) session_->on_timeout(now());
        teardown();
        return;
      }
      arm_timer();
      return;
    case Phase::answering:
      teardown();
      return;
    case Phase::draining:
      teardown(drain_side_);
      return;
    case Phase::closing:
      return;
  }
}

void Connection::capture(Side from, tls::Bytes bytes, trace::Timestamp at) {
  if (transcript_) transcript_->add_data(from, bytes, at);
}

// Whether the connection's capture is kept, decided with its record (`record`, or a look at
// the session's when the record waits for a probe).
void Connection::decide_capture(trace::HandshakeRecord* record) {
  if (!transcript_ || !transcript_->path.empty()) return;
  const trace::HandshakeRecord peek = record ? trace::HandshakeRecord{} : session_->record();
  auto path = worker_.config().capture_decision(record ? *record : peek);
  if (!path) {
    transcript_.reset();
    return;
  }
  transcript_->path = *path;
  if (record) {
    record->capture = *path;
  } else {
    session_->set_capture(*path);
  }
}

void Connection::observe(Side from, tls::Bytes bytes) {
  const trace::Timestamp at = now();
  capture(from, bytes, at);
  if (!session_ || !session_->wants_bytes()) return;
  session_->on_bytes(from, bytes, at);
  settle_record();
}

void Connection::note_close(Side by, CloseKind kind) {
  Peer& peer = this->peer(by);
  if (peer.close_noted) return;
  peer.close_noted = true;
  const trace::Timestamp at = now();
  if (transcript_) transcript_->add_close(by, kind, at);
  if (!session_) return;
  session_->on_close(by, kind, at);
  settle_record();
}

// The record goes to the sink exactly once: as soon as the outcome is known, or at the close.
// The session is dropped with it: after the handshake the relay only moves bytes.
void Connection::settle_record(bool final) {
  if (!session_ || (!final && !session_->outcome_known())) return;
  if (CertificateProber* prober = worker_.prober()) {
    decide_capture(nullptr);
    if (probe_wanted(prober)) return;
  }
  trace::HandshakeRecord record = session_->record();
  session_.reset();
  decide_capture(&record);
  if (denied_) {
    record.next_step =
        fmt::format("tlsglass proxy --allow-dest {} ...  # to allow this destination",
                    format_host_port(target_));
  }
  worker_.emit(record);
}

// --probe-certs: the record waits for the proxy's own look at the server's certificate when the
// outcome hangs on it (or always, with =all, once a TLS server answered). The session goes to
// the prober, which emits the record.
bool Connection::probe_wanted(CertificateProber* prober) {
  const bool all = worker_.config().probe_certs == ProbeCerts::all;
  if (!all && !session_->wants_certificate_probe()) return false;
  const trace::HandshakeRecord peek = session_->record();
  if (!peek.destination || !peek.client_hello_seen) return false;
  if (all && !peek.server_hello_seen) return false;
  prober->submit(std::move(session_), *peek.destination, peek.client.server_name);
  return true;
}

void Connection::shut_down() {
  if (closing()) return;
  if (session_ && phase_ == Phase::dialing) {
    session_->on_upstream_unreachable("the proxy stopped before the server answered", now());
  } else if (session_) {
    session_->on_end_of_data(now());
  }
  teardown();
}

// The one close path. Every socket still open is closed here, with an RST for `reset`.
void Connection::teardown(std::optional<Side> reset) {
  if (closing()) return;
  phase_ = Phase::closing;
  dialer_.cancel();
  settle_record(true);
  close_peer(Side::client, reset == Side::client);
  close_peer(Side::server, reset == Side::server);
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  }
}

void Connection::close_peer(Side side, bool reset) {
  Peer& peer = this->peer(side);
  if (!peer.open) return;
  peer.open = false;
  auto* handle = reinterpret_cast<uv_handle_t*>(peer.tcp);
  if (reset) {
    // uv_tcp_close_reset refuses a socket with a shutdown pending (UV_EINVAL, libuv 1.44);
    // SO_LINGER {1, 0} on the descriptor gives the same RST on close (socket(7)).
    if (uv_tcp_close_reset(peer.tcp, on_closed) == 0) return;
    uv_os_fd_t fd;
    if (uv_fileno(handle, &fd) == 0) {
      const linger abort{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
  }
  uv_close(handle, on_closed);
}

void Connection::on_closed(uv_handle_t* handle) {
  auto* self = static_cast<Connection*>(handle->data);
  if (self->server_socket_ &&
      handle == reinterpret_cast<uv_handle_t*>(&self->server_socket_->tcp)) {
    delete self->server_socket_;
    self->server_socket_ = nullptr;
  }
  if (--self->open_handles_ == 0) delete self;
}

}  // namespace tlsglass::proxy
