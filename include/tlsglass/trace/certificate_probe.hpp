// What `--probe-certs` learned by opening its own TLS connection to the same upstream with the
// same SNI: the chain the server presents, checked against the clock, the SNI and the system
// trust store. The proxy fills it (proxy/cert_probe); Session::on_certificate_probe hands it to
// the verdict, which marks anything taken from it as probed, not seen on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tlsglass/tls/certificate.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::trace {

struct CertificateProbe {
  Timestamp at{};  // when the probe's handshake finished (validity is judged against it)
  // Set when the probe got no chain: "connect: connection refused", "handshake: ...", "timed out".
  std::optional<std::string> error;
  std::optional<std::uint16_t> version;  // what the probe negotiated
  std::optional<std::uint16_t> cipher;
  std::vector<CertificateSummary> chain;  // leaf first, as the server sent it
  std::optional<bool> covers_sni;         // X509_check_host(leaf, SNI); unset without an SNI
  std::optional<bool> trusted;            // the chain verified against the system trust store
  std::string verify_error;               // X509_verify_cert_error_string when !trusted
};

// What the record keeps of a decoded certificate (the wire's, or a probe's).
CertificateSummary summarize_certificate(const tls::CertificateInfo& cert);

}  // namespace tlsglass::trace
