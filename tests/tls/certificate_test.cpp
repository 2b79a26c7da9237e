// The Certificate message and its X.509 fields, checked against values from outside tlsglass:
// what `openssl x509` prints for certificates made by scripts/make-test-certs
// (tests/data/certs/<name>.txt), and what tshark (with Python cryptography) and Zeek report for
// the certificates in the shared corpus.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/certificate.hpp"
#include "tlsglass/tls/record_reader.hpp"

namespace {

using namespace tlsglass;
using test::ByteVec;
using Json = nlohmann::json;

// ---- Building Certificate messages ----

void put24(ByteVec& out, std::size_t n) {
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
}

// RFC 5246 §7.4.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>.
ByteVec tls12_certificate_message(const std::vector<ByteVec>& ders) {
  ByteVec list;
  for (const auto& der : ders) {
    put24(list, der.size());
    list.insert(list.end(), der.begin(), der.end());
  }
  ByteVec body;
  put24(body, list.size());
  body.insert(body.end(), list.begin(), list.end());
  return body;
}

// RFC 8446 §4.4.2: request context, then CertificateEntry {cert_data, extensions}.
ByteVec tls13_certificate_message(const ByteVec& context, const std::vector<ByteVec>& ders,
                                  const ByteVec& entry_extensions) {
  ByteVec list;
  for (const auto& der : ders) {
    put24(list, der.size());
    list.insert(list.end(), der.begin(), der.end());
    list.push_back(static_cast<std::uint8_t>(entry_extensions.size() >> 8));
    list.push_back(static_cast<std::uint8_t>(entry_extensions.size()));
    list.insert(list.end(), entry_extensions.begin(), entry_extensions.end());
  }
  ByteVec body{static_cast<std::uint8_t>(context.size())};
  body.insert(body.end(), context.begin(), context.end());
  put24(body, list.size());
  body.insert(body.end(), list.begin(), list.end());
  return body;
}

ByteVec cert_der(const std::string& name) {
  return test::read_file(test::data_path("certs/" + name + ".der"));
}

// ---- Reading what openssl printed ----

using tls::SysSeconds;

// "Jan  1 00:00:00 2024 GMT", as `openssl x509 -dates` prints.
SysSeconds parse_openssl_date(const std::string& text) {
  static const std::array<std::string, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char month[4] = {};
  int day = 0, hour = 0, minute = 0, second = 0, year = 0;
  REQUIRE(std::sscanf(text.c_str(), "%3s %d %d:%d:%d %d GMT", month, &day, &hour, &minute, &second,
                      &year) == 6);
  const auto index = std::find(months.begin(), months.end(), month) - months.begin();
  REQUIRE(index < 12);
  using namespace std::chrono;
  return sys_days{year_month_day{std::chrono::year{year},
                                 std::chrono::month{static_cast<unsigned>(index + 1)},
                                 std::chrono::day{static_cast<unsigned>(day)}}} +
         hours{hour} + minutes{minute} + seconds{second};
}

// RFC 5952 form of an address openssl printed as "2001:DB8:0:0:0:0:0:1".
std::string canonical_ip(const std::string& text) {
  std::array<unsigned char, 16> raw{};
  std::array<char, INET6_ADDRSTRLEN> out{};
  const int family = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  REQUIRE(inet_pton(family, text.c_str(), raw.data()) == 1);
  REQUIRE(inet_ntop(family, raw.data(), out.data(), out.size()) != nullptr);
  return out.data();
}

// RFC 4514 §2.2 leaves the order of a multi-valued RDN's attributes open (openssl prints them
// reversed, Python cryptography as encoded): sort inside each RDN before comparing.
std::string normalized_dn(const std::string& dn) {
  std::vector<std::vector<std::string>> rdns(1, std::vector<std::string>(1));
  for (std::size_t i = 0; i < dn.size(); ++i) {
    if (dn[i] == '\\' && i + 1 < dn.size()) {
      rdns.back().back() += dn.substr(i, 2);
      ++i;
    } else if (dn[i] == ',') {
      rdns.emplace_back(1);
    } else if (dn[i] == '+') {
      rdns.back().emplace_back();
    } else {
      rdns.back().back() += dn[i];
    }
  }
  std::string out;
  for (auto& rdn : rdns) {
    std::sort(rdn.begin(), rdn.end());
    if (!out.empty()) out += ',';
    for (std::size_t i = 0; i < rdn.size(); ++i) out += (i ? "+" : "") + rdn[i];
  }
  return out;
}

struct OpenSslView {
  std::string subject, issuer, serial, sha256;
  SysSeconds not_before, not_after;
  std::vector<std::string> dns, ip;
  std::string key_type;
  int key_bits = 0;
  bool self_signed = false;
  std::string issued_by;
};

OpenSslView read_expected(const std::string& name) {
  std::ifstream in(test::data_path("certs/" + name + ".txt"));
  REQUIRE(in);
  OpenSslView view;
  std::string line;
  bool san_next = false;
  auto value = [&](const std::string& key) { return line.substr(key.size()); };
  while (std::getline(in, line)) {
    if (san_next) {
      std::stringstream names(line);
      std::string item;
      while (std::getline(names, item, ',')) {
        item.erase(0, item.find_first_not_of(' '));
        if (item.rfind("DNS:", 0) == 0) view.dns.push_back(item.substr(4));
        if (item.rfind("IP Address:", 0) == 0) view.ip.push_back(canonical_ip(item.substr(11)));
      }
      san_next = false;
    } else if (line.rfind("subject=", 0) == 0) {
      view.subject = value("subject=");
    } else if (line.rfind("issuer=", 0) == 0) {
      view.issuer = value("issuer=");
    } else if (line.rfind("serial=", 0) == 0) {
      view.serial = value("serial=");
      view.serial.erase(0, std::min(view.serial.find_first_not_of('0'), view.serial.size() - 1));
    } else if (line.rfind("notBefore=", 0) == 0) {
      view.not_before = parse_openssl_date(value("notBefore="));
    } else if (line.rfind("notAfter=", 0) == 0) {
      view.not_after = parse_openssl_date(value("notAfter="));
    } else if (line.rfind("X509v3 Subject Alternative Name:", 0) == 0) {
      san_next = true;
    } else if (line.rfind("sha256 Fingerprint=", 0) == 0) {
      for (char c : value("sha256 Fingerprint=")) {
        if (c != ':') view.sha256 += static_cast<char>(std::tolower(c));
      }
    } else if (line.rfind("key_type=", 0) == 0) {
      view.key_type = value("key_type=");
    } else if (line.rfind("key_bits=", 0) == 0) {
      view.key_bits = std::stoi(value("key_bits="));
    } else if (line.rfind("self_signed=", 0) == 0) {
      view.self_signed = value("self_signed=") == "yes";
    } else if (line.rfind("issued_by=", 0) == 0) {
      view.issued_by = value("issued_by=");
    }
  }
  return view;
}

const std::vector<std::string> kGeneratedCertificates{
    "ca",       "rsa2048", "ec-p256", "ed25519",  "expired",  "not-yet-valid",
    "wildcard", "ip-san",  "cn-only", "pre-1970", "multi-rdn"};

}  // namespace

