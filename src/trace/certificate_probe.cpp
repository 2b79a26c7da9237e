#include "tlsglass/trace/certificate_probe.hpp"

namespace tlsglass::trace {

CertificateSummary summarize_certificate(const tls::CertificateInfo& cert) {
  CertificateSummary out;
  out.subject = cert.subject;
  out.issuer = cert.issuer;
  out.serial = cert.serial;
  out.not_before = cert.not_before;
  out.not_after = cert.not_after;
  out.alternative_names = cert.san_dns;
  out.alternative_names.insert(out.alternative_names.end(), cert.san_ip.begin(),
                               cert.san_ip.end());
  out.common_name = cert.common_name;
  out.key_algorithm = cert.key_type;
  out.key_bits = cert.key_bits;
  out.sha256 = cert.sha256;
  out.self_signed = cert.self_signed;
  return out;
}

}  // namespace tlsglass::trace
