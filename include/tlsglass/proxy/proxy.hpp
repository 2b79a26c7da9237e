// The live proxy: libuv event loops that accept clients, connect them to their server and relay
// TCP byte-for-byte in both directions while a trace::Session reads the handshake. Nothing the
// parser thinks can change a forwarded byte (DESIGN.md "Faithfulness rules").
//
// proxy/ owns sockets and loops; it knows nothing of JSON or files. Each finished record goes
// to a RecordSink, which cli/ connects to log/ (an asynchronous writer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlsglass/trace/handshake_record.hpp"
#include "tlsglass/trace/transcript.hpp"

namespace tlsglass::proxy {

enum class Mode : std::uint8_t {
  connect,      // HTTP CONNECT proxy (default, 127.0.0.1:8080)
  forward,      // fixed upstream (--upstream HOST:PORT, default listen 127.0.0.1:8443)
  sni,          // the ClientHello's server_name names the server (default listen 127.0.0.1:8443)
  transparent,  // the kernel redirected the connection (REDIRECT, TPROXY): its original
                // destination is the server (default listen 127.0.0.1:8443)
  socks5,       // RFC 1928 CONNECT (default listen 127.0.0.1:1080)
};

// The record's tlsglass.mode: "connect", "forward", "sni", "transparent", "socks5".
const char* mode_name(Mode mode);

// "host:port", "1.2.3.4:443", "[::1]:443" split into host and port. The host keeps no
// brackets. nullopt for anything else (no port, port 0 or > 65535, empty host).
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text);

// One --allow-dest rule: "HOST:PORT", "HOST:*", "*.example.com:443", "10.0.0.0/8:*",
// "[::1]:*", or "*" (everything). A CONNECT target is allowed when any rule matches; with no
// rules every destination is allowed.
struct DestinationRule {
  std::string host_glob;              // lower-case; "*" wildcard, "*.x" suffix match
  std::optional<std::string> cidr;    // "10.0.0.0/8", "::1/128" (matched on the IP)
  std::optional<std::uint16_t> port;  // nullopt = any port
};
std::optional<DestinationRule> parse_destination_rule(std::string_view text);

// --resolve HOST=IP[:PORT]: where sni mode sends a server name instead of asking DNS (a hosts
// file that points the name at the proxy would otherwise send it back to itself).
struct ResolveOverride {
  std::string host;  // lower-case
  std::string ip;
  std::optional<std::uint16_t> port;  // nullopt: the port the client connected to
};
std::optional<ResolveOverride> parse_resolve_override(std::string_view text);

// --socks-auth USER:PASSWORD (RFC 1929).
struct SocksCredentials {
  std::string user, password;
};

// --probe-certs: when the proxy opens a TLS connection of its own to the server to fetch the
// certificate chain the wire did not show (TLS 1.3 encrypts it).
enum class ProbeCerts : std::uint8_t {
  off,
  failed,  // a connection whose outcome hangs on that certificate (trace::Session says when)
  all,     // every connection that reached a TLS server
};

struct ProxyConfig {
  Mode mode = Mode::connect;
  std::vector<HostPort> listen;      // empty: the mode's default (loopback only)
  std::optional<HostPort> upstream;  // forward mode
  // sni mode: a ClientHello without server_name goes here; without it, the client is reset.
  std::optional<HostPort> default_upstream;
  std::vector<ResolveOverride> resolve;  // sni mode
  std::optional<SocksCredentials> socks_credentials;  // socks5 mode; none: no authentication
  // SO_MARK on every connection the proxy makes to a server, so that an iptables rule that
  // redirects to the proxy can exempt the proxy's own connections (0: no mark).
  std::uint32_t upstream_mark = 0;
  unsigned workers = 0;              // 0: one per core
  double connect_timeout_s = 10;
  double handshake_timeout_s = 10;  // a `timeout` record; the relay goes on (client's call)
  double idle_timeout_s = 300;      // no byte either way for this long: close both (FIN)
  std::vector<DestinationRule> allow_dest;
  // Backpressure: stop reading a side while the other side's write queue holds more than
  // high_water bytes; resume below low_water. Bounds memory per connection.
  std::size_t high_water = 1 << 20;
  std::size_t low_water = 256 << 10;
  // Bytes of a CONNECT request head accepted before answering 400.
  std::size_t max_request_head = 16 << 10;
  // SIGINT/SIGTERM (or request_stop()): open connections get this long to finish before they
  // are closed with their records; under DESIGN.md's 2 s to exit.
  double shutdown_grace_s = 1.5;
  ProbeCerts probe_certs = ProbeCerts::off;
  // --capture-dir (cli/ wires capture/ in): while the decision may still want a connection,
  // its bytes are kept (at most capture_max_bytes_per_connection); the decision is asked when
  // the record is made (the path it returns goes into the record), the transcript goes to the
  // sink once the connection has closed. Both run on worker threads and must not block.
  std::function<std::optional<std::string>(const trace::HandshakeRecord&)> capture_decision;
  std::function<void(trace::Transcript)> capture_sink;
  std::size_t capture_max_bytes_per_connection = 1 << 20;
  // A probe's connect and handshake together; its record waits at most this long.
  double probe_timeout_s = 5;
};

// Called once per connection, as soon as its outcome is known (and, for a connection closed
// before that, at the close). Called on worker threads: the sink must be thread-safe and must
// not block (queue the record and return).
using RecordSink = std::function<void(const trace::HandshakeRecord&)>;

// Counters a test or a metrics page can read while the proxy runs (totals over all workers).
struct ProxyStats {
  std::uint64_t accepted = 0;
  std::uint64_t active = 0;
  std::uint64_t records = 0;
  std::uint64_t accept_errors = 0;
};

// Binds every listen address (SO_REUSEPORT, one socket per worker), runs the workers until
// SIGINT/SIGTERM (first signal: stop accepting, let open connections finish for up to 2 s,
// flush; second signal: exit at once) or until stop() is called. Returns the process exit code:
// 0 on a clean stop, 1 with a one-line reason on stderr when a listen address cannot be bound,
// 2 for forward mode without an upstream. "At once" closes every connection now, each with its
// record, instead of waiting out shutdown_grace_s (request_stop() below is stop()).
// `on_listening` (optional) is called once every socket is bound, with the bound addresses
// (port 0 in the config gives the real port here).
int run_proxy(const ProxyConfig& config, RecordSink sink,
              std::function<void(const std::vector<HostPort>&)> on_listening = {});

// stop(): what the first SIGINT/SIGTERM does, from any thread (tests, an admin endpoint). Has
// no effect when no run_proxy() is running; one run_proxy() at a time per process.
void request_stop();

// The counters of the running (or last) run_proxy().
ProxyStats current_stats();

}  // namespace tlsglass::proxy
