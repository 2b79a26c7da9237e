#include "tlsglass/log/json_record.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "tlsglass/log/json_writer.hpp"
#include "tlsglass/log/safe_text.hpp"
#include "tlsglass/tls/registry.hpp"
#include "tlsglass/tls/types.hpp"

namespace tlsglass::log {

namespace {

using tls::Registry;

// The registry's own name, without a copy; GREASE and unknown code points as name_of says.
void registry_name(JsonWriter& out, Registry registry, std::uint16_t code) {
  if (auto name = tls::lookup(registry, code); name && !tls::is_grease(code)) {
    out.ascii(*name);
  } else {
    out.ascii(tls::name_of(registry, code));
  }
}

void registry_field(JsonWriter& out, std::string_view key, Registry registry, std::uint16_t code) {
  out.key(key);
  registry_name(out, registry, code);
}

void names(JsonWriter& out, std::string_view key, Registry registry,
           const std::vector<std::uint16_t>& codes) {
  out.key(key).begin_array();
  for (auto code : codes) registry_name(out, registry, code);
  out.end_array();
}

void version_names(JsonWriter& out, std::string_view key,
                   const std::vector<std::uint16_t>& versions) {
  out.key(key).begin_array();
  for (auto version : versions) out.ascii(tls::version_name(version));
  out.end_array();
}

void strings(JsonWriter& out, std::string_view key, const std::vector<std::string>& values) {
  out.key(key).begin_array();
  for (const auto& value : values) out.peer_text(value);
  out.end_array();
}

// A time as a record shows it, in a buffer of its own: no allocation for each of a record's
// times.
class TimeText {
 public:
  std::string_view view() const { return {chars_.data(), size_}; }
  void push_back(char c) {
    if (size_ < chars_.size()) chars_[size_++] = c;
  }
  char* data() { return chars_.data(); }
  void resize(std::size_t size) { size_ = std::min(size, chars_.size()); }

