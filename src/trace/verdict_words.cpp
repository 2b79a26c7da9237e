#include "verdict_words.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>

#include "tlsglass/tls/registry.hpp"
#include "tlsglass/tls/types.hpp"
#include "tlsglass/trace/verdict.hpp"

namespace tlsglass::trace::verdict_words {

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string version_range(const Evidence& evidence) {
  if (!evidence.client_max_version) return "no version";
  if (!evidence.client_min_version || *evidence.client_min_version == *evidence.client_max_version)
    return display_version(*evidence.client_max_version) +
           (evidence.client_min_version ? " only" : " or lower");
  return display_version(*evidence.client_min_version) + " to " +
         display_version(*evidence.client_max_version);
}

std::string alert_words(const AlertSeen& alert) {
  return fmt::format("{} alert {}", alert.level == 2 ? "a fatal" : "an",
                     tls::alert_name(alert.description));
}

// host:port to repeat the connection with, from what the record knows.
std::string target(const HandshakeRecord& record) {
  std::string host = record.client.server_name.value_or(
      record.destination_domain.value_or(record.destination ? record.destination->ip : "HOST"));
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  const std::uint16_t port = record.destination ? record.destination->port : 443;
  return fmt::format("{}:{}", host, port);
}

std::string s_client(const HandshakeRecord& record, std::string_view extra) {
  std::string command = "openssl s_client -connect " + target(record);
  if (record.client.server_name) {
    command += " -servername " + *record.client.server_name;
  } else {
    command += " -noservername";
  }
  if (!extra.empty()) {
    command += ' ';
    command += extra;
  }
  return command + " </dev/null";
}

std::string stage_words(Stage stage) {
  switch (stage) {
    case Stage::connect: return "before the ClientHello";
    case Stage::client_hello: return "after the ClientHello";
    case Stage::hello_retry_request: return "after the HelloRetryRequest";
    case Stage::server_hello: return "after the ServerHello";
    case Stage::server_certificate: return "after the server's certificate flight";
    case Stage::client_finished: return "after the client's Finished";
    case Stage::server_finished: return "after the server's Finished";
    case Stage::established: return "after the handshake";
    case Stage::application_data: return "after application data";
  }
  return "";
}

double ms_since_hello(const Evidence& evidence, Timestamp at) {
  if (!evidence.client_hello_at) return 0;
  return std::chrono::duration<double, std::milli>(at - *evidence.client_hello_at).count();
}

std::string names_of(const CertificateSummary& leaf) {
  if (!leaf.alternative_names.empty()) return join(leaf.alternative_names, ", ");
  if (!leaf.common_name.empty()) return "CN=" + leaf.common_name;
  return "no names";
}

std::string day(std::chrono::sys_seconds at) {
  // In UTC: fmt 9 formats a system_clock time in local time.
  return fmt::format("{:%Y-%m-%d}", fmt::gmtime(std::chrono::system_clock::to_time_t(at)));
}

// What --probe-certs adds when the leaf's dates and names are fine: whether the chain verifies
// against this host's trust store (a hint: the client may trust a private CA), or why the
// probe got no chain.
std::string probe_words(const Evidence& evidence) {
  if (!evidence.probe) return {};
  const CertificateProbe& probe = *evidence.probe;
  if (probe.error) return fmt::format("; --probe-certs got no chain ({})", *probe.error);
  if (probe.trusted == false) {
    return fmt::format(
        "; --probe-certs fetched the chain: dates and names are fine, but it does not verify "
        "against this host's trust store ({})",
        probe.verify_error.empty() ? "verification failed" : probe.verify_error);
  }
  return "; --probe-certs fetched the chain: dates, names and trust all check out here, so the "
         "client rejected something else (its own trust store, a pinned key, a client "
         "certificate)";
}

// "GET http://host/path HTTP/1.1": a request line in absolute form (RFC 9112 §3.2.2), the form
// clients send to a plain-HTTP proxy.
bool absolute_form_request(std::string_view line) {
  const auto space = line.find(' ');
  if (space == std::string_view::npos || space == 0) return false;
  for (char c : line.substr(0, space)) {
    if (c < 'A' || c > 'Z') return false;
  }
  const std::string_view rest = line.substr(space + 1);
  return rest.rfind("http://", 0) == 0 || rest.rfind("https://", 0) == 0;
}

std::string ms_words(double ms) {
  return ms >= 2000 ? fmt::format("{:.1f} s", ms / 1000) : fmt::format("{:.1f} ms", ms);
}

// What only a capture shows about a reset or a silence (DESIGN.md reset_mid_handshake): the
// packets' own signs that the RST came from a middlebox, and a hello the network dropped.
std::string capture_words(const HandshakeRecord& record) {
  std::string words;
  if (!record.reset_injected_signs.empty() && record.close == CloseKind::rst) {
    std::string signs;
    for (const auto& sign : record.reset_injected_signs) {
      if (!signs.empty()) signs += ", ";
      signs += sign;
    }
    words += fmt::format("; the RST was likely injected by a middlebox, not sent by the {} ({})",
                         side_name(record.closed_by.value_or(Side::server)), signs);
  }
  if (record.hello_retransmissions > 0 && record.bytes_server == 0) {
    words += fmt::format(
        "; the ClientHello was sent {} times and never acknowledged: the network dropped it "
        "(a firewall or middlebox discarding this hello, or a route that loses it)",
        record.hello_retransmissions + 1);
  }
  return words;
}

// A reset or silence right after the ClientHello, compared with the last hello to this server
// that worked (HelloHistory) and with the hello's own framing. Returns words to append; may
// replace next_step.
std::string hello_words(const Evidence& evidence, HandshakeRecord& record) {
  std::string words;
  const ClientSide& client = record.client;
  if (evidence.previous_ok && evidence.client_hello_at) {
    const HelloShape& ok = *evidence.previous_ok;
    const double ago = std::chrono::duration<double, std::milli>(*evidence.client_hello_at - ok.at).count();
    const std::string ok_name = ok.server_name.value_or("no SNI");
    if (ok.ja4 == client.ja4 && ok.server_name != client.server_name) {
      words += fmt::format(
          "; {} earlier a ClientHello of the same shape (JA4 {}) with SNI {} completed to this "
          "server: only the SNI differs - the signature of a middlebox filtering on SNI",
          ms_words(ago), ok.ja4, ok_name);
      if (client.server_name && ok.server_name) {
        record.next_step = fmt::format(
            "{}  # then -servername {}: a reset only for {} means SNI filtering on the path",
            s_client(record), *ok.server_name, *client.server_name);
      }
    } else if (ok.ja4 == client.ja4) {
      words += fmt::format(
          "; the same ClientHello (JA4 {}, SNI {}) completed to this server {} earlier: the "
          "server or the path changed, or fails intermittently",
          ok.ja4, ok_name, ms_words(ago));
    } else {
      words += fmt::format(
          "; a different ClientHello to this server completed {} earlier (JA4 {} with SNI {}, {} "
          "bytes; this one JA4 {}, {} bytes): the server or a middlebox refuses something in "
          "this hello",
          ms_words(ago), ok.ja4, ok_name, ok.hello_bytes, client.ja4, client.hello_bytes);
    }
  }
  const bool spanned = client.hello_records > 1 || client.hello_reads > 1;
  if (spanned && record.stage <= Stage::client_hello) {
    std::vector<std::string> parts;
    if (client.hello_records > 1) parts.push_back(fmt::format("{} TLS records", client.hello_records));
    if (client.hello_reads > 1) parts.push_back(fmt::format("{} TCP reads", client.hello_reads));
    words += fmt::format(
        "; the ClientHello ({} bytes) spanned {}: servers and middleboxes that break on a hello "
        "larger than one packet fail this way (post-quantum key shares made such hellos common)",
        client.hello_bytes, join(parts, " and "));
    record.next_step = fmt::format(
        "tlsglass replay {} --to {} --split single  # does the same hello in one segment get an "
        "answer?",
        record.capture.value_or("CAPTURE.pcap"), target(record));
  }
  return words;
}

// What a server that refused every offered version must have instead.
std::string server_versions_words(const Evidence& evidence) {
  if (evidence.client_max_version && *evidence.client_max_version < tls::version::tls13) {
    return fmt::format("it has nothing as old as {} (a TLS1.3-only server answers so)",
                       display_version(*evidence.client_max_version));
  }
  if (evidence.client_min_version && *evidence.client_min_version > tls::version::tls10) {
    return fmt::format("it has nothing as new as {} (a server limited to TLS1.1 or older "
                       "answers so)",
                       display_version(*evidence.client_min_version));
  }
  return "no version in common";
}

// The version a TLS <=1.2 ServerHello chose: the highest the server has up to the client's
// (RFC 5246 Appendix E.1), so the server's maximum.
std::string chosen_words(const HandshakeRecord& record) {
  return fmt::format("server chose {}, its highest version (RFC 5246 E.1)",
                     display_version(*record.version));
}

}  // namespace tlsglass::trace::verdict_words