TEST_CASE("Every generated certificate decodes to what openssl x509 prints for it") {
  for (const auto& name : kGeneratedCertificates) {
    INFO("tests/data/certs/" << name << ".der");
    const ByteVec der = cert_der(name);
    const OpenSslView expected = read_expected(name);
    const auto chain = tls::parse_certificate_message(tls12_certificate_message({der}), false);
    REQUIRE_FALSE(chain.malformed);
    REQUIRE(chain.certificates.size() == 1);
    const auto& cert = chain.certificates.front();
    REQUIRE_FALSE(cert.parse_failed);
    CHECK(normalized_dn(cert.subject) == normalized_dn(expected.subject));
    CHECK(normalized_dn(cert.issuer) == normalized_dn(expected.issuer));
    CHECK(cert.serial == expected.serial);
    CHECK(cert.not_before == expected.not_before);
    CHECK(cert.not_after == expected.not_after);
    CHECK(cert.san_dns == expected.dns);
    CHECK(cert.san_ip == expected.ip);
    CHECK(cert.sha256 == expected.sha256);
    CHECK(cert.der_length == der.size());
    CHECK(cert.der == der);
    CHECK(cert.key_type == expected.key_type);
    CHECK(cert.key_bits == expected.key_bits);
    CHECK(cert.self_signed == expected.self_signed);
    CHECK(cert.self_issued == expected.self_signed);
  }
}

