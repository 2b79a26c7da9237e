#include "tlsglass/log/json_record.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cmath>

#include "tlsglass/log/safe_text.hpp"
#include "tlsglass/tls/registry.hpp"

namespace tlsglass::log {

namespace {

using Json = nlohmann::ordered_json;
using tls::Registry;

Json names(Registry registry, const std::vector<std::uint16_t>& codes) {
  Json out = Json::array();
  for (auto code : codes) out.push_back(tls::name_of(registry, code));
  return out;
}

Json version_names(const std::vector<std::uint16_t>& versions) {
  Json out = Json::array();
  for (auto version : versions) out.push_back(tls::version_name(version));
  return out;
}

Json strings(const std::vector<std::string>& values) {
  Json out = Json::array();
  for (const auto& value : values) out.push_back(valid_utf8(value));
  return out;
}

std::string date(std::chrono::sys_seconds at) { return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", at); }

double round_ms(double ms) { return std::round(ms * 1000.0) / 1000.0; }

Json certificate_json(const trace::CertificateSummary& cert) {
  Json out;
  out["subject"] = valid_utf8(cert.subject);
  out["issuer"] = valid_utf8(cert.issuer);
  if (cert.not_before) out["not_before"] = date(*cert.not_before);
  if (cert.not_after) out["not_after"] = date(*cert.not_after);
  if (!cert.sha256.empty()) out["sha256"] = cert.sha256;
  out["self_signed"] = cert.self_signed;
  return out;
}

Json client_json(const trace::HandshakeRecord& record) {
  const trace::ClientSide& client = record.client;
  Json out;
  if (client.server_name) out["server_name"] = valid_utf8(*client.server_name);
  if (!client.ja3.empty()) out["ja3"] = client.ja3;
  if (!client.ja4.empty()) out["ja4"] = client.ja4;
  out["supported_ciphers"] = names(Registry::cipher_suite, client.cipher_suites);
  if (!client.supported_versions.empty())
    out["supported_versions"] = version_names(client.supported_versions);
  if (!client.supported_groups.empty())
    out["supported_groups"] = names(Registry::named_group, client.supported_groups);
  if (!client.key_share_groups.empty())
    out["key_share_groups"] = names(Registry::named_group, client.key_share_groups);
  if (!client.signature_algorithms.empty())
    out["signature_algorithms"] = names(Registry::signature_scheme, client.signature_algorithms);
  if (!client.alpn.empty()) out["alpn"] = strings(client.alpn);
  out["extensions"] = names(Registry::extension, client.extensions);
  out["legacy_version"] = tls::version_name(client.legacy_version);
  out["hello_bytes"] = client.hello_bytes;
  out["hello_records"] = client.hello_records;
  if (client.hello_reads) out["hello_reads"] = client.hello_reads;
  out["ech"] = client.ech;
  if (client.sslv2) out["sslv2"] = true;
  if (client.second_hello) out["second_hello"] = true;
  return out;
}

Json server_json(const trace::HandshakeRecord& record) {
  const trace::ServerSide& server = record.server;
  Json out;
  if (!server.ja3s.empty()) out["ja3s"] = server.ja3s;
  out["hello_retry_request"] = server.hello_retry_request;
  if (server.hrr_group) out["hello_retry_group"] = tls::group_name(*server.hrr_group);
  if (!server.chain.empty()) {
    const trace::CertificateSummary& leaf = server.chain.front();
    out["subject"] = valid_utf8(leaf.subject);
    out["issuer"] = valid_utf8(leaf.issuer);
    if (leaf.not_before) out["not_before"] = date(*leaf.not_before);
    if (leaf.not_after) out["not_after"] = date(*leaf.not_after);
    if (!leaf.sha256.empty()) out["hash"] = {{"sha256", leaf.sha256}};
    Json x509;
    x509["alternative_names"] = strings(leaf.alternative_names);
    if (!leaf.serial.empty()) x509["serial_number"] = leaf.serial;
    if (!leaf.key_algorithm.empty()) x509["public_key_algorithm"] = leaf.key_algorithm;
    if (leaf.key_bits) x509["public_key_size"] = leaf.key_bits;
    if (!leaf.common_name.empty())
      x509["subject"] = {{"common_name", Json::array({valid_utf8(leaf.common_name)})}};
    out["x509"] = std::move(x509);
  }
  return out;
}

Json tls_json(const trace::HandshakeRecord& record) {
  Json out;
  if (record.version) {
    out["version"] = tls::version_name(*record.version);
    out["version_protocol"] = std::string(tls::version_protocol(*record.version));
  }
  if (record.cipher) out["cipher"] = tls::cipher_suite_name(*record.cipher);
  if (record.curve) out["curve"] = tls::group_name(*record.curve);
  out["established"] = record.established;
  if (record.server_hello_seen) out["resumed"] = record.resumed;
  if (record.next_protocol) out["next_protocol"] = valid_utf8(*record.next_protocol);
  if (record.client_hello_seen) out["client"] = client_json(record);
  if (record.server_hello_seen || record.server.hello_retry_request) out["server"] = server_json(record);
  return out;
}

Json tlsglass_json(const trace::HandshakeRecord& record) {
  Json out;
  out["conn"] = record.conn;
  out["mode"] = record.mode;
  out["cause"] = std::string(trace::cause_name(record.cause));
  if (record.inferred) out["inferred"] = true;
  out["explanation"] = valid_utf8(record.explanation);
  if (!record.next_step.empty()) out["next_step"] = valid_utf8(record.next_step);
  out["stage"] = std::string(trace::stage_name(record.stage));
  if (record.closed_by) out["closed_by"] = std::string(trace::side_name(*record.closed_by));
  if (record.close) out["close"] = *record.close == trace::CloseKind::fin ? "fin" : "rst";
  Json alerts = Json::array();
  for (const auto& alert : record.alerts) {
    Json entry;
    entry["from"] = std::string(trace::side_name(alert.from));
    if (alert.encrypted) {
      entry["encrypted"] = true;
      entry["record_length"] = alert.record_length;
    } else {
      entry["level"] = alert.level == 1 ? "warning" : alert.level == 2 ? "fatal" : "unknown";
      entry["description"] = tls::alert_name(alert.description);
      entry["code"] = alert.description;
      entry["encrypted"] = false;
    }
    alerts.push_back(std::move(entry));
  }
  if (!alerts.empty()) out["alerts"] = std::move(alerts);
  out["bytes"] = {{"client", record.bytes_client}, {"server", record.bytes_server}};
  if (record.capture) out["capture"] = valid_utf8(*record.capture);
  if (!record.client.ja3_string.empty() || !record.server.ja3s_string.empty()) {
    Json fingerprints;
    if (!record.client.ja3_string.empty()) fingerprints["ja3"] = record.client.ja3_string;
    if (!record.client.ja4_r.empty()) fingerprints["ja4_r"] = record.client.ja4_r;
    if (!record.server.ja3s_string.empty()) fingerprints["ja3s"] = record.server.ja3s_string;
    out["fingerprints"] = std::move(fingerprints);
  }
  if (record.server.chain.size() > 1 || record.server.certificate_request) {
    Json chain = Json::array();
    for (const auto& cert : record.server.chain) chain.push_back(certificate_json(cert));
    if (!chain.empty()) out["certificates"] = std::move(chain);
    if (record.server.certificate_request) out["client_certificate_requested"] = true;
  }
  if (record.certificate_source) {
    out["certificate_source"] =
        *record.certificate_source == trace::CertificateSource::wire ? "wire" : "probe";
  }
  if (record.probe) {
    const trace::ProbeSummary& probe = *record.probe;
    Json probed;
    probed["@timestamp"] = iso8601(probe.at);
    if (probe.error) probed["error"] = valid_utf8(*probe.error);
    if (probe.version) probed["version"] = tls::version_name(*probe.version);
    if (probe.covers_sni) probed["covers_sni"] = *probe.covers_sni;
    if (probe.trusted) probed["trusted"] = *probe.trusted;
    if (!probe.verify_error.empty()) probed["verify_error"] = valid_utf8(probe.verify_error);
    probed["chain_used"] = probe.chain_used;
    out["probe"] = std::move(probed);
  }
  if (record.prelude) {
    out["prelude"] = {{"kind", *record.prelude},
                      {"client_bytes", record.prelude_bytes_client},
                      {"server_bytes", record.prelude_bytes_server}};
  }
  if (record.not_tls_from) {
    Json not_tls;
    not_tls["from"] = std::string(trace::side_name(*record.not_tls_from));
    if (record.not_tls_quote) not_tls["quote"] = valid_utf8(*record.not_tls_quote);
    out["not_tls"] = std::move(not_tls);
  }
  if (!record.problems.empty()) {
    Json problems = Json::array();
    for (const auto& problem : record.problems) {
      problems.push_back({{"from", std::string(trace::side_name(problem.from))},
                          {"what", problem.what},
                          {"offset", problem.offset}});
    }
    out["problems"] = std::move(problems);
  }
  Json timeline = Json::array();
  for (const auto& entry : record.timeline) {
    timeline.push_back({{"ms", round_ms(entry.ms)},
                        {"from", std::string(trace::side_name(entry.from))},
                        {"what", valid_utf8(entry.what)}});
  }
  out["timeline"] = std::move(timeline);
  return out;
}

Json endpoint_json(const trace::Endpoint& endpoint) {
  return {{"ip", endpoint.ip}, {"port", endpoint.port}};
}

}  // namespace

std::string iso8601(trace::Timestamp at) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(at);
  const auto micros = (at - seconds).count();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", seconds, micros);
}

nlohmann::ordered_json to_json(const trace::HandshakeRecord& record) {
  Json out;
  out["@timestamp"] = iso8601(record.timestamp);
  Json event;
  event["kind"] = "event";
  event["category"] = Json::array({"network"});
  event["type"] = Json::array({"connection"});
  event["action"] = "tls_handshake";
  event["outcome"] = record.cause == trace::Cause::ok           ? "success"
                     : record.cause == trace::Cause::incomplete ? "unknown"
                                                                : "failure";
  if (record.duration_ns) event["duration"] = *record.duration_ns;
  out["event"] = std::move(event);
  if (record.source) out["source"] = endpoint_json(*record.source);
  Json destination = record.destination ? endpoint_json(*record.destination) : Json::object();
  if (record.destination_domain) destination["domain"] = valid_utf8(*record.destination_domain);
  if (!destination.empty()) out["destination"] = std::move(destination);
  out["tls"] = tls_json(record);
  out["tlsglass"] = tlsglass_json(record);
  return out;
}

std::string to_json_line(const trace::HandshakeRecord& record) {
  // Strings are valid UTF-8 by construction; `replace` is a second line of defence.
  return to_json(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tlsglass::log
