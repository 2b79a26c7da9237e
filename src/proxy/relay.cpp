// The relay: bytes read from one side are written to the other exactly as they came. A FIN is
// passed on as a shutdown of the other socket while the other direction keeps flowing; an RST
// as an RST; a full write queue stops reading the side that fills it (DESIGN.md
// "Faithfulness rules").
#include <vector>

#include "tlsglass/proxy/connection.hpp"
#include "tlsglass/proxy/worker.hpp"

namespace tlsglass::proxy {

using trace::CloseKind;
using trace::Side;

// The part of a read the kernel did not take at once, queued until libuv has written it.
struct Connection::PendingWrite {
  uv_write_t request;
  Connection* connection = nullptr;
  Side to = Side::client;
  std::vector<std::uint8_t> bytes;
};

void Connection::start_reading(Side side) {
  Peer& peer = this->peer(side);
  if (!peer.open || peer.reading || peer.eof || peer.throttled) return;
  if (uv_read_start(stream(side), on_alloc, on_read_cb) == 0) peer.reading = true;
}

void Connection::stop_reading(Side side) {
  Peer& peer = this->peer(side);
  if (!peer.reading) return;
  uv_read_stop(stream(side));
  peer.reading = false;
}

void Connection::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  *buf = static_cast<Connection*>(handle->data)->worker_.read_buffer();
}

void Connection::on_read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  self->on_read(self->side_of(stream), nread, buf);
}

void Connection::on_read(Side from, ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0 || closing()) return;  // 0: EAGAIN, nothing read
  if (nread == UV_EOF) {
    on_fin(from);
    return;
  }
  if (nread < 0) {  // ECONNRESET, or another error that ends the socket: an abortive close
    on_broken(from);
    return;
  }
  last_activity_ = uv_now(worker_.loop());
  const tls::Bytes bytes(reinterpret_cast<const std::uint8_t*>(buf->base),
                         static_cast<std::size_t>(nread));
  switch (phase_) {
    case Phase::request:
      observe(from, bytes);
      if (!closing()) read_request(bytes);
      return;
    case Phase::relaying: {
      // The session reads the bytes before they go on, so a close they provoke finds them
      // in the record; the record itself is written after the bytes are on their way.
      const trace::Timestamp at = now();
      if (session_ && session_->wants_bytes()) session_->on_bytes(from, bytes, at);
      capture(from, bytes, at);
      forward(other(from), bytes);
      settle_record();
      return;
    }
    default:
      return;  // answering, draining: what still arrives is read and dropped
  }
}

void Connection::on_fin(Side from) {
  Peer& peer = this->peer(from);
  peer.eof = true;
  peer.reading = false;  // libuv stops reading a stream at its EOF
  note_close(from, CloseKind::fin);
  if (closing()) return;
  switch (phase_) {
    case Phase::relaying:
      // RFC 9293 §3.6: a FIN closes one direction only. Pass it on; the other direction
      // keeps flowing until its own FIN.
      shut_down_writes(other(from));
      maybe_finished();
      return;
    case Phase::draining:
      return;
    default:
      teardown();  // the client left before a tunnel existed, or after our answer
      return;
  }
}

void Connection::on_broken(Side side) {
  stop_reading(side);
  if (side == Side::server && session_ && server_socket_ && looped_back(*server_socket_)) {
    session_->on_upstream_unreachable(loop_words(target_), now());
  }
  note_close(side, CloseKind::rst);
  if (closing()) return;
  if (phase_ == Phase::draining) {
    teardown(drain_side_);
    return;
  }
  if (phase_ != Phase::relaying) {
    teardown();
    return;
  }
  // An RST is passed on as an RST - after what was already queued for the other side, so it
  // sees the data (an alert, say) that came before the reset, as it would without us.
  const Side to = other(side);
  if (peer(to).writes == 0) {
    teardown(to);
    return;
  }
  drain_side_ = to;
  stop_reading(to);
  enter(Phase::draining);
}

void Connection::forward(Side to, tls::Bytes bytes) {
  Peer& peer = this->peer(to);
  if (!peer.open || peer.shutdown_sent || bytes.empty()) return;
  // Most writes complete at once; only what the kernel does not take is copied and queued.
  // uv_try_write returns UV_EAGAIN while earlier writes are queued, which keeps the order.
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                             static_cast<unsigned>(bytes.size()));
  int written = uv_try_write(stream(to), &buf, 1);
  if (written == UV_EAGAIN) written = 0;
  if (written < 0) {
    on_broken(to);
    return;
  }
  if (static_cast<std::size_t>(written) == bytes.size()) return;

  auto* pending = new PendingWrite;
  pending->request.data = pending;
  pending->connection = this;
  pending->to = to;
  pending->bytes.assign(bytes.begin() + written, bytes.end());
  uv_buf_t rest = uv_buf_init(reinterpret_cast<char*>(pending->bytes.data()),
                              static_cast<unsigned>(pending->bytes.size()));
  if (uv_write(&pending->request, stream(to), &rest, 1, on_written) < 0) {
    delete pending;
    on_broken(to);
    return;
  }
  ++peer.writes;
  // Backpressure: the sender waits while the receiver's queue is above the high-water mark;
  // after_write() resumes it below the low-water mark. Memory per direction stays near
  // high_water + one read.
  if (phase_ == Phase::relaying &&
      uv_stream_get_write_queue_size(stream(to)) > worker_.config().high_water) {
    this->peer(other(to)).throttled = true;
    stop_reading(other(to));
  }
}

void Connection::on_written(uv_write_t* request, int status) {
  auto* pending = static_cast<PendingWrite*>(request->data);
  Connection* self = pending->connection;
  const Side to = pending->to;
  delete pending;
  --self->peer(to).writes;
  if (status == UV_ECANCELED || self->closing()) return;  // cancelled by the close
  if (status < 0) {
    self->on_broken(to);
    return;
  }
  self->after_write(to);
}

void Connection::after_write(Side to) {
  if (phase_ == Phase::draining && to == drain_side_ && peer(to).writes == 0) {
    teardown(to);
    return;
  }
  Peer& sender = peer(other(to));
  if (sender.throttled &&
      uv_stream_get_write_queue_size(stream(to)) <= worker_.config().low_water) {
    sender.throttled = false;
    if (phase_ == Phase::relaying) start_reading(other(to));
  }
}

void Connection::shut_down_writes(Side to) {
  Peer& peer = this->peer(to);
  if (!peer.open || peer.shutdown_sent) return;
  peer.shutdown_sent = true;
  peer.shutdown.data = this;
  // libuv: uv_shutdown waits for the queued writes, then shuts the write side (our FIN).
  if (uv_shutdown(&peer.shutdown, stream(to), on_shutdown) < 0) peer.shutdown_done = true;
}

void Connection::on_shutdown(uv_shutdown_t* request, int status) {
  auto* self = static_cast<Connection*>(request->data);
  const Side to = request == &self->peer(Side::client).shutdown ? Side::client : Side::server;
  self->peer(to).shutdown_done = true;
  if (status == UV_ECANCELED || self->closing()) return;
  self->maybe_finished();
}

// Both sides sent their FIN and both got ours: nothing more can flow.
void Connection::maybe_finished() {
  if (phase_ != Phase::relaying) return;
  const Peer& client = peer(Side::client);
  const Peer& server = peer(Side::server);
  if (client.eof && server.eof && client.shutdown_done && server.shutdown_done) teardown();
}

}  // namespace tlsglass::proxy