TEST_CASE("Subject and issuer use RFC 4514 escapes and the last CN is the common name") {
  const auto chain = tls::parse_certificate_message(
      tls12_certificate_message({cert_der("multi-rdn"), cert_der("rsa2048")}), false);
  REQUIRE(chain.certificates.size() == 2);
  // Python cryptography's rfc4514_string() of this certificate: the multi-valued RDN in its
  // encoded order, every special character escaped, the trailing space as "\ ".
  CHECK(chain.certificates[0].subject ==
        R"(UID=42+CN=multi.example.test,OU=\#1 team\+ops\; \"q\" \<x\> \\ end\ ,O=tlsglass,C=US)");
  CHECK(chain.certificates[0].common_name == "multi.example.test");
  CHECK(chain.certificates[1].issuer == R"(CN=tlsglass Test Root CA,O=tlsglass\, Tests,C=US)");
  CHECK(chain.certificates[1].common_name == "rsa.example.test");
}

TEST_CASE("Validity dates before 1970 and after 2049 (GeneralizedTime) are read exactly") {
  using namespace std::chrono;
  const auto old =
      tls::parse_certificate_message(tls12_certificate_message({cert_der("pre-1970")}), false);
  REQUIRE(old.certificates.size() == 1);
  CHECK(old.certificates[0].not_before == sys_days{1969y / December / 31});
  CHECK(old.certificates[0].not_before->time_since_epoch() == -days{1});
  const auto future =
      tls::parse_certificate_message(tls12_certificate_message({cert_der("not-yet-valid")}), false);
  REQUIRE(future.certificates.size() == 1);
  CHECK(future.certificates[0].not_after == sys_days{2100y / January / 1} + hours{12});
}

TEST_CASE("A TLS 1.3 Certificate message with a request context and entry extensions") {
  // An OCSP status_request entry extension (RFC 8446 §4.4.2.1) on each entry: type 5, 3 bytes.
  const ByteVec extensions{0x00, 0x05, 0x00, 0x03, 0x01, 0x00, 0x00};
  const auto body =
      tls13_certificate_message({0xAA, 0xBB}, {cert_der("rsa2048"), cert_der("ca")}, extensions);
  const auto chain = tls::parse_certificate_message(body, true);
  CHECK_FALSE(chain.malformed);
  CHECK(chain.entries == 2);
  REQUIRE(chain.certificates.size() == 2);
  CHECK(chain.certificates[0].common_name == "rsa.example.test");
  CHECK(chain.certificates[1].common_name == "tlsglass Test Root CA");
  // The same bytes read with the TLS 1.2 layout do not frame.
  CHECK(tls::parse_certificate_message(body, false).malformed);
}

TEST_CASE("An empty certificate list is well-formed and holds nothing") {
  const auto tls12 = tls::parse_certificate_message(ByteVec{0, 0, 0}, false);
  CHECK_FALSE(tls12.malformed);
  CHECK(tls12.certificates.empty());
  const auto tls13 = tls::parse_certificate_message(ByteVec{0, 0, 0, 0}, true);
  CHECK_FALSE(tls13.malformed);
  CHECK(tls13.entries == 0);
}

