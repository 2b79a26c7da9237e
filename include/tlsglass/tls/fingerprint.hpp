// Client and server fingerprints, exactly as their specifications define them:
//   JA3 / JA3S (Salesforce, https://github.com/salesforce/ja3): comma-separated decimal fields,
//   GREASE removed (RFC 8701), MD5 of the string.
//   JA4 (FoxIO, BSD-3-Clause, https://github.com/FoxIO-LLC/ja4/blob/main/technical_details/JA4.md):
//   a_b_c with b = truncated SHA-256 of sorted cipher suites, c = of sorted extensions (minus SNI
//   and ALPN) + "_" + signature algorithms in wire order.
// JA4S, JA4X and the rest of JA4+ are under the FoxIO licence and deliberately not implemented.
#pragma once

#include <cstdint>
#include <string>

#include "tlsglass/tls/hello.hpp"

namespace tlsglass::tls {

struct Ja3 {
  std::string full;  // "771,4865-4866,0-23-65281,29-23-24,0"
  std::string hash;  // MD5 of full, lower-case hex
};

Ja3 ja3(const ClientHello& hello);
Ja3 ja3s(const ServerHello& hello);

struct Ja4 {
  std::string ja4;     // "t13d1516h2_8daaf6152771_e5627efa2ab1"
  std::string ja4_r;   // raw (unhashed), sorted
  std::string ja4_o;   // original order, hashed (only with Ja4Forms::all)
  std::string ja4_ro;  // original order, raw (only with Ja4Forms::all)
};

// The record logs the sorted forms; the original-order ones cost two more SHA-256s and are
// computed only when asked for.
enum class Ja4Forms : std::uint8_t { sorted, all };

// `transport`: 't' for TCP, 'q' for QUIC, 'd' for DTLS.
Ja4 ja4(const ClientHello& hello, char transport = 't', Ja4Forms forms = Ja4Forms::all);

}  // namespace tlsglass::tls
