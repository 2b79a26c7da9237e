// The Certificate handshake message (RFC 5246 §7.4.2; RFC 8446 §4.4.2), its chain decoded
// with OpenSSL. Only what the record needs is kept; the DER is not.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::tls {

using SysSeconds = std::chrono::sys_seconds;

struct CertificateInfo {
  std::string subject;  // RFC 4514 string, e.g. "CN=example.com,O=Example,C=US"
  std::string issuer;
  std::string serial;   // upper-case hex, no separators
  std::optional<SysSeconds> not_before;  // absent when OpenSSL cannot read the time
  std::optional<SysSeconds> not_after;
  std::vector<std::string> san_dns;      // dNSName entries, as encoded
  std::vector<std::string> san_ip;       // iPAddress entries, printed
  std::string common_name;               // last CN of the subject, "" if none
  bool self_signed = false;              // subject == issuer and the signature verifies
  std::string key_type;                  // "RSA", "EC", "Ed25519", "Ed448", "DSA", "ML-DSA-44", ...
  int key_bits = 0;
  std::string sha256;                    // fingerprint of the DER, lower-case hex
  std::uint32_t der_length = 0;
  bool parse_failed = false;             // OpenSSL could not decode this entry
};

struct CertificateChain {
  std::vector<CertificateInfo> certificates;  // leaf first, as sent
  bool malformed = false;  // the message's own framing was wrong (truncated, bad lengths)
};

// `tls13` selects the RFC 8446 layout (request context, per-entry extensions).
// At most `max_certificates` entries are decoded (the rest are counted, not parsed).
CertificateChain parse_certificate_message(Bytes body, bool tls13, std::size_t max_certificates = 10);

// Whether `host` (a DNS name or an IP literal) is covered by the certificate's names
// (SAN dNSName/iPAddress, else CN), with RFC 6125 wildcard rules (OpenSSL X509_check_host/ip).
// Works from the decoded names, so it can run on CertificateInfo alone.
bool certificate_covers_host(const CertificateInfo& cert, const std::string& host);

}  // namespace tlsglass::tls
