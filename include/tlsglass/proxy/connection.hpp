// One proxied connection: the client's socket, the server's socket, the trace::Session that
// reads the handshake between them, and the one timer that bounds every wait.
//
// Ownership follows libuv's rule (STYLE.md): the Connection owns both sockets and its timer,
// closes each exactly once through teardown(), and deletes itself in the close callback of the
// last of them - never earlier, so every pending callback still finds it alive.
//
// connection.cpp holds the life cycle (accept, dialing, answers, timers, the record,
// teardown); front_door.cpp how each mode learns where the client goes (the CONNECT head, the
// SOCKS5 request, the ClientHello's SNI, the original destination of a redirected
// connection); relay.cpp moves the bytes (reads, writes, half-close, backpressure, resets).
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/proxy/connect_request.hpp"
#include "tlsglass/proxy/socks5_negotiation.hpp"
#include "tlsglass/proxy/upstream.hpp"
#include "tlsglass/trace/session.hpp"

namespace tlsglass::proxy {

class CertificateProber;
class Worker;

class Connection final : private Dialer::Events {
 public:
  // Serves the client on `fd`, a socket just accepted (closed here if libuv cannot take it).
  static void accept(Worker& worker, int fd);

  // The proxy is stopping: the record goes out now (if it has not yet) and both sides close.
  void shut_down();

 private:
  // Where the connection is in its life; each phase has one deadline on the timer.
  enum class Phase : std::uint8_t {
    request,    // reading what says where to go: a CONNECT head, a SOCKS5 request, the
                // ClientHello (sni mode) (deadline: handshake timeout)
    dialing,    // resolving and connecting the server (deadline: connect timeout)
    relaying,   // bytes flow both ways (deadlines: handshake timeout, idle timeout)
    answering,  // an error answer went out with a FIN; waiting for the client's close
    draining,   // one side broke; the other gets what was queued for it, then an RST
    closing,    // teardown() ran; waiting for the close callbacks
  };

  // One side's socket and what has happened to it.
  struct Peer {
    uv_tcp_t* tcp = nullptr;
    bool open = false;  // initialised and not yet closing
    bool reading = false;
    bool throttled = false;      // reading stopped: the other side's write queue is full
    bool eof = false;            // it sent a FIN
    bool close_noted = false;    // the session heard how it closed
    bool shutdown_sent = false;  // our FIN towards it is queued
    bool shutdown_done = false;
    unsigned writes = 0;  // uv_write requests in flight towards it
    uv_shutdown_t shutdown;
  };

  struct PendingWrite;

  explicit Connection(Worker& worker);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  Peer& peer(trace::Side side) { return peers_[static_cast<int>(side)]; }
  uv_stream_t* stream(trace::Side side) { return reinterpret_cast<uv_stream_t*>(peer(side).tcp); }
  trace::Side side_of(const uv_stream_t* stream) const;
  bool closing() const { return phase_ == Phase::closing; }
  void enter(Phase phase);

  // Where the client goes (front_door.cpp).
  void open_front_door();
  void read_request(tls::Bytes bytes);
  void read_connect_head(tls::Bytes bytes);
  void read_socks(tls::Bytes bytes);
  void read_hello(tls::Bytes bytes);
  void route_without_sni(const std::string& why);
  void start_transparent();
  void dial_allowed(const HostPort& target);
  void on_server_connected();
  void tell_client_unreachable(const DialFailure* failure, Answer answer, const std::string& reason);
  void request_timed_out();

  // Life cycle (connection.cpp).
  void dial(const HostPort& target, const std::vector<DestinationRule>* address_rules);
  void on_dialed(DialedSocket* socket, const trace::Endpoint& peer) override;
  void on_dial_failed(DialFailure failure) override;
  void dial_timed_out();
  void unreachable(Answer answer, const std::string& reason);
  void answer(Answer answer, const std::string& reason = {});
  // Bytes of the proxy's own to the client (an answer, a SOCKS reply): on the client's side of
  // the wire they come from the server, and the session and capture see them so.
  void reply(std::string_view bytes);
  // After a refusal went out: close our side with a FIN and read the client until it leaves.
  void linger_after_refusal();
  void arm_timer();
  void on_timer();
  void observe(trace::Side from, tls::Bytes bytes);
  // `at`: the read's time, the same the session was given (a replay of the capture then shows
  // the same timeline).
  void capture(trace::Side from, tls::Bytes bytes, trace::Timestamp at);
  void decide_capture(trace::HandshakeRecord* record);
  void note_close(trace::Side by, trace::CloseKind kind);
  void settle_record(bool final = false);
  bool probe_wanted(CertificateProber* prober);
  void teardown(std::optional<trace::Side> reset = std::nullopt);
  void close_peer(trace::Side side, bool reset);
  static void on_closed(uv_handle_t* handle);

  // The relay (relay.cpp).
  void start_reading(trace::Side side);
  void stop_reading(trace::Side side);
  void on_read(trace::Side from, ssize_t nread, const uv_buf_t* buf);
  void on_fin(trace::Side from);
  void on_broken(trace::Side side);
  void forward(trace::Side to, tls::Bytes bytes);
  void after_write(trace::Side to);
  void shut_down_writes(trace::Side to);
  void maybe_finished();
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(uv_write_t* request, int status);
  static void on_shutdown(uv_shutdown_t* request, int status);

  Worker& worker_;
  Phase phase_ = Phase::request;
  uv_tcp_t client_tcp_;
  DialedSocket* server_socket_ = nullptr;  // adopted from the Dialer
  uv_timer_t timer_;
  bool timer_open_ = false;
  int open_handles_ = 0;
  std::array<Peer, 2> peers_;

  std::unique_ptr<trace::Session> session_;  // until the record is out
  std::unique_ptr<trace::Transcript> transcript_;  // --capture-dir: while it may be kept
  std::unique_ptr<ConnectRequestReader> request_;  // connect mode, until the head is read
  std::unique_ptr<Socks5Negotiation> socks_;       // socks5 mode, until the request is read
  Dialer dialer_;
  HostPort target_;  // the server this client goes to, once known
  // Tunnel bytes read before the server was connected: what came with the CONNECT head or the
  // SOCKS5 request, the ClientHello sni mode routes on (bounded by kMaxHelloWait).
  std::vector<std::uint8_t> pending_;
  bool denied_ = false;                // --allow-dest refused the target
  bool handshake_timed_out_ = false;
  trace::Side drain_side_ = trace::Side::client;

  // Deadlines, in uv_now() milliseconds.
  std::uint64_t phase_started_ = 0;
  std::uint64_t handshake_due_ = 0;
  std::uint64_t accepted_ms_ = 0;  // loop time the client's connection was accepted
  trace::Timestamp accepted_at_{};  // and its wall-clock time (the capture's SYN)
  std::uint64_t last_activity_ = 0;
};

// The session's clock: wall time, microseconds.
trace::Timestamp now();

}  // namespace tlsglass::proxy
