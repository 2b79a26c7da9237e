// The Certificate handshake message (RFC 5246 §7.4.2; RFC 8446 §4.4.2), its chain decoded
// with OpenSSL. What the record needs is kept, plus each certificate's DER so that host names
// can be checked by OpenSSL itself (certificate_covers_host).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::tls {

using SysSeconds = std::chrono::sys_seconds;

struct CertificateInfo {
  // RFC 4514 strings, e.g. "CN=example.com,O=Example\, Inc.,C=US": RDNs last to first,
  // attribute types by their RFC 4514 §3 short names (CN, L, ST, O, OU, C, STREET, DC, UID)
  // and every other type as a dotted OID ("1.2.840.113549.1.9.1=..."), values UTF-8 with the
  // §2.4 escapes. The same form as Python cryptography's rfc4514_string(), which the corpus uses.
  std::string subject;
  std::string issuer;
  std::string serial;  // upper-case hex, no separators, no leading zeros ("-" + hex if negative)
  std::optional<SysSeconds> not_before;  // absent when OpenSSL cannot read the time
  std::optional<SysSeconds> not_after;
  std::vector<std::string> san_dns;  // dNSName entries, as encoded
  std::vector<std::string> san_ip;   // iPAddress entries, printed (inet_ntop, RFC 5952)
  std::string common_name;           // last CN of the subject, "" if none
  bool self_signed = false;          // subject == issuer and the signature verifies
  bool self_issued = false;          // subject == issuer (RFC 5280 §6.1), verified or not:
                                     // an ML-DSA signature cannot be checked by OpenSSL 3.0
  std::string key_type;              // "RSA", "EC", "Ed25519", "Ed448", "DSA", "ML-DSA-44", ...
  int key_bits = 0;    // EVP_PKEY_get_bits; for a key OpenSSL cannot load (ML-DSA in 3.0), 8 x the
                       // public key's length, as OpenSSL 3.5 and Zeek report it
  std::string sha256;  // fingerprint of the DER, lower-case hex
  std::uint32_t der_length = 0;
  bool parse_failed = false;  // OpenSSL could not decode this entry
  // The certificate as sent (also when it could not be decoded). Kept so that
  // certificate_covers_host can hand the real certificate to OpenSSL's RFC 6125 matcher.
  std::vector<std::uint8_t> der;
};

struct CertificateChain {
  std::vector<CertificateInfo> certificates;  // leaf first, as sent; at most max_certificates
  std::size_t entries = 0;                    // certificate entries in the message, decoded or not
  bool malformed = false;  // the message's own framing was wrong (truncated, bad lengths)
};

// One DER certificate (e.g. what OpenSSL's own handshake received). parse_failed when OpenSSL
// cannot decode it; sha256 and der are set either way.
CertificateInfo decode_certificate(Bytes der);

// `tls13` selects the RFC 8446 layout (request context, per-entry extensions).
// At most `max_certificates` entries are decoded (the rest are counted, not parsed).
CertificateChain parse_certificate_message(Bytes body, bool tls13,
                                           std::size_t max_certificates = 10);

// Whether `host` (a DNS name or an IP literal) is covered by the certificate's names
// (SAN dNSName/iPAddress, else CN), with RFC 6125 wildcard rules (OpenSSL X509_check_host/ip,
// partial wildcards such as "w*.example.com" refused). Runs on CertificateInfo alone: it uses
// `der`, or, for an info built without one, a certificate made from the decoded names.
bool certificate_covers_host(const CertificateInfo& cert, const std::string& host);

}  // namespace tlsglass::tls
