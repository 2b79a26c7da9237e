// Sending a captured ClientHello to a live server (`tlsglass replay --to`) and keeping its
// answer, as a live connection's events: "does this server still reject this exact hello?".
//
// resend_hello() blocks: it runs a uv loop of its own, dials the server with the proxy's
// Dialer (async DNS, each address in turn), writes the chunks it is given - each one as its own
// TCP segment - and reads until the server closes, the answer timeout, the answer cap, or a
// complete server flight followed by silence. It never sends anything after the chunks (no
// ChangeCipherSpec, no second flight): the server's answer to the hello is the whole point.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/handshake_record.hpp"
#include "tlsglass/trace/transcript.hpp"

namespace tlsglass::proxy {

struct ResendRequest {
  std::string host;  // name or IP literal (no brackets)
  std::uint16_t port = 0;
  // Bytes to send, one write each, in order. Each chunk starts a TCP segment of its own (the
  // next write waits until the kernel has sent the previous one, then `segment_pause`); a
  // chunk larger than the path MSS still leaves as several segments.
  std::vector<std::vector<std::uint8_t>> chunks;
  double connect_timeout_s = 10;  // DNS and TCP connect, as the proxy's --connect-timeout
  double answer_timeout_s = 10;   // from the last chunk written to the end of the answer
  std::size_t max_answer_bytes = 256 * 1024;  // server bytes kept; reading stops there
  // Between writes. TCP_NODELAY turns off Nagle, but Linux still merges a small write into a
  // segment not yet sent (autocorking, and a full congestion window); and a receiver that
  // reads late sees merged segments as one read. A few ms after the previous chunk left lets
  // each arrive, and be read, on its own.
  std::chrono::milliseconds segment_pause{5};
  // Once the server's bytes hold a complete answer to a ClientHello, this much silence ends
  // the wait early (0: wait for the server's close or the timeout). Complete means: a
  // HelloRetryRequest; a TLS 1.3 ServerHello and then an encrypted record (its encrypted
  // flight: the rest is sealed, and it then waits for our Finished); a TLS <= 1.2
  // ServerHelloDone, or its ChangeCipherSpec (an abbreviated handshake); any alert record; an
  // SSLv2 SERVER-HELLO; or bytes that are not TLS at all. A server that stalls mid-flight is
  // still waited for until the timeout: that stall is what the record must show.
  std::chrono::milliseconds settle{500};
};

struct ResendResult {
  // Why reading stopped.
  enum class Stop : std::uint8_t {
    connect_failed,   // connect_error says why; no events
    server_closed,    // the server's FIN or RST (or a read error, kept as an RST)
    answer_complete,  // a complete answer and then `settle` of silence
    timeout,          // answer_timeout_s passed (timed_out)
    answer_cap,       // max_answer_bytes kept
  };
  Stop stop = Stop::connect_failed;

  // The server as connected to; when the connect failed, the last address tried (if any).
  std::optional<trace::Endpoint> server;
  std::optional<trace::Endpoint> client;  // the local address the connection came from
  // Why there is no connection, worded as the proxy's upstream_unreachable reasons:
  // "cannot resolve NAME: EAI_NONAME (unknown node or service)", "cannot connect to HOST:PORT:
  // 127.0.0.1:1 ECONNREFUSED (connection refused)", "connect to HOST:PORT timed out after
  // 10 s (trying 192.0.2.1:443)", "DNS lookup of NAME did not finish within 10 s".
  std::optional<std::string> connect_error;

  trace::Timestamp started{};    // resend_hello() was called
  trace::Timestamp connected{};  // the TCP connection was established (the SYN/ACK came)
  // In order: each chunk written (Side::client data, stamped when the write was issued), each
  // server read (Side::server data, as it arrived, up to max_answer_bytes), the server's FIN
  // or RST, and our FIN when we stopped (Side::client fin; also after the server's FIN: we
  // close too). Nothing is sent after a server RST. Server bytes that come after our FIN are
  // drained, not kept; the server's FIN or RST in that time (up to 1 s) is kept.
  std::vector<trace::TranscriptEvent> events;
  std::size_t chunks_sent = 0;   // fewer than requested when the server closed first
  std::size_t answer_bytes = 0;  // server bytes kept in events
  bool timed_out = false;        // stop == timeout
  trace::Timestamp stopped{};    // when the wait for the answer ended (the timeout's moment)
  // A write or read failure other than the peer's close, in libuv's words ("EPIPE (broken
  // pipe)"); empty when there was none.
  std::string socket_error;
};

// Runs the whole exchange on a loop of its own and returns when every handle is closed. One
// caveat: a DNS lookup already running on libuv's thread pool cannot be cancelled, so a
// connect timeout during the lookup is reported at once but resend_hello() returns only when
// the lookup itself ends. SIGPIPE is ignored from then on (as run_proxy does): a write to a
// connection the server reset is an error to report, not the end of the program.
ResendResult resend_hello(const ResendRequest& request);

// `bytes` cut into `count` chunks of even sizes (the first ones a byte larger), for
// `--split segments:N`; count is capped at one byte per chunk, and 0 means 1.
std::vector<std::vector<std::uint8_t>> even_chunks(tls::Bytes bytes, std::size_t count);

}  // namespace tlsglass::proxy
