// The handshake record: everything tlsglass learned about one connection's TLS handshake, and
// the verdict. It is what log/ serialises (DESIGN.md "The handshake record"); fields that were
// not seen stay empty and are left out of the output, never invented.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsglass::trace {

using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

// The side that sent something (or closed, or timed out).
enum class Side : std::uint8_t { client, server };
std::string_view side_name(Side side);
constexpr Side other(Side side) { return side == Side::client ? Side::server : Side::client; }

enum class CloseKind : std::uint8_t { fin, rst };

// DESIGN.md "Causes". `incomplete` is ours: the data ended (a truncated capture, partial
// streams given to `analyze`) before the outcome could be known.
enum class Cause : std::uint8_t {
  ok,
  no_sni,
  cert_expired,
  cert_not_yet_valid,
  hostname_mismatch,
  untrusted_cert,
  cipher_mismatch,
  version_mismatch,
  reset_mid_handshake,
  timeout,
  not_tls,
  upstream_unreachable,
  alert_other,
  incomplete,
};
std::string_view cause_name(Cause cause);
std::optional<Cause> cause_from_name(std::string_view name);

// How far the handshake got (the last step seen before the outcome).
enum class Stage : std::uint8_t {
  connect,             // nothing sent yet
  client_hello,        // the ClientHello went out, no answer
  hello_retry_request, // the server asked for another key share
  server_hello,        // ServerHello seen, nothing after it yet
  server_certificate,  // the server's certificate flight (TLS 1.3: its encrypted flight)
  client_finished,     // the client's second flight (key exchange, Finished)
  server_finished,     // TLS <=1.2 server's CCS+Finished (abbreviated: before the client's)
  established,         // both Finished
  application_data,    // data flowed after the handshake
};
std::string_view stage_name(Stage stage);

struct Endpoint {
  std::string ip;
  std::uint16_t port = 0;
};

struct AlertSeen {
  Side from = Side::client;
  std::uint8_t level = 0;        // 0 when encrypted (unknown)
  std::uint8_t description = 0;  // valid only when !encrypted
  bool encrypted = false;
  std::uint16_t record_length = 0;  // encrypted alerts: the record's length
  double ms = 0;
};

struct TimelineEntry {
  double ms = 0;
  Side from = Side::client;
  std::string what;
};

struct ParseProblem {
  Side from = Side::client;
  std::string what;  // e.g. "record_too_long", "client_hello: duplicate_extension (key_share)"
  std::size_t offset = 0;
};

struct CertificateSummary {
  std::string subject;
  std::string issuer;
  std::string serial;
  std::optional<std::chrono::sys_seconds> not_before;
  std::optional<std::chrono::sys_seconds> not_after;
  std::vector<std::string> alternative_names;  // DNS names, then IPs
  std::string common_name;
  std::string key_algorithm;
  int key_bits = 0;
  std::string sha256;
  bool self_signed = false;
};

// Where the record's certificate chain (tls.server.*) came from: read in clear on this
// connection's wire (TLS <=1.2), or fetched by `--probe-certs` over a connection of the proxy's
// own (TLS 1.3 encrypts it on the wire).
enum class CertificateSource : std::uint8_t { wire, probe };

// What `--probe-certs` found (trace::CertificateProbe without the chain, which goes to
// ServerSide::chain when the wire showed none).
struct ProbeSummary {
  Timestamp at{};
  std::optional<std::string> error;
  std::optional<std::uint16_t> version;
  std::optional<bool> covers_sni;
  std::optional<bool> trusted;
  std::string verify_error;
  bool chain_used = false;  // the chain filled tls.server.* (the wire showed none)
};

