// What the session observed that the verdict needs beyond the record's own fields: the shape
// of the encrypted records, who finished, who closed and when. Filled by Session, read by
// decide(); plain data so the verdict can be tested on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/trace/certificate_probe.hpp"
#include "tlsglass/trace/handshake_record.hpp"
#include "tlsglass/trace/hello_history.hpp"

namespace tlsglass::trace {

struct Evidence {
  bool tls13 = false;                 // the server selected TLS 1.3 (or a 1.3 draft)
  bool client_finished = false;       // TLS <=1.2: CCS + encrypted Finished; 1.3: its Finished
  bool server_finished = false;
  std::uint32_t server_encrypted_flight = 0;  // TLS 1.3: encrypted records after ServerHello
  // TLS 1.3: lengths of the client's first encrypted records after the server's flight.
  std::vector<std::uint16_t> client_post_flight_lengths;
  bool client_sent_data = false;  // application data after its Finished
  bool server_sent_data = false;
  std::optional<Timestamp> client_hello_at;
  // A ClientHello begun but not complete: its bytes so far (from the first TLS byte) and its
  // length as its handshake header announces it (incl. the 4-byte header).
  std::uint64_t partial_hello_bytes = 0;
  std::optional<std::uint32_t> partial_hello_length;
  std::optional<Timestamp> server_first_at;    // first byte the server sent after the hello
  std::optional<Timestamp> certificate_at;     // when the plaintext Certificate arrived
  std::optional<Timestamp> first_close_at;
  std::optional<Timestamp> last_event_at;
  std::optional<Timestamp> timed_out_at;
  bool timed_out = false;
  bool end_of_data = false;
  std::optional<std::size_t> first_fatal_alert;  // index into HandshakeRecord::alerts
  std::optional<std::uint16_t> client_min_version;  // lowest version the client offered
  std::optional<std::uint16_t> client_max_version;
  std::optional<Side> record_layer_failed;  // a side whose stream stopped parsing as TLS
  // Whether the plaintext leaf certificate's names cover the SNI (X509_check_host).
  std::optional<bool> leaf_covers_sni;
  // The proxy could not reach the server (DNS failure, refused, timed out, not allowed): why.
  std::optional<std::string> upstream_failure;
  // sni mode: the ClientHello named no server and there was no --default-upstream: what the
  // proxy did instead.
  std::optional<std::string> unrouted;
  // What --probe-certs found (its chain is in the record when the wire showed none).
  std::optional<CertificateProbe> probe;
  // The last ClientHello to the same server whose handshake was ok (HelloHistory), when it came
  // before this one.
  std::optional<HelloShape> previous_ok;
};

// Sets cause, explanation, next_step, inferred (and stage where the close refines it).
void decide(const Evidence& evidence, HandshakeRecord& record);

// Whether the evidence already settles the outcome (a record can be written now).
bool outcome_known(const Evidence& evidence, const HandshakeRecord& record);

// Whether the certificate decides the outcome but was not seen: a TLS 1.3 client that aborted
// right after the server's encrypted flight, or completed the handshake and closed without a
// request (curl's host name check). `--probe-certs` can then fetch the chain and tell which
// check failed.
bool certificate_probe_helps(const Evidence& evidence, const HandshakeRecord& record);

}  // namespace tlsglass::trace
