// trace::Session: one connection's two byte streams in, one HandshakeRecord out.
//
// The live proxy and offline replay call the very same API: bytes as they were read from
// each side (with the time they were read), closes (FIN or RST, by which side), a timeout,
// the end of the data. Nothing here does I/O; nothing here can alter the bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/tls/record_reader.hpp"
#include "tlsglass/trace/certificate_probe.hpp"
#include "tlsglass/trace/handshake_record.hpp"
#include "tlsglass/trace/hello_history.hpp"

namespace tlsglass::trace {

struct SessionLimits {
  tls::RecordLimits records;
  std::size_t max_timeline = 64;       // entries before the close events
  std::size_t max_prelude = 16 * 1024; // plaintext kept per side while looking for TLS
};

struct SessionConfig {
  std::uint64_t conn = 0;
  std::string mode = "analyze";
  std::optional<Endpoint> source, destination;
  SessionLimits limits;
  // Shared by all sessions of a proxy or a replay, outliving them: an `ok` outcome is
  // remembered in it, and a reset or silence after the ClientHello is compared with it.
  HelloHistory* history = nullptr;
  // `replay --to` (mode "resend"): the re-sent hello's framing and its captured connection.
  std::optional<std::string> framing;
  std::optional<std::uint64_t> resent_from;
};

// What the client's first bytes say about where it wants to go (sni mode routes on it).
struct ClientOpening {
  enum class State : std::uint8_t {
    pending,    // the ClientHello is not complete yet
    hello,      // a complete ClientHello: `server_name` is its SNI, if it sent one
    not_hello,  // no ClientHello will come: not TLS, a malformed record, the outcome settled
  };
  State state = State::pending;
  std::optional<std::string> server_name;
};

class Session {
 public:
  explicit Session(SessionConfig config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Bytes one side sent, as one read (a timeline entry groups what one read completed).
  void on_bytes(Side from, tls::Bytes bytes, Timestamp at);
  // A side closed its direction (FIN) or reset the connection (RST).
  void on_close(Side by, CloseKind kind, Timestamp at);
  // The handshake did not finish within the caller's timeout.
  void on_timeout(Timestamp at);
  // Offline input ended: nothing more will come.
  void on_end_of_data(Timestamp at);
  // A proxy could not connect to the server; `reason` says why, in words ("cannot resolve
  // app.example.test: EAI_NONAME ..."). Settles the outcome: upstream_unreachable.
  void on_upstream_unreachable(std::string reason, Timestamp at);
  // sni mode: a client whose ClientHello names no server, with no --default-upstream to send
  // it to; `reason` says what the proxy did (reset it). Settles the outcome: no_sni.
  void on_no_route(std::string reason, Timestamp at);
  // How a proxy chose this connection's server, when the record should say it ("no SNI: sent
  // to --default-upstream 10.0.0.5:443"): appended to the explanation, whatever the cause.
  void note_route(std::string note);
  // The server address the bytes go to, known only once a proxy has connected; `domain`
  // (the CONNECT host, the --upstream name) fills destination_domain until an SNI replaces it.
  void set_destination(Endpoint destination, std::optional<std::string> domain = {});
  // What `--probe-certs` found for this connection's server and SNI. Its chain fills
  // tls.server.* only when the wire showed none; the verdict judges it against the probe's time.
  void on_certificate_probe(CertificateProbe probe);
  // The file this connection's capture goes to (tlsglass.capture).
  void set_capture(std::string path);

  // Replay only - what the packets show beyond the bytes:
  // `missing` bytes of one direction are not in the capture: that side is not parsed past the
  // hole (its records would be misread), and the record lists the gap.
  void on_gap(Side from, std::uint64_t missing, Timestamp at);
  // Why the reset about to be reported by on_close looks injected by a middlebox (plain
  // sentences: "the RST carries no ACK flag", ...).
  void set_reset_injected_signs(std::vector<std::string> signs);
  // The client's ClientHello was sent `retransmissions` more times and never acknowledged.
  void on_unacknowledged_hello(std::uint32_t retransmissions);
  // The capture holds two different copies of one side's bytes at `offset` (the first was
  // kept): listed in tlsglass.problems.
  void on_conflicting_overlap(Side from, std::uint64_t offset, std::uint64_t length);

  // The outcome is settled: the record can be written now.
  bool outcome_known() const;
  // Whether the parser still needs the bytes (false once the outcome is known and the
  // handshake is over: the relay can stop feeding them).
  bool wants_bytes() const;
  // Whether the outcome hangs on a certificate the wire did not show (TLS 1.3: a client abort
  // right after the server's flight, or a completed handshake closed without a request) and no
  // probe has answered yet: a proxy with --probe-certs holds the record back and probes.
  bool wants_certificate_probe() const;
  // Bytes one side has sent so far (counted also once they are no longer parsed).
  std::uint64_t bytes_from(Side side) const;
  ClientOpening client_opening() const;
  // Which side the handshake waits for next, when the protocol says (offline interleaving).
  std::optional<Side> expected_sender() const;

  // The record so far, with the verdict for what has been seen.
  HandshakeRecord record() const;
  // The same record for a caller that is done with the session: its parts are moved out, not
  // copied. Nothing may be called on the session afterwards but its destructor.
  HandshakeRecord take_record();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsglass::trace