TEST_CASE("Malformed framing is flagged and the entries read before it are kept") {
  const ByteVec leaf = cert_der("rsa2048");
  const ByteVec good = tls12_certificate_message({leaf, cert_der("ca")});

  SECTION("the message ends inside the second entry") {
    const ByteVec cut(good.begin(), good.end() - 10);
    const auto chain = tls::parse_certificate_message(cut, false);
    CHECK(chain.malformed);
    REQUIRE(chain.certificates.size() == 1);
    CHECK(chain.certificates[0].common_name == "rsa.example.test");
  }
  SECTION("bytes after the list") {
    ByteVec extra = good;
    extra.push_back(0);
    const auto chain = tls::parse_certificate_message(extra, false);
    CHECK(chain.malformed);
    CHECK(chain.certificates.size() == 2);
  }
  SECTION("a zero-length entry (ASN.1Cert is <1..2^24-1>)") {
    const auto chain = tls::parse_certificate_message(ByteVec{0, 0, 3, 0, 0, 0}, false);
    CHECK(chain.malformed);
    REQUIRE(chain.certificates.size() == 1);
    CHECK(chain.certificates[0].parse_failed);
  }
  SECTION("shorter than a list length") {
    CHECK(tls::parse_certificate_message(ByteVec{0, 1}, false).malformed);
    CHECK(tls::parse_certificate_message(ByteVec{}, true).malformed);
    CHECK(tls::parse_certificate_message(ByteVec{5, 1, 2}, true).malformed);
  }
  SECTION("TLS 1.3 entry without its extensions block") {
    ByteVec body{0};
    put24(body, 3 + leaf.size());
    put24(body, leaf.size());
    body.insert(body.end(), leaf.begin(), leaf.end());
    const auto chain = tls::parse_certificate_message(body, true);
    CHECK(chain.malformed);
    CHECK(chain.certificates.empty());
  }
}

TEST_CASE("An entry that is not a certificate keeps its length and hash and is marked") {
  const ByteVec junk{0x30, 0x03, 0x02, 0x01, 0x05};  // DER SEQUENCE { INTEGER 5 }
  const auto chain = tls::parse_certificate_message(tls12_certificate_message({junk}), false);
  CHECK_FALSE(chain.malformed);
  REQUIRE(chain.certificates.size() == 1);
  const auto& cert = chain.certificates[0];
  CHECK(cert.parse_failed);
  CHECK(cert.der_length == 5);
  // sha256sum of the five bytes 30 03 02 01 05.
  CHECK(cert.sha256 == "417c7763c4e320a6b747b3cb0c6d22f93741b29a32b48594b8eb4c144fe6d729");
  CHECK_FALSE(tls::certificate_covers_host(cert, "example.test"));
}

TEST_CASE("At most max_certificates entries are decoded; the rest are only counted") {
  const auto body =
      tls12_certificate_message({cert_der("rsa2048"), cert_der("ca"), cert_der("ec-p256")});
  const auto chain = tls::parse_certificate_message(body, false, 2);
  CHECK_FALSE(chain.malformed);
  CHECK(chain.entries == 3);
  REQUIRE(chain.certificates.size() == 2);
  CHECK(chain.certificates[1].common_name == "tlsglass Test Root CA");
}

TEST_CASE("Host names are matched by RFC 6125 rules: wildcard, IP address, CN, mismatch") {
  auto leaf = [](const std::string& name) {
    auto chain = tls::parse_certificate_message(tls12_certificate_message({cert_der(name)}), false);
    REQUIRE(chain.certificates.size() == 1);
    return chain.certificates[0];
  };
  const auto wildcard = leaf("wildcard");  // *.wild.example.test, wild.example.test
  const auto ip = leaf("ip-san");          // IP 192.0.2.10, 2001:db8::1; CN 192.0.2.10
  const auto cn_only = leaf("cn-only");    // no SAN, CN cn-only.example.test
  const auto rsa = leaf("rsa2048");        // rsa.example.test, www.rsa.example.test

  auto check_all = [&](bool from_names) {
    auto covers = [&](tls::CertificateInfo cert, const std::string& host) {
      if (from_names) cert.der.clear();
      return tls::certificate_covers_host(cert, host);
    };
    // RFC 6125 §6.4.3: the wildcard stands for exactly one left-most label.
    CHECK(covers(wildcard, "a.wild.example.test"));
    CHECK(covers(wildcard, "API.Wild.Example.Test"));  // §6.4.1: case-insensitive
    CHECK(covers(wildcard, "wild.example.test"));
    CHECK_FALSE(covers(wildcard, "a.b.wild.example.test"));
    CHECK_FALSE(covers(wildcard, "example.test"));
    CHECK_FALSE(covers(wildcard, "a.wild.example.test.evil"));
    // Addresses match iPAddress names only, in any textual form.
    CHECK(covers(ip, "192.0.2.10"));
    CHECK(covers(ip, "2001:db8::1"));
    CHECK(covers(ip, "2001:0DB8:0:0:0:0:0:1"));
    CHECK_FALSE(covers(ip, "192.0.2.11"));
    CHECK_FALSE(covers(cn_only, "192.0.2.10"));
    // §6.4.4: the CN counts only when there is no dNSName.
    CHECK(covers(cn_only, "cn-only.example.test"));
    CHECK_FALSE(covers(cn_only, "other.example.test"));
    CHECK(covers(rsa, "www.rsa.example.test"));
    CHECK_FALSE(covers(rsa, "ec.example.test"));
    CHECK_FALSE(covers(rsa, ""));
    CHECK_FALSE(covers(rsa, std::string("rsa.example.test\0.evil", 22)));
  };
  SECTION("from the DER") { check_all(false); }
  SECTION("from the decoded names alone") { check_all(true); }
}

