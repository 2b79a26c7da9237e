// The verdict's words: how versions, alerts, certificates, timings and the next command are
// put into the explanation and next_step (private to trace/; decide() in verdict.cpp chooses
// the cause, these say it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tlsglass/trace/evidence.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::trace::verdict_words {

std::string join(const std::vector<std::string>& items, std::string_view separator);

std::string version_range(const Evidence& evidence);

std::string alert_words(const AlertSeen& alert);

// host:port to repeat the connection with, from what the record knows.
std::string target(const HandshakeRecord& record);

std::string s_client(const HandshakeRecord& record, std::string_view extra = {});

std::string stage_words(Stage stage);

double ms_since_hello(const Evidence& evidence, Timestamp at);

std::string names_of(const CertificateSummary& leaf);

std::string day(std::chrono::sys_seconds at);

// What --probe-certs adds when the leaf's dates and names are fine: whether the chain verifies
// against this host's trust store (a hint: the client may trust a private CA), or why the
// probe got no chain.
std::string probe_words(const Evidence& evidence);

// "GET http://host/path HTTP/1.1": a request line in absolute form (RFC 9112 §3.2.2), the form
// clients send to a plain-HTTP proxy.
bool absolute_form_request(std::string_view line);

std::string ms_words(double ms);

// What only a capture shows about a reset or a silence (DESIGN.md reset_mid_handshake): the
// packets' own signs that the RST came from a middlebox, and a hello the network dropped.
std::string capture_words(const HandshakeRecord& record);

// A reset or silence right after the ClientHello, compared with the last hello to this server
// that worked (HelloHistory) and with the hello's own framing. Returns words to append; may
// replace next_step.
std::string hello_words(const Evidence& evidence, HandshakeRecord& record);

// What a server that refused every offered version must have instead.
std::string server_versions_words(const Evidence& evidence);

// The version a TLS <=1.2 ServerHello chose: the highest the server has up to the client's
// (RFC 5246 Appendix E.1), so the server's maximum.
std::string chosen_words(const HandshakeRecord& record);

}  // namespace tlsglass::trace::verdict_words