 private:
  std::array<char, 48> chars_{};  // the widest year fmt can write still fits
  std::size_t size_ = 0;
};

// "2026-11-25T10:00:00" in UTC, by hand: fmt's chrono formatting parses its format and calls
// the C library for each of a record's times. (fmt 9 also formats a system_clock time in local
// time: the 'Z' these carry was wrong outside UTC.) Years of other widths go through fmt.
TimeText utc_text(std::chrono::sys_seconds at) {
  TimeText text;
  const auto day = std::chrono::floor<std::chrono::days>(at);
  const std::chrono::year_month_day date{day};
  const int year = static_cast<int>(date.year());
  const std::chrono::hh_mm_ss time{at - day};
  if (year < 1000 || year > 9999) {
    const auto written = fmt::format_to_n(text.data(), 40, "{:%Y-%m-%dT%H:%M:%S}",
                                          fmt::gmtime(std::chrono::system_clock::to_time_t(at)));
    text.resize(written.size);
    return text;
  }
  text.resize(19);
  const auto put = [&text](std::size_t at, unsigned value, std::size_t digits) {
    for (std::size_t i = digits; i-- > 0; value /= 10)
      text.data()[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, static_cast<unsigned>(year), 4);
  text.data()[4] = text.data()[7] = '-';
  put(5, static_cast<unsigned>(date.month()), 2);
  put(8, static_cast<unsigned>(date.day()), 2);
  text.data()[10] = 'T';
  put(11, static_cast<unsigned>(time.hours().count()), 2);
  text.data()[13] = text.data()[16] = ':';
  put(14, static_cast<unsigned>(time.minutes().count()), 2);
  put(17, static_cast<unsigned>(time.seconds().count()), 2);
  return text;
}

TimeText date(std::chrono::sys_seconds at) {
  TimeText text = utc_text(at);
  text.push_back('Z');
  return text;
}

// "2026-11-25T10:00:00.123456Z"
TimeText microsecond_time(trace::Timestamp at) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(at);
  auto micros = static_cast<unsigned>((at - seconds).count());
  TimeText text = utc_text(seconds);
  text.push_back('.');
  const std::size_t first = text.view().size();
  for (int i = 0; i < 6; ++i) text.push_back('0');
  for (std::size_t i = first + 6; micros > 0 && i-- > first; micros /= 10)
    text.data()[i] = static_cast<char>('0' + micros % 10);
  text.push_back('Z');
  return text;
}

double round_ms(double ms) { return std::round(ms * 1000.0) / 1000.0; }

void certificate_json(JsonWriter& out, const trace::CertificateSummary& cert) {
  out.begin_object();
  out.peer_field("subject", cert.subject);
  out.peer_field("issuer", cert.issuer);
  if (cert.not_before) out.field("not_before", date(*cert.not_before).view());
  if (cert.not_after) out.field("not_after", date(*cert.not_after).view());
  if (!cert.sha256.empty()) out.field("sha256", cert.sha256);
  out.field("self_signed", cert.self_signed);
  out.end_object();
}

void client_json(JsonWriter& out, const trace::HandshakeRecord& record) {
  const trace::ClientSide& client = record.client;
  out.key("client").begin_object();
  if (client.server_name) out.peer_field("server_name", *client.server_name);
  if (!client.ja3.empty()) out.field("ja3", client.ja3);
  if (!client.ja4.empty()) out.field("ja4", client.ja4);
  names(out, "supported_ciphers", Registry::cipher_suite, client.cipher_suites);
  if (!client.supported_versions.empty())
    version_names(out, "supported_versions", client.supported_versions);
  if (!client.supported_groups.empty())
    names(out, "supported_groups", Registry::named_group, client.supported_groups);
  if (!client.key_share_groups.empty())
    names(out, "key_share_groups", Registry::named_group, client.key_share_groups);
  if (!client.signature_algorithms.empty())
    names(out, "signature_algorithms", Registry::signature_scheme, client.signature_algorithms);
  if (!client.alpn.empty()) strings(out, "alpn", client.alpn);
  names(out, "extensions", Registry::extension, client.extensions);
  out.field("legacy_version", tls::version_name(client.legacy_version));
  out.field("hello_bytes", client.hello_bytes);
  out.field("hello_records", client.hello_records);
  if (client.hello_reads) out.field("hello_reads", client.hello_reads);
  out.field("ech", client.ech);
  if (client.sslv2) out.field("sslv2", true);
  if (client.second_hello) out.field("second_hello", true);
  out.end_object();
}

void server_json(JsonWriter& out, const trace::HandshakeRecord& record) {
  const trace::ServerSide& server = record.server;
  out.key("server").begin_object();
  if (!server.ja3s.empty()) out.field("ja3s", server.ja3s);
  out.field("hello_retry_request", server.hello_retry_request);
  if (server.hrr_group) out.field("hello_retry_group", tls::group_name(*server.hrr_group));
  if (!server.chain.empty()) {
    const trace::CertificateSummary& leaf = server.chain.front();
    out.peer_field("subject", leaf.subject);
    out.peer_field("issuer", leaf.issuer);
    if (leaf.not_before) out.field("not_before", date(*leaf.not_before).view());
    if (leaf.not_after) out.field("not_after", date(*leaf.not_after).view());
    if (!leaf.sha256.empty()) out.key("hash").begin_object().field("sha256", leaf.sha256).end_object();
    out.key("x509").begin_object();
    strings(out, "alternative_names", leaf.alternative_names);
    if (!leaf.serial.empty()) out.field("serial_number", leaf.serial);
    if (!leaf.key_algorithm.empty()) out.field("public_key_algorithm", leaf.key_algorithm);
    if (leaf.key_bits) out.field("public_key_size", leaf.key_bits);
    if (!leaf.common_name.empty()) {
      out.key("subject").begin_object().key("common_name").begin_array();
      out.peer_text(leaf.common_name).end_array().end_object();
    }
    out.end_object();
  }
  out.end_object();
}

void tls_json(JsonWriter& out, const trace::HandshakeRecord& record) {
  out.key("tls").begin_object();
  if (record.version) {
    out.field("version", tls::version_name(*record.version));
    out.field("version_protocol", std::string(tls::version_protocol(*record.version)));
  }
  if (record.cipher) registry_field(out, "cipher", Registry::cipher_suite, *record.cipher);
  if (record.curve) out.field("curve", tls::group_name(*record.curve));
  out.field("established", record.established);
  if (record.server_hello_seen) out.field("resumed", record.resumed);
  if (record.next_protocol) out.peer_field("next_protocol", *record.next_protocol);
  if (record.client_hello_seen) client_json(out, record);
  if (record.server_hello_seen || record.server.hello_retry_request) server_json(out, record);
  out.end_object();
}

void alerts_json(JsonWriter& out, const std::vector<trace::AlertSeen>& alerts) {
  out.key("alerts").begin_array();
  for (const auto& alert : alerts) {
    out.begin_object();
    out.field("from", std::string(trace::side_name(alert.from)));
    if (alert.encrypted) {
      out.field("encrypted", true);
      out.field("record_length", alert.record_length);
    } else {
      out.field("level", alert.level == 1 ? "warning" : alert.level == 2 ? "fatal" : "unknown");
      out.field("description", tls::alert_name(alert.description));
      out.field("code", alert.description);
      out.field("encrypted", false);
    }
    out.end_object();
  }
  out.end_array();
}

void probe_json(JsonWriter& out, const trace::ProbeSummary& probe) {
  out.key("probe").begin_object();
  out.field("@timestamp", microsecond_time(probe.at).view());
  if (probe.error) out.peer_field("error", *probe.error);
  if (probe.version) out.field("version", tls::version_name(*probe.version));
  if (probe.covers_sni) out.field("covers_sni", *probe.covers_sni);
  if (probe.trusted) out.field("trusted", *probe.trusted);
  if (!probe.verify_error.empty()) out.peer_field("verify_error", probe.verify_error);
  out.field("chain_used", probe.chain_used);
  out.end_object();
}

void tlsglass_json(JsonWriter& out, const trace::HandshakeRecord& record) {
  out.key("tlsglass").begin_object();
  out.field("conn", record.conn);
  out.field("mode", record.mode);
  out.field("cause", std::string(trace::cause_name(record.cause)));
  if (record.inferred) out.field("inferred", true);
  out.peer_field("explanation", record.explanation);
  if (!record.next_step.empty()) out.peer_field("next_step", record.next_step);
  out.field("stage", std::string(trace::stage_name(record.stage)));
  if (record.closed_by) out.field("closed_by", std::string(trace::side_name(*record.closed_by)));
  if (record.close) out.field("close", *record.close == trace::CloseKind::fin ? "fin" : "rst");
  if (!record.reset_injected_signs.empty()) {
    out.field("injected", "likely");
    out.key("injected_why").begin_array();
    for (const auto& sign : record.reset_injected_signs) out.value(sign);
    out.end_array();
  }
  if (record.hello_retransmissions > 0)
    out.field("hello_retransmissions", record.hello_retransmissions);
  if (!record.gaps.empty()) {
    out.key("gaps").begin_array();
    for (const auto& gap : record.gaps) {
      out.begin_object();
      out.field("from", std::string(trace::side_name(gap.from)));
      out.field("bytes", gap.bytes);
      out.field("ms", round_ms(gap.ms));
      out.end_object();
    }
    out.end_array();
  }
  if (record.framing) {
    out.key("resend").begin_object();
    out.field("framing", *record.framing);
    if (record.resent_from) out.field("captured_conn", *record.resent_from);
    out.end_object();
  }
  if (!record.alerts.empty()) alerts_json(out, record.alerts);
  out.key("bytes").begin_object();
  out.field("client", record.bytes_client).field("server", record.bytes_server);
  out.end_object();
  if (record.capture) out.peer_field("capture", *record.capture);
  if (!record.client.ja3_string.empty() || !record.server.ja3s_string.empty()) {
    out.key("fingerprints").begin_object();
    if (!record.client.ja3_string.empty()) out.field("ja3", record.client.ja3_string);
    if (!record.client.ja4_r.empty()) out.field("ja4_r", record.client.ja4_r);
    if (!record.server.ja3s_string.empty()) out.field("ja3s", record.server.ja3s_string);
    out.end_object();
  }
  if (record.server.chain.size() > 1 || record.server.certificate_request) {
    if (!record.server.chain.empty()) {
      out.key("certificates").begin_array();
      for (const auto& cert : record.server.chain) certificate_json(out, cert);
      out.end_array();
    }
    if (record.server.certificate_request) out.field("client_certificate_requested", true);
  }
  if (record.certificate_source) {
    out.field("certificate_source",
              *record.certificate_source == trace::CertificateSource::wire ? "wire" : "probe");
  }
  if (record.probe) probe_json(out, *record.probe);
  if (record.prelude) {
    out.key("prelude").begin_object();
    out.field("kind", *record.prelude);
    out.field("client_bytes", record.prelude_bytes_client);
    out.field("server_bytes", record.prelude_bytes_server);
    out.end_object();
  }
  if (record.not_tls_from) {
    out.key("not_tls").begin_object();
    out.field("from", std::string(trace::side_name(*record.not_tls_from)));
    if (record.not_tls_quote) out.peer_field("quote", *record.not_tls_quote);
    out.end_object();
  }
  if (!record.problems.empty()) {
    out.key("problems").begin_array();
    for (const auto& problem : record.problems) {
      out.begin_object();
      out.field("from", std::string(trace::side_name(problem.from)));
      out.field("what", problem.what);
      out.field("offset", static_cast<std::uint64_t>(problem.offset));
      out.end_object();
    }
    out.end_array();
  }
  out.key("timeline").begin_array();
  for (const auto& entry : record.timeline) {
    out.begin_object();
    out.field("ms", round_ms(entry.ms));
    out.field("from", std::string(trace::side_name(entry.from)));
    out.peer_field("what", entry.what);
    out.end_object();
  }
  out.end_array();
  out.end_object();
}

void endpoint_fields(JsonWriter& out, const trace::Endpoint& endpoint) {
  out.field("ip", endpoint.ip).field("port", endpoint.port);
}

void record_json(JsonWriter& out, const trace::HandshakeRecord& record) {
  out.begin_object();
  out.field("@timestamp", microsecond_time(record.timestamp).view());
  out.key("event").begin_object();
  out.field("kind", "event");
  out.key("category").begin_array().value("network").end_array();
  out.key("type").begin_array().value("connection").end_array();
  out.field("action", "tls_handshake");
  out.field("outcome", record.cause == trace::Cause::ok           ? "success"
                       : record.cause == trace::Cause::incomplete ? "unknown"
                                                                  : "failure");
  if (record.duration_ns) out.field("duration", *record.duration_ns);
  out.end_object();
  if (record.source) {
    out.key("source").begin_object();
    endpoint_fields(out, *record.source);
    out.end_object();
  }
  if (record.destination || record.destination_domain) {
    out.key("destination").begin_object();
    if (record.destination) endpoint_fields(out, *record.destination);
    if (record.destination_domain) out.peer_field("domain", *record.destination_domain);
    out.end_object();
  }
  tls_json(out, record);
  tlsglass_json(out, record);
  out.end_object();
}

}  // namespace

std::string iso8601(trace::Timestamp at) { return std::string(microsecond_time(at).view()); }

std::string to_json_line(const trace::HandshakeRecord& record) {
  std::string line;
  line.reserve(4096);
  append_json_line(line, record);
  return line;
}

void append_json_line(std::string& out, const trace::HandshakeRecord& record) {
  JsonWriter writer(out);
  record_json(writer, record);
}

}  // namespace tlsglass::log