// ---- The corpus ----

namespace {

std::string iso8601(const std::optional<SysSeconds>& time) {
  if (!time) return "";
  using namespace std::chrono;
  const auto day = floor<days>(*time);
  const year_month_day date{day};
  const hh_mm_ss clock{*time - day};
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02ld:%02ld:%02lldZ", int(date.year()),
                unsigned(date.month()), unsigned(date.day()), long(clock.hours().count()),
                long(clock.minutes().count()), static_cast<long long>(clock.seconds().count()));
  return out;
}

// The first Certificate message of one direction of a stream, found by the record layer
// after any plaintext prelude (STARTTLS, CONNECT, ...): the stream is fed from the first byte
// that starts a TLS handshake record.
class FirstCertificate : public tls::RecordObserver {
 public:
  void on_handshake(const tls::HandshakeMessage& message) override {
    if (!found && !message.sslv2 && message.type == 11) {
      body.assign(message.body.begin(), message.body.end());
      found = true;
    }
  }
  bool found = false;
  ByteVec body;
};

std::optional<ByteVec> first_certificate_message(const ByteVec& stream) {
  for (std::size_t start = 0; start + 5 <= stream.size(); ++start) {
    if (stream[start] != 22 || stream[start + 1] != 3 || stream[start + 2] > 4) continue;
    tls::RecordReader reader;
    FirstCertificate observer;
    reader.feed(tls::Bytes(stream).subspan(start), observer);
    if (observer.found) return observer.body;
    if (!reader.failed()) return std::nullopt;  // TLS, but no plaintext Certificate
  }
  return std::nullopt;
}

// Where tlsglass and the corpus's tshark block disagree, and why (each one checked by hand).
struct KnownDifference {
  std::string_view capture;  // expected/<source>/<capture>.json file name
  std::string_view sha256;   // the certificate, or "" for the whole message
  std::string_view field;
  std::string_view reason;
};
constexpr std::array<KnownDifference, 3> kKnownDifferences{{
    {"missing-intermediate.pcap.json",
     "611101252cfd5bd2a7d2a1ffa2751106edeb29a98d1991d41986d39ae1742da9", "san_dns",
     "the certificate encodes BasicConstraints cA=FALSE explicitly (a DER violation): Python "
     "cryptography then refuses the whole extension list and build.py writes san_dns []; "
     "OpenSSL reads the SAN www.cviis.org, cviis.org"},
    {"tls-early-alert.pcap.json",
     "808bb91f30ac93207eb49932750b319d24b3d473c0847dc87f76329e0363767a", "san_dns",
     "explicit BasicConstraints cA=FALSE again (cryptography: ParseError EncodedDefault); "
     "OpenSSL reads the SAN www.jeffbryner.com, jeffbryner.com"},
    {"tls1.2-protocol-violation.pcap.json", "", "malformed",
     "the server's Certificate message is 256 bytes but its list claims 3820 (the capture's "
     "deliberate protocol violation): malformed, and tshark lists no certificate either"},
}};

