// The remaining clear-text handshake messages of TLS <=1.2 that the trace cares about.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::tls {

// ServerKeyExchange of an (EC)DHE suite.
struct ServerKeyExchange {
  std::optional<std::uint16_t> named_curve;  // ECDHE: RFC 8422 §5.4 named_curve
  std::optional<std::uint16_t> dh_prime_bits;  // DHE: RFC 5246 §7.4.3 dh_p length in bits
  std::optional<std::uint16_t> signature_scheme;  // TLS 1.2 signed params
  bool malformed = false;
};

// `ecdhe` says how to read the params: the message does not say which kind it is.
ServerKeyExchange parse_server_key_exchange(Bytes body, bool ecdhe);

// CertificateRequest (TLS <=1.2, RFC 5246 §7.4.4): the server asks for a client certificate.
struct CertificateRequest {
  std::vector<std::uint8_t> certificate_types;
  std::vector<std::uint16_t> signature_algorithms;
  std::uint16_t certificate_authorities = 0;  // number of DNs listed
  bool malformed = false;
};
CertificateRequest parse_certificate_request(Bytes body, bool tls12);

// NewSessionTicket (RFC 5077 §3.3).
struct NewSessionTicket {
  std::uint32_t lifetime_hint = 0;
  std::uint16_t ticket_length = 0;
  bool malformed = false;
};
NewSessionTicket parse_new_session_ticket(Bytes body);

}  // namespace tlsglass::tls
