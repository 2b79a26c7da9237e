// The verdict: DESIGN.md's cause table applied to what the session saw. Each branch says what
// is known from clear-text evidence and marks what is inferred from record shapes.
#include "tlsglass/trace/verdict.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>

#include "tlsglass/tls/registry.hpp"
#include "tlsglass/tls/types.hpp"
#include "tlsglass/trace/evidence.hpp"
#include "verdict_words.hpp"

namespace tlsglass::trace {

using namespace verdict_words;

namespace {

// RFC 8446 §6 / RFC 5246 §7.2 alert descriptions the verdict reasons about.
namespace alert {
constexpr std::uint8_t handshake_failure = 40;
constexpr std::uint8_t bad_certificate = 42;
constexpr std::uint8_t unsupported_certificate = 43;
constexpr std::uint8_t certificate_expired = 45;
constexpr std::uint8_t certificate_unknown = 46;
constexpr std::uint8_t unknown_ca = 48;
constexpr std::uint8_t access_denied = 49;
constexpr std::uint8_t protocol_version = 70;
constexpr std::uint8_t insufficient_security = 71;
constexpr std::uint8_t unrecognized_name = 112;
constexpr std::uint8_t certificate_required = 116;
constexpr std::uint8_t no_application_protocol = 120;
}  // namespace alert

// Alerts that say "your certificate" (RFC 8446 §6.2): the certificate checks decide these.
bool certificate_alert(std::uint8_t description) {
  switch (description) {
    case alert::bad_certificate:
    case alert::unsupported_certificate:
    case alert::certificate_expired:
    case alert::certificate_unknown:
    case alert::unknown_ca:
      return true;
    default:
      return false;
  }
}

std::optional<Cause> leaf_cause(const Evidence& evidence, HandshakeRecord& record);

// The certificate's own evidence, read in clear (TLS <=1.2) or fetched by --probe-certs, against
// the time it was seen.
std::optional<Cause> certificate_cause(const Evidence& evidence, HandshakeRecord& record) {
  if (record.server.chain.empty()) return std::nullopt;
  const std::optional<Cause> cause = leaf_cause(evidence, record);
  if (cause && record.certificate_source == CertificateSource::probe) {
    record.explanation = "--probe-certs fetched the chain: " + record.explanation;
  }
  return cause;
}

std::optional<Cause> leaf_cause(const Evidence& evidence, HandshakeRecord& record) {
  const CertificateSummary& leaf = record.server.chain.front();
  const auto seen = std::chrono::floor<std::chrono::seconds>(
      evidence.certificate_at.value_or(record.timestamp));
  if (leaf.not_after && seen > *leaf.not_after) {
    record.explanation = fmt::format("server certificate expired {} ({} before the handshake)",
                                     day(*leaf.not_after),
                                     display_age((seen - *leaf.not_after).count()));
    return Cause::cert_expired;
  }
  if (leaf.not_before && seen < *leaf.not_before) {
    record.explanation = fmt::format(
        "server certificate is not valid until {} ({} after the handshake): a clock is skewed or "
        "the certificate was issued for the future",
        day(*leaf.not_before), display_age((*leaf.not_before - seen).count()));
    return Cause::cert_not_yet_valid;
  }
  if (!record.client.server_name) {
    record.explanation = fmt::format(
        "client sent no SNI and the server presented its default certificate ({}), which the "
        "client rejected",
        names_of(leaf));
    return Cause::no_sni;
  }
  if (evidence.leaf_covers_sni == false) {
    record.explanation = fmt::format("server certificate covers {}, not the SNI {}",
                                     names_of(leaf), *record.client.server_name);
    return Cause::hostname_mismatch;
  }
  return std::nullopt;
}

// TLS 1.3: the client answered the server's encrypted flight with only short records (an
// encrypted alert) or nothing, then closed. The certificate was encrypted.
bool client_aborted_13(const Evidence& evidence, const HandshakeRecord& record) {
  return evidence.tls13 && !record.established && evidence.server_encrypted_flight > 0 &&
         !evidence.client_finished && (evidence.first_close_at || evidence.end_of_data) &&
         (record.closed_by == Side::client || !evidence.client_post_flight_lengths.empty());
}

// TLS 1.3 (or a chain from --probe-certs): the handshake completed and the client closed
// without a request - curl's host name check looks like this.
bool client_closed_unused(const Evidence& evidence, const HandshakeRecord& record) {
  // Either side may close first: a server often answers the client's (encrypted) alert with
  // its own close before the client's FIN reaches the proxy.
  return record.established && !evidence.client_sent_data && evidence.first_close_at;
}

void decide_alert(const Evidence& evidence, HandshakeRecord& record, const AlertSeen& fatal) {
  const std::string side{side_name(fatal.from)};
  // A server that picked a version below the client's minimum: whatever the client's alert
  // says (OpenSSL clients may say internal_error), the versions are the cause.
  if (record.version && evidence.client_min_version &&
      *record.version < *evidence.client_min_version) {
    record.cause = Cause::version_mismatch;
    record.explanation =
        fmt::format("{} but the client accepts {}; {} sent {}", chosen_words(record),
                    version_range(evidence), side, alert_words(fatal));
    record.next_step = s_client(record, "-tls1_2") + "  # fails if the server has no TLS1.2";
    return;
  }
  // RFC 8996 deprecates TLS 1.0 and 1.1: clients that still list them often refuse them once
  // chosen (OpenSSL 3 at its default security level rejects their SHA-1 signatures with
  // internal_error). A client that aborts a TLS <=1.1 handshake for anything but its
  // certificate refused the version.
  if (record.version && *record.version < tls::version::tls12 && fatal.from == Side::client &&
      record.server_hello_seen && fatal.description != alert::protocol_version &&
      !certificate_alert(fatal.description)) {
    record.cause = Cause::version_mismatch;
    record.explanation = fmt::format(
        "{}; the client offered {} but aborted right after the server's flight with {}: TLS1.0 "
        "and TLS1.1 are deprecated (RFC 8996) and clients that still offer them often refuse "
        "them (OpenSSL 3's default security level rejects their SHA-1 signatures)",
        chosen_words(record), version_range(evidence), alert_words(fatal));
    record.next_step = s_client(record, "-tls1_2") + "  # fails if the server has no TLS1.2";
    return;
  }
  if (fatal.description == alert::protocol_version) {
    record.cause = Cause::version_mismatch;
    if (fatal.from == Side::server) {
      record.explanation = fmt::format("client offered {}; server answered protocol_version: {}",
                                       version_range(evidence), server_versions_words(evidence));
    } else if (record.version && evidence.client_max_version &&
               *record.version > *evidence.client_max_version) {
      record.explanation = fmt::format(
          "server chose {}, which the client did not offer ({}); the client refused it with "
          "protocol_version",
          display_version(*record.version), version_range(evidence));
    } else if (record.version) {
      record.explanation = fmt::format(
          "{}; the client offered {} and refused {} with protocol_version: the lowest version "
          "it accepts is above the server's highest",
          chosen_words(record), version_range(evidence), display_version(*record.version));
    } else {
      record.explanation =
          fmt::format("client offered {} and answered the server with protocol_version",
                      version_range(evidence));
    }
    record.next_step = s_client(record, "-tls1_2") + "  # then -tls1_3, -tls1_1";
    return;
  }
  if (fatal.from == Side::server && !record.server_hello_seen) {
    if (!record.client.server_name &&
        (fatal.description == alert::unrecognized_name ||
         fatal.description == alert::handshake_failure)) {
      record.cause = Cause::no_sni;
      record.explanation = fmt::format(
          "client sent no SNI and the server refused the ClientHello with {}", alert_words(fatal));
      record.next_step = s_client(record) + "  # then again with -servername NAME";
      return;
    }
    if (fatal.description == alert::handshake_failure ||
        fatal.description == alert::insufficient_security) {
      record.cause = Cause::cipher_mismatch;
      std::vector<std::string> offered;
      for (auto suite : record.client.cipher_suites) {
        if (tls::is_grease(suite)) continue;
        if (offered.size() == 6) {
          offered.push_back("...");
          break;
        }
        offered.push_back(tls::cipher_suite_name(suite));
      }
      const bool only13 = evidence.client_min_version &&
                          *evidence.client_min_version >= tls::version::tls13;
      record.explanation = fmt::format(
          "server answered {} to a ClientHello offering {}{} cipher suites ({}): no cipher suite "
          "in common",
          alert_words(fatal), only13 ? "only TLS1.3 " : "", offered.size(), join(offered, ", "));
      record.next_step = s_client(record, "-cipher 'ALL:@SECLEVEL=0' -tls1_2") +
                         "  # which suites does the server accept?";
      return;
    }
  }
  if (fatal.from == Side::client && record.server_hello_seen) {
    if (auto cause = certificate_cause(evidence, record)) {
      record.cause = *cause;
      record.explanation += fmt::format("; client sent {}", alert_words(fatal));
      record.next_step = s_client(record, "-showcerts") + " | openssl x509 -noout -dates -subject -ext subjectAltName";
      return;
    }
    switch (fatal.description) {
      case alert::certificate_expired:
        record.cause = Cause::cert_expired;
        record.inferred = record.server.chain.empty();
        record.explanation =
            std::string("client rejected the server's certificate as expired (alert "
                        "certificate_expired)") +
            (record.server.chain.empty()
                 ? (evidence.probe ? probe_words(evidence)
                                   : " - the certificate was encrypted (TLS1.3); --probe-certs "
                                     "fetches it to show the dates")
                 : "");
        record.next_step = s_client(record) + " | openssl x509 -noout -dates";
        return;
      case alert::unknown_ca:
      case alert::bad_certificate:
      case alert::certificate_unknown:
      case alert::unsupported_certificate:
        record.cause = Cause::untrusted_cert;
        record.inferred = record.server.chain.empty();
        record.explanation = fmt::format(
            "client rejected the server's certificate chain ({}){}", alert_words(fatal),
            record.server.chain.empty()
                ? (evidence.probe ? ""
                                  : " - the certificate was encrypted (TLS1.3); --probe-certs "
                                    "fetches it")
                : fmt::format("; issuer {}", record.server.chain.front().issuer));
        if (evidence.probe) record.explanation += probe_words(evidence);
        record.next_step = s_client(record, "-verify_return_error") +
                           "  # verify against the client's trust store";
        return;
      default:
        break;
    }
  }
  record.cause = Cause::alert_other;
  record.explanation =
      fmt::format("{} sent {} {}", side, alert_words(fatal), stage_words(record.stage));
  record.next_step = s_client(record, "-msg");
  if (fatal.from != Side::server) return;
  // RFC 7301 §3.2: the server supports none of the client's ALPN protocols.
  if (fatal.description == alert::no_application_protocol) {
    const std::string offered =
        record.client.alpn.empty() ? std::string("none") : join(record.client.alpn, ", ");
    record.explanation += fmt::format(
        ": the server accepts none of the application protocols the client offered in ALPN "
        "({})",
        offered);
    record.next_step =
        s_client(record, "-alpn " + (record.client.alpn.empty() ? std::string("h2,http/1.1")
                                                                : join(record.client.alpn, ","))) +
        "  # reproduces it; try -alpn h2 or -alpn http/1.1 to find what the server accepts";
    return;
  }
  // The server asked for a client certificate (a CertificateRequest in clear, TLS <=1.2, or
  // TLS 1.3's certificate_required) and refused what the client sent.
  const bool about_client_certificate =
      fatal.description == alert::certificate_required ||
      (record.server.certificate_request && record.stage >= Stage::client_finished &&
       (fatal.description == alert::handshake_failure ||
        fatal.description == alert::access_denied || certificate_alert(fatal.description)));
  if (about_client_certificate) {
    record.explanation += fmt::format(
        ": the server asked for a client certificate{} and refused the client's answer - it "
        "sent none, or one the server does not accept",
        record.server.certificate_request ? " (CertificateRequest)" : "");
    record.next_step = s_client(record, "-cert client.pem -key client.key") +
                       "  # with the client certificate the server expects";
  }
}

}  // namespace

std::string display_version(std::uint16_t version) {
  const std::string name = tls::version_name(version);
  if (name.rfind("0x", 0) == 0) return name;
  std::string protocol{tls::version_protocol(version)};
  for (auto& c : protocol) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return protocol + name;
}

std::string display_age(std::int64_t seconds) {
  if (seconds < 0) seconds = -seconds;
  auto unit = [](std::int64_t n, const char* word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
  };
  if (seconds >= 2 * 86400) return unit(seconds / 86400, "day");
  if (seconds >= 2 * 3600) return unit(seconds / 3600, "hour");
  if (seconds >= 2 * 60) return unit(seconds / 60, "minute");
  return unit(seconds, "second");
}

bool outcome_known(const Evidence& evidence, const HandshakeRecord& record) {
  if (evidence.upstream_failure || evidence.unrouted) return true;
  if (record.not_tls_from || evidence.first_fatal_alert) return true;
  if (evidence.first_close_at || evidence.timed_out || evidence.end_of_data) return true;
  if (!record.established) return false;
  // curl checks the host name after the handshake (DESIGN.md): wait for the client to use
  // the connection before calling it good, unless the certificate was seen and fits.
  // A TLS 1.3 server judges the client's second flight (its certificate, when it asked for
  // one) after the wire already shows both flights: wait for its first real answer too.
  if (evidence.client_sent_data) return !evidence.tls13 || evidence.server_sent_data;
  return !evidence.tls13 && evidence.leaf_covers_sni != false && !record.server.chain.empty();
}

bool certificate_probe_helps(const Evidence& evidence, const HandshakeRecord& record) {
  if (!evidence.tls13 || !record.server.chain.empty() || evidence.upstream_failure) return false;
  if (client_aborted_13(evidence, record) || client_closed_unused(evidence, record)) return true;
  // An OpenSSL TLS 1.3 client rejects the certificate with an alert in clear.
  if (evidence.first_fatal_alert && *evidence.first_fatal_alert < record.alerts.size()) {
    const AlertSeen& fatal = record.alerts[*evidence.first_fatal_alert];
    return fatal.from == Side::client && record.server_hello_seen &&
           certificate_alert(fatal.description);
  }
  return false;
}

void decide(const Evidence& evidence, HandshakeRecord& record) {
  record.inferred = false;
  record.explanation.clear();
  record.next_step.clear();

  // An SNI-routing proxy had nowhere to send a hello without SNI.
  if (evidence.unrouted) {
    record.cause = Cause::no_sni;
    record.explanation = *evidence.unrouted;
    record.next_step =
        "tlsglass proxy --mode sni --default-upstream HOST:PORT ...  # or make the client send "
        "SNI (curl: use the host name, not an IP)";
    return;
  }
  // The proxy never reached the server: whatever the client sent (a CONNECT head, a
  // ClientHello), no server answered it.
  if (evidence.upstream_failure) {
    record.cause = Cause::upstream_unreachable;
    record.explanation = *evidence.upstream_failure;
    // With an address tried, probe it; without one the name did not resolve.
    if (record.destination) {
      record.next_step = fmt::format("nc -vz {} {}  # can this host reach the server at all?",
                                     record.destination->ip, record.destination->port);
    } else if (record.destination_domain) {
      record.next_step =
          fmt::format("getent ahosts {}  # does the name resolve here?", *record.destination_domain);
    }
    return;
  }

  if (record.not_tls_from) {
    record.cause = Cause::not_tls;
    const std::string quote = record.not_tls_quote.value_or("");
    if (*record.not_tls_from == Side::server) {
      record.explanation = fmt::format(
          "server answered the ClientHello with non-TLS bytes \"{}\": the port speaks {} not TLS",
          quote, quote.rfind("HTTP/", 0) == 0 ? "plain HTTP," : "another protocol,");
      record.next_step = fmt::format("curl -v http://{}/  # the port answers without TLS?",
                                     target(record));
    } else if (absolute_form_request(quote)) {
      record.explanation = fmt::format(
          "client sent \"{}\", a plain-HTTP proxy request (absolute URI, RFC 9112 §3.2.2), "
          "where {}: it uses this port as a proxy for an http:// URL",
          quote,
          record.prelude == "http_connect" || record.mode == "connect"
              ? "a CONNECT request (or a ClientHello) should come"
              : "a ClientHello should come");
      record.next_step =
          "tlsglass relays TLS only: fetch http:// URLs without this proxy, or use https://";
    } else {
      record.explanation = fmt::format(
          "client sent \"{}\" instead of a ClientHello: it speaks {} to a TLS port", quote,
          quote.find("HTTP/") != std::string::npos ? "plain HTTP" : "another protocol");
      record.next_step = "use https:// (or the client's TLS option) for this destination";
    }
    return;
  }

  if (evidence.first_fatal_alert && *evidence.first_fatal_alert < record.alerts.size()) {
    decide_alert(evidence, record, record.alerts[*evidence.first_fatal_alert]);
    return;
  }

  const bool closed = evidence.first_close_at.has_value();
  if (record.established) {
    // TLS <=1.2 shows the certificate: a client that completes the handshake and then closes
    // without a request has rejected it afterwards (curl's host name check).
    // The client gave up first: its close, or its alert (encrypted, so close_notify or a fatal
    // one - the certificate tells which) came before the server's, with no request sent.
    const bool client_alerted_first =
        !record.alerts.empty() && record.alerts.front().from == Side::client;
    const bool chain_probed = record.certificate_source == CertificateSource::probe;
    // With a probed chain, any close before a request counts: which side's FIN came first is
    // a race between the client's alert and the server's answer to it.
    const bool client_gave_up = (closed && (record.closed_by == Side::client || chain_probed)) ||
                                client_alerted_first;
    if (!evidence.client_sent_data && client_gave_up && (!evidence.tls13 || chain_probed)) {
      if (auto cause = certificate_cause(evidence, record)) {
        record.inferred = evidence.tls13;
        record.cause = *cause;
        record.explanation += "; the handshake completed, then the client closed without sending "
                              "a request (it checked the certificate after the handshake)";
        record.next_step = s_client(record) + " | openssl x509 -noout -dates -subject -ext subjectAltName";
        return;
      }
    }
    // TLS 1.3: a server that answers the client's Finished only with short records (an
    // encrypted alert) before the connection closes aborted the handshake (DESIGN.md: ok is
    // "the client's encrypted flight after the server's, and no abort"). OpenSSL servers
    // requiring a client certificate do this (certificate_required, RFC 8446 §4.4.2.4); the
    // client, having read the alert, often closes first.
    if (evidence.tls13 && evidence.server_finished && !evidence.server_sent_data && closed) {
      record.cause = Cause::alert_other;
      record.inferred = true;
      record.explanation =
          "the server answered the client's Finished with only a short encrypted record (an "
          "alert), then the connection closed: TLS1.3 servers check the client's certificate after the wire "
          "shows both flights, so it most likely refused the client certificate it asked for "
          "(certificate_required), or the client's Finished";
      record.next_step = s_client(record, "-tls1_3 -cert client.pem -key client.key") +
                         "  # with the client certificate the server expects";
      return;
    }
    record.cause = Cause::ok;
    record.explanation = fmt::format(
        "handshake completed: {}{}{}", record.version ? display_version(*record.version) : "TLS",
        record.cipher ? " " + tls::cipher_suite_name(*record.cipher) : "",
        record.resumed ? " (resumed)" : "");
    if (evidence.tls13 && !evidence.client_sent_data && closed &&
        record.closed_by == Side::client) {
      record.explanation +=
          "; the client then closed without sending data - if it reported an error, it rejected "
          "the certificate after the handshake (e.g. curl's host name check)";
      record.explanation += evidence.probe ? probe_words(evidence) : "; --probe-certs fetches it";
      record.next_step = s_client(record) + " | openssl x509 -noout -dates -subject -ext subjectAltName";
    }
    return;
  }

  // The client rejected the server's encrypted flight: which check failed is inferred, from
  // the probe's chain when --probe-certs fetched one.
  if (client_aborted_13(evidence, record)) {
    record.inferred = true;
    const std::string how =
        evidence.client_post_flight_lengths.empty()
            ? "closed the connection without a word"
            : fmt::format("sent an encrypted alert ({} bytes) and closed",
                          evidence.client_post_flight_lengths.front());
    if (!evidence.client_post_flight_lengths.empty()) {
      AlertSeen alert;
      alert.from = Side::client;
      alert.encrypted = true;
      alert.record_length = evidence.client_post_flight_lengths.front();
      record.alerts.push_back(alert);
    }
    record.next_step = s_client(record, "-tls1_3") + " | openssl x509 -noout -dates -subject -ext subjectAltName";
    if (auto cause = certificate_cause(evidence, record)) {
      record.cause = *cause;
      record.explanation = fmt::format("client {} right after the server's encrypted flight; {}",
                                       how, record.explanation);
      return;
    }
    if (evidence.probe && evidence.probe->trusted == false && !evidence.probe->error) {
      record.cause = Cause::untrusted_cert;
      record.explanation = fmt::format(
          "client {} right after the server's encrypted flight{}", how, probe_words(evidence));
      record.next_step = s_client(record, "-tls1_3 -verify_return_error") +
                         "  # verify against the client's trust store";
      return;
    }
    record.cause = record.client.server_name ? Cause::alert_other : Cause::no_sni;
    record.explanation = fmt::format(
        "client {} right after the server's encrypted flight: it most likely rejected the "
        "server's certificate{} (TLS1.3 encrypts it){}",
        how, record.client.server_name ? "" : " (it sent no SNI, so it got the default one)",
        evidence.probe ? probe_words(evidence)
                       : "; --probe-certs fetches the chain to tell which check failed");
    return;
  }

  if (closed) {
    const Side by = record.closed_by.value_or(Side::server);
    if (by == Side::server && !record.server_hello_seen && !record.client.server_name &&
        record.client_hello_seen) {
      record.cause = Cause::no_sni;
      record.explanation = fmt::format(
          "client sent no SNI and the server closed ({}) without answering the ClientHello",
          record.close == CloseKind::rst ? "RST" : "FIN");
      record.next_step = s_client(record) + "  # then again with -servername NAME";
      return;
    }
    record.cause = Cause::reset_mid_handshake;
    if (!evidence.client_hello_at && evidence.partial_hello_bytes > 0) {
      // The connection died while the ClientHello was still arriving (stage stays connect:
      // no message was complete).
      record.explanation = fmt::format(
          "{} {} the connection {} after the client began its ClientHello, when {} of its {} "
          "had been sent{}: servers and middleboxes that break on a hello larger than one packet "
          "fail this way (post-quantum key shares made such hellos common)",
          side_name(by), record.close == CloseKind::rst ? "reset" : "closed (FIN, no alert)",
          ms_words(std::chrono::duration<double, std::milli>(*evidence.first_close_at -
                                                             record.timestamp).count()),
          evidence.partial_hello_bytes,
          evidence.partial_hello_length ? fmt::format("{} bytes", *evidence.partial_hello_length)
                                        : std::string("bytes"),
          record.client.hello_reads > 1 ? fmt::format(" in {} reads", record.client.hello_reads) : "");
      record.explanation += capture_words(record);
      record.next_step = fmt::format(
          "tlsglass replay {} --to {} --split single  # does the same hello in one segment get "
          "an answer?",
          record.capture.value_or("CAPTURE.pcap"), target(record));
      return;
    }
    const std::string when =
        evidence.client_hello_at
            ? fmt::format("{} after the ClientHello",
                          ms_words(ms_since_hello(evidence, *evidence.first_close_at)))
            : fmt::format("{} after the connection opened, no ClientHello sent",
                          ms_words(std::chrono::duration<double, std::milli>(
                                       *evidence.first_close_at - record.timestamp)
                                       .count()));
    const std::string how = record.close == CloseKind::rst ? "reset" : "closed (FIN, no alert)";
    if (record.stage == Stage::client_hello && evidence.client_hello_at) {
      // Right after the hello, before any answer: who, and how long it took.
      record.explanation = fmt::format(
          "{} {} the connection {} after the ClientHello, without answering it{}", side_name(by),
          how, ms_words(ms_since_hello(evidence, *evidence.first_close_at)),
          by == Side::server ? ": a server, load balancer or middlebox refused this ClientHello"
                             : "");
    } else {
      record.explanation = fmt::format("{} {} the connection {} ({})", side_name(by), how,
                                       stage_words(record.stage), when);
    }
    record.next_step = s_client(record, "-msg");
    record.explanation += capture_words(record);
    if (by == Side::server && record.stage <= Stage::client_hello)
      record.explanation += hello_words(evidence, record);
    return;
  }

  if (evidence.timed_out) {
    record.cause = Cause::timeout;
    const double waited =
        evidence.timed_out_at ? ms_since_hello(evidence, *evidence.timed_out_at) : 0;
    record.explanation =
        record.stage <= Stage::client_hello
            ? fmt::format("{} accepted the connection but sent nothing in {} after the "
                          "ClientHello: a silent server, or a middlebox dropping the hello",
                          record.destination ? "server" : "the peer", ms_words(waited))
            : fmt::format("the handshake stalled {} ({} waited)", stage_words(record.stage),
                          ms_words(waited));
    record.next_step = s_client(record, "-msg");
    record.explanation += capture_words(record);
    if (record.stage <= Stage::client_hello && record.client_hello_seen)
      record.explanation += hello_words(evidence, record);
    return;
  }

  // `replay --to` sends a captured ClientHello and stops when the server has answered it: an
  // answer without an alert or a close is the server accepting this exact hello.
  if (record.mode == "resend" && record.server_hello_seen) {
    record.cause = Cause::ok;
    record.explanation = fmt::format(
        "the server accepted this ClientHello{}: it answered with {}{}{} (the re-send stops "
        "after the server's answer)",
        record.framing ? fmt::format(" ({})", *record.framing) : "",
        record.server.hello_retry_request ? "a HelloRetryRequest" : "a ServerHello",
        record.version ? " for " + display_version(*record.version) : "",
        record.cipher ? ", " + tls::cipher_suite_name(*record.cipher) : "");
    return;
  }
  record.cause = Cause::incomplete;
  record.explanation = fmt::format("the data ended {} before the outcome was known",
                                   stage_words(record.stage));
  if (!record.gaps.empty()) {
    const CaptureGap& gap = record.gaps.front();
    record.explanation += fmt::format(
        " (the capture is missing {} bytes of the {}'s stream at {}: packets the capture "
        "did not record, so the rest of that side could not be read)",
        gap.bytes, side_name(gap.from), ms_words(gap.ms));
  } else if (evidence.record_layer_failed) {
    record.explanation += fmt::format(" (the {} stream stopped parsing as TLS)",
                                      side_name(*evidence.record_layer_failed));
  }
  record.explanation += capture_words(record);
}

}  // namespace tlsglass::trace
