// --probe-certs: the proxy's own TLS connection to a connection's server, with the same SNI, to
// fetch the certificate chain the wire did not show (TLS 1.3 encrypts it) and check it: the
// validity window against now, the names against the SNI (X509_check_host), the chain against
// the system trust store. OpenSSL runs on memory BIOs over a libuv socket of the worker's loop,
// so a probe never blocks the relay.
//
// The record of the connection that asked waits for the answer: its trace::Session moves into
// the prober, which hands it the probe's result, emits the record and drops the session. Every
// wait is bounded: the probe's timeout, a cap on probes in flight and on records waiting for
// each, and a short-lived cache per (server, SNI) so that `--probe-certs=all` under load opens
// one probe per server, not one per connection.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tlsglass/trace/certificate_probe.hpp"
#include "tlsglass/trace/session.hpp"

namespace tlsglass::proxy {

class ProbeJob;

class CertificateProber {
 public:
  static constexpr std::size_t kMaxJobs = 64;            // probes in flight per worker
  static constexpr std::size_t kMaxWaiting = 256;        // records waiting on one probe
  static constexpr std::size_t kMaxCached = 1024;        // remembered answers
  static constexpr std::uint64_t kCacheMs = 30 * 1000;   // how long an answer is reused
  static constexpr std::size_t kMaxProbeBytes = 256 << 10;  // what a probe reads at most

  using Emit = std::function<void(const trace::HandshakeRecord&)>;

  // `on_idle` runs when the last job has closed its handles (the worker may then end its loop).
  CertificateProber(uv_loop_t* loop, double timeout_s, Emit emit, std::function<void()> on_idle);
  ~CertificateProber();
  CertificateProber(const CertificateProber&) = delete;
  CertificateProber& operator=(const CertificateProber&) = delete;

  // Probes `server` with `sni` for `session`, whose record is emitted once the answer is in
  // (at once from the cache, or with the reason when the bounds say no).
  void submit(std::unique_ptr<trace::Session> session, const trace::Endpoint& server,
              const std::optional<std::string>& sni);
  // The proxy is stopping: every waiting record goes out now, marked as unprobed.
  void cancel_all();
  bool idle() const { return live_ == 0; }

 private:
  friend class ProbeJob;
  struct CachedAnswer {
    trace::CertificateProbe probe;
    std::uint64_t expires_ms = 0;
  };

  void answer(std::unique_ptr<trace::Session> session, trace::CertificateProbe probe);
  void finished(const std::string& key, const trace::CertificateProbe& probe);
  void closed(ProbeJob* job);

  uv_loop_t* loop_;
  double timeout_s_;
  Emit emit_;
  std::function<void()> on_idle_;
  struct SslContext;
  std::unique_ptr<SslContext> context_;
  std::map<std::string, ProbeJob*> jobs_;  // still probing, by server and SNI
  std::size_t live_ = 0;                   // jobs not yet deleted (handles closing)
  std::map<std::string, CachedAnswer> cache_;
};

}  // namespace tlsglass::proxy