const KnownDifference* known_difference(const std::string& capture, const std::string& sha256,
                                        std::string_view field) {
  for (const auto& known : kKnownDifferences) {
    if (known.capture == capture && known.sha256 == sha256 && known.field == field) return &known;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("Corpus: every plaintext Certificate decodes as tshark and Zeek report it") {
  const auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("TLSGLASS_CORPUS not set or missing: corpus certificate test skipped");
    return;
  }
  int chains = 0, certificates = 0, zeek_keys = 0, encrypted = 0, sslv2 = 0, known = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(*corpus + "/expected")) {
    if (file.path().extension() != ".json") continue;
    std::ifstream in(file.path());
    const Json capture = Json::parse(in);
    const std::string capture_name = file.path().filename().string();
    for (const auto& [key, connection] : capture["connections"].items()) {
      const Json& tshark = connection["tshark"];
      if (!tshark.contains("certificates") || !connection.contains("streams")) continue;
      // Zeek's x509.log rows, by SHA-256: key type and length.
      std::map<std::string, Json> zeek_rows;
      const Json& baseline = connection["baseline"];
      for (const char* side : {"x509_server", "x509_client"}) {
        if (baseline.is_object() && baseline.contains(side) && baseline[side].is_array()) {
          for (const auto& row : baseline[side]) zeek_rows[row["fingerprint"]] = row;
        }
      }
      for (const std::string side : {"server", "client"}) {
        const Json& expected = tshark["certificates"][side];
        if (!expected.is_array()) continue;
        INFO(capture_name << " " << key << " " << side);
        if (tshark["first_record"][side].value("sslv2_format", false)) {
          ++sslv2;  // the certificate rides in the SSLv2 SERVER-HELLO, not a Certificate message
          continue;
        }
        const ByteVec stream =
            test::read_file(*corpus + "/" + connection["streams"][side].get<std::string>());
        const auto message = first_certificate_message(stream);
        const int version =
            tshark["server_version"].is_number() ? tshark["server_version"].get<int>() : 0;
        if (!message && (version == 0x0304 || version >> 8 == 0x7f)) {
          // TLS 1.3: the Certificate is encrypted; tshark read it with the keys some pcapng
          // captures carry (decryption secrets block).
          ++encrypted;
          continue;
        }
        REQUIRE(message);
        const auto chain = tls::parse_certificate_message(*message, false);
        if (known_difference(capture_name, "", "malformed")) {
          CHECK(chain.malformed);
          ++known;
        } else {
          CHECK_FALSE(chain.malformed);
        }
        REQUIRE(chain.certificates.size() == std::min<std::size_t>(expected.size(), 10));
        ++chains;
        for (std::size_t i = 0; i < chain.certificates.size(); ++i) {
          const auto& cert = chain.certificates[i];
          const Json& want = expected[i];
          INFO("certificate " << i << " " << want["sha256"].get<std::string>());
          ++certificates;
          CHECK(cert.sha256 == want["sha256"]);
          CHECK(cert.der_length == want["der_length"]);
          if (want.contains("parse_error")) continue;  // cryptography could not read it
          REQUIRE_FALSE(cert.parse_failed);
          CHECK(cert.subject == want["subject"]);
          CHECK(cert.issuer == want["issuer"]);
          CHECK(cert.serial == want["serial"]);
          CHECK(iso8601(cert.not_before) == want["not_before"]);
          CHECK(iso8601(cert.not_after) == want["not_after"]);
          if (known_difference(capture_name, cert.sha256, "san_dns")) {
            CHECK(cert.san_dns != want["san_dns"].get<std::vector<std::string>>());
            ++known;
          } else {
            CHECK(cert.san_dns == want["san_dns"].get<std::vector<std::string>>());
          }
          if (auto row = zeek_rows.find(cert.sha256); row != zeek_rows.end()) {
            static const std::map<std::string, std::string> zeek_key_types{
                {"rsa", "RSA"}, {"ecdsa", "EC"}, {"dsa", "DSA"}};
            const auto zeek_type = row->second["certificate.key_type"].get<std::string>();
            const auto mapped = zeek_key_types.find(zeek_type);
            CHECK(cert.key_type == (mapped != zeek_key_types.end() ? mapped->second : zeek_type));
            CHECK(cert.key_bits == row->second["certificate.key_length"]);
            ++zeek_keys;
          }
        }
      }
    }
  }
  WARN("corpus: " << chains << " certificate messages, " << certificates
                  << " certificates matched tshark; " << zeek_keys
                  << " key types and sizes matched Zeek's x509.log; " << encrypted
                  << " TLS 1.3 chains encrypted on the wire and " << sslv2
                  << " SSLv2 SERVER-HELLO certificates not checked; " << known
                  << " known differences (see kKnownDifferences)");
  CHECK(chains > 50);
}