struct ClientSide {
  std::optional<std::string> server_name;
  std::uint16_t legacy_version = 0;
  std::string ja3, ja3_string, ja4, ja4_r;
  std::vector<std::uint16_t> cipher_suites;
  std::vector<std::uint16_t> supported_versions;
  std::vector<std::uint16_t> supported_groups;
  std::vector<std::uint16_t> key_share_groups;
  std::vector<std::uint16_t> signature_algorithms;
  std::vector<std::string> alpn;
  std::vector<std::uint16_t> extensions;
  std::uint32_t hello_bytes = 0;    // handshake message length incl. its 4-byte header
  std::uint32_t hello_records = 0;  // TLS records that carried it
  std::uint32_t hello_reads = 0;    // reads (TCP segments/reads) that carried it
  bool ech = false;
  bool sslv2 = false;
  bool second_hello = false;  // a second ClientHello after a HelloRetryRequest
};

struct ServerSide {
  std::uint16_t legacy_version = 0;
  std::string ja3s, ja3s_string;
  bool hello_retry_request = false;
  std::optional<std::uint16_t> hrr_group;
  std::vector<std::uint16_t> extensions;
  std::vector<CertificateSummary> chain;  // leaf first; empty when not seen in clear
  bool certificate_request = false;       // the server asked for a client certificate
};

// Bytes of one direction a capture did not hold (replay): the stream cannot be read past them.
struct CaptureGap {
  Side from = Side::client;
  std::uint64_t bytes = 0;
  double ms = 0;  // since the first byte of the connection
};

struct HandshakeRecord {
  Timestamp timestamp{};  // first byte of the connection
  std::optional<std::int64_t> duration_ns;
  std::optional<Endpoint> source, destination;
  std::optional<std::string> destination_domain;  // SNI, else the CONNECT/SOCKS host name

  bool client_hello_seen = false;
  bool server_hello_seen = false;
  std::optional<std::uint16_t> version;  // negotiated
  std::optional<std::uint16_t> cipher;
  std::optional<std::uint16_t> curve;    // TLS 1.3 key_share group, else ECDHE named curve
  bool established = false;
  bool resumed = false;
  std::optional<std::string> next_protocol;  // ALPN chosen (visible in TLS <=1.2)
  ClientSide client;
  ServerSide server;

  std::uint64_t conn = 0;
  std::string mode;  // "analyze", "connect", "forward", "replay", ...
  Cause cause = Cause::incomplete;
  bool inferred = false;  // the cause is inferred from record shapes, not read in clear
  std::string explanation;
  std::string next_step;
  Stage stage = Stage::connect;
  std::optional<Side> closed_by;
  std::optional<CloseKind> close;
  std::vector<AlertSeen> alerts;
  std::uint64_t bytes_client = 0, bytes_server = 0;
  std::optional<std::string> capture;
  std::vector<TimelineEntry> timeline;
  std::vector<ParseProblem> problems;
  // Plaintext before TLS (HTTP CONNECT, SOCKS, STARTTLS) and non-TLS peers.
  std::optional<std::string> prelude;       // "http_connect", "socks5", "socks4", "plaintext"
  std::uint32_t prelude_bytes_client = 0, prelude_bytes_server = 0;
  std::optional<Side> not_tls_from;
  std::optional<std::string> not_tls_quote;  // e.g. the HTTP status line, as received
  // Set when server.chain is not empty.
  std::optional<CertificateSource> certificate_source;
  std::optional<ProbeSummary> probe;  // --probe-certs answered for this connection
  // What only a capture shows (replay): why a reset looks injected by a middlebox rather than
  // sent by the endpoint (non-empty: "injected: likely"), how often the ClientHello was sent
  // again without being acknowledged (a silent drop), bytes the capture is missing.
  std::vector<std::string> reset_injected_signs;
  std::uint32_t hello_retransmissions = 0;
  std::vector<CaptureGap> gaps;
  // `replay --to`: how the re-sent ClientHello was framed ("captured", "single", "records:4",
  // "segments:3") and which captured connection it came from.
  std::optional<std::string> framing;
  std::optional<std::uint64_t> resent_from;
};

}  // namespace tlsglass::trace
