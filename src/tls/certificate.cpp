// The Certificate handshake message and the X.509 fields the record keeps. The framing is read
// with ByteReader; each certificate is decoded by OpenSSL (d2i_X509), never by hand, and host
// names are matched by OpenSSL's RFC 6125 code.
#include "tlsglass/tls/certificate.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace tlsglass::tls {
namespace {

template <auto Free>
struct OpenSslFree {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using X509Ptr = std::unique_ptr<X509, OpenSslFree<X509_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslFree<GENERAL_NAMES_free>>;

void append_hex(std::string& out, std::span<const std::uint8_t> bytes, const char* digits) {
  for (std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
}
constexpr const char* kLowerHex = "0123456789abcdef";

// A server sends the same chain to every client: each certificate is decoded (and its
// self-signature checked) once, not once per connection - a replay of a busy capture decodes
// the same few certificates tens of thousands of times otherwise. Keyed by the DER's SHA-256,
// bounded, shared by every thread (proxy workers, replay).
template <typename Value>
class BoundedCache {
 public:
  explicit BoundedCache(std::size_t max_entries) : max_entries_(max_entries) {}
  std::optional<Value> find(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  void insert(const std::string& key, const Value& value) {
    std::lock_guard lock(mutex_);
    if (!entries_.emplace(key, value).second) return;
    order_.push_back(key);
    if (order_.size() > max_entries_) {  // first in, first out: old chains leave
      entries_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  std::mutex mutex_;
  std::size_t max_entries_;
  std::unordered_map<std::string, Value> entries_;
  std::deque<std::string> order_;
};

BoundedCache<CertificateInfo>& decoded_certificates() {
  static BoundedCache<CertificateInfo> cache(256);
  return cache;
}
CertificateInfo decode_uncached(Bytes der, CertificateInfo info);

BoundedCache<bool>& host_checks() {
  static BoundedCache<bool> cache(1024);
  return cache;
}
constexpr const char* kUpperHex = "0123456789ABCDEF";

std::span<const std::uint8_t> string_bytes(const ASN1_STRING* s) {
  return {ASN1_STRING_get0_data(s), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

X509Ptr decode_der(Bytes der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) ERR_clear_error();
  return cert;
}

// ---- Names (RFC 4514) ----

struct AttributeName {
  int nid;
  std::string_view name;
};
// RFC 4514 §3: the attribute types written by their short names; every other type is written
// as a dotted OID (§2.3). Python cryptography's rfc4514_string(), the corpus's oracle, does the
// same (so emailAddress is "1.2.840.113549.1.9.1=...").
constexpr std::array<AttributeName, 9> kAttributeNames{{
    {NID_commonName, "CN"},
    {NID_localityName, "L"},
    {NID_stateOrProvinceName, "ST"},
    {NID_organizationName, "O"},
    {NID_organizationalUnitName, "OU"},
    {NID_countryName, "C"},
    {NID_streetAddress, "STREET"},
    {NID_domainComponent, "DC"},
    {NID_userId, "UID"},
}};

void append_attribute_type(std::string& out, const ASN1_OBJECT* type) {
  const int nid = OBJ_obj2nid(type);
  for (const auto& entry : kAttributeNames) {
    if (entry.nid == nid) {
      out += entry.name;
      return;
    }
  }
  std::array<char, 128> oid{};
  const int length = OBJ_obj2txt(oid.data(), static_cast<int>(oid.size()), type, 1);
  if (length > 0 && static_cast<std::size_t>(length) < oid.size()) out.append(oid.data(), length);
}

// The value as UTF-8 (OpenSSL converts BMPString, UniversalString, T61String), or nullopt for a
// value that is not a character string.
std::optional<std::string> value_utf8(const ASN1_STRING* value) {
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

// RFC 4514 §2.4: escape the special characters, a leading '#' or space, a trailing space and
// NUL; other bytes (UTF-8) stay as they are.
void append_escaped_value(std::string& out, std::string_view value) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\0') {
      out += "\\00";
      continue;
    }
    const bool special =
        c == '\\' || c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>';
    const bool leading = i == 0 && (c == '#' || c == ' ');
    const bool trailing = i + 1 == value.size() && c == ' ';
    if (special || leading || trailing) out += '\\';
    out += c;
  }
}

void append_attribute(std::string& out, const X509_NAME_ENTRY* entry) {
  append_attribute_type(out, X509_NAME_ENTRY_get_object(entry));
  out += '=';
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
  if (auto utf8 = value_utf8(value)) {
    append_escaped_value(out, *utf8);
  } else if (ASN1_STRING_length(value) > 0) {
    // §2.4: a value without a string form is written as '#' and hex.
    out += '#';
    append_hex(out, string_bytes(value), kLowerHex);
  }
}

// RFC 4514 §2.1: the RDNs from the last to the first, ','-separated; the attributes of a
// multi-valued RDN '+'-separated, in their encoded order.
std::string format_name(const X509_NAME* name) {
  std::string out;
  int last = X509_NAME_entry_count(name) - 1;
  while (last >= 0) {
    const int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, last));
    int first = last;
    while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) == set) --first;
    if (!out.empty()) out += ',';
    for (int i = first; i <= last; ++i) {
      if (i != first) out += '+';
      append_attribute(out, X509_NAME_get_entry(name, i));
    }
    last = first - 1;
  }
  return out;
}

std::string last_common_name(const X509_NAME* name) {
  int found = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    found = i;
  }
  if (found < 0) return {};
  return value_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, found))).value_or("");
}

// ---- Other fields ----

// The serial as a number: hex of the magnitude without leading zeros, "-" when negative.
std::string format_serial(const ASN1_INTEGER* serial) {
  std::string hex;
  append_hex(hex, string_bytes(serial), kUpperHex);
  const auto first = hex.find_first_not_of('0');
  hex = first == std::string::npos ? "0" : hex.substr(first);
  return ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" + hex : hex;
}

// UTCTime and GeneralizedTime alike (RFC 5280 §4.1.2.5), dates before 1970 included.
std::optional<SysSeconds> to_sys_seconds(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day date{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                            day{static_cast<unsigned>(tm.tm_mday)}};
  if (!date.ok()) return std::nullopt;
  return sys_days{date} + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec};
}

void read_alternative_names(const X509* cert, CertificateInfo& info) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const auto bytes = string_bytes(name->d.dNSName);
      info.san_dns.emplace_back(bytes.begin(), bytes.end());
    } else if (name->type == GEN_IPADD) {
      const auto bytes = string_bytes(name->d.iPAddress);
      std::array<char, INET6_ADDRSTRLEN> text{};
      const int family = bytes.size() == 4 ? AF_INET : bytes.size() == 16 ? AF_INET6 : -1;
      if (family != -1 && inet_ntop(family, bytes.data(), text.data(), text.size()) != nullptr) {
        info.san_ip.emplace_back(text.data());
      } else {  // RFC 5280 §4.2.1.6 allows only 4 or 16 octets: show what was sent
        std::string hex = "#";
        append_hex(hex, bytes, kLowerHex);
        info.san_ip.push_back(std::move(hex));
      }
    }
  }
}

struct KeyTypeName {
  std::string_view openssl;
  std::string_view shown;
};
// Names as the algorithms' RFCs write them, where OpenSSL spells them otherwise.
constexpr std::array<KeyTypeName, 4> kKeyTypeNames{{
    {"ED25519", "Ed25519"},  // RFC 8410
    {"ED448", "Ed448"},
    {"X25519", "X25519"},
    {"X448", "X448"},
}};

struct KeyAlgorithmOid {
  std::string_view oid;
  std::string_view name;
};
// Public key algorithms OpenSSL 3.0 cannot load, named from their OID (NIST CSOR, FIPS 204).
constexpr std::array<KeyAlgorithmOid, 3> kKeyAlgorithmOids{{
    {"2.16.840.1.101.3.4.3.17", "ML-DSA-44"},
    {"2.16.840.1.101.3.4.3.18", "ML-DSA-65"},
    {"2.16.840.1.101.3.4.3.19", "ML-DSA-87"},
}};

void read_key(X509* cert, CertificateInfo& info) {
  if (EVP_PKEY* key = X509_get0_pubkey(cert)) {
    std::string_view name = EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "";
    for (const auto& entry : kKeyTypeNames) {
      if (entry.openssl == name) name = entry.shown;
    }
    info.key_type = name;
    info.key_bits = EVP_PKEY_get_bits(key);
    return;
  }
  ERR_clear_error();
  // A key this OpenSSL cannot load: name it from its algorithm OID, and size it like OpenSSL
  // 3.5 and Zeek do for ML-DSA (8 x the public key's length).
  ASN1_OBJECT* algorithm = nullptr;
  const unsigned char* public_key = nullptr;
  int public_key_length = 0;
  X509_PUBKEY* spki = X509_get_X509_PUBKEY(cert);
  if (spki == nullptr ||
      X509_PUBKEY_get0_param(&algorithm, &public_key, &public_key_length, nullptr, spki) != 1 ||
      algorithm == nullptr) {
    ERR_clear_error();
    return;
  }
  std::array<char, 128> oid{};
  const int length = OBJ_obj2txt(oid.data(), static_cast<int>(oid.size()), algorithm, 1);
  if (length <= 0 || static_cast<std::size_t>(length) >= oid.size()) return;
  info.key_type.assign(oid.data(), static_cast<std::size_t>(length));
  for (const auto& entry : kKeyAlgorithmOids) {
    if (entry.oid == info.key_type) info.key_type = entry.name;
  }
  info.key_bits = public_key_length * 8;
}

}  // namespace

CertificateInfo decode_certificate(Bytes der) {
  CertificateInfo info;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_length = 0;
  if (EVP_Digest(der.data(), der.size(), digest.data(), &digest_length, EVP_sha256(), nullptr)) {
    append_hex(info.sha256, std::span(digest.data(), digest_length), kLowerHex);
    if (auto known = decoded_certificates().find(info.sha256)) return *known;
  }
  info.der_length = static_cast<std::uint32_t>(der.size());
  info.der.assign(der.begin(), der.end());
  info = decode_uncached(der, std::move(info));
  if (!info.sha256.empty()) decoded_certificates().insert(info.sha256, info);
  return info;
}

namespace {

CertificateInfo decode_uncached(Bytes der, CertificateInfo info) {

  X509Ptr cert = decode_der(der);
  if (!cert) {
    info.parse_failed = true;
    return info;
  }
  const X509_NAME* subject = X509_get_subject_name(cert.get());
  const X509_NAME* issuer = X509_get_issuer_name(cert.get());
  info.subject = format_name(subject);
  info.issuer = format_name(issuer);
  info.common_name = last_common_name(subject);
  info.serial = format_serial(X509_get0_serialNumber(cert.get()));
  info.not_before = to_sys_seconds(X509_get0_notBefore(cert.get()));
  info.not_after = to_sys_seconds(X509_get0_notAfter(cert.get()));
  read_alternative_names(cert.get(), info);
  read_key(cert.get(), info);

  info.self_issued = X509_NAME_cmp(subject, issuer) == 0;
  if (info.self_issued) {
    EVP_PKEY* key = X509_get0_pubkey(cert.get());
    info.self_signed = key != nullptr && X509_verify(cert.get(), key) == 1;
  }
  ERR_clear_error();
  return info;
}

}  // namespace

namespace {

// A stand-in certificate carrying only the decoded names, for an info without DER: OpenSSL
// then applies the same RFC 6125 rules as to a real one.
X509Ptr certificate_from_names(const CertificateInfo& info) {
  X509Ptr cert(X509_new());
  if (!cert) return nullptr;
  if (!info.common_name.empty()) {
    X509_NAME_add_entry_by_NID(X509_get_subject_name(cert.get()), NID_commonName, V_ASN1_UTF8STRING,
                               reinterpret_cast<const unsigned char*>(info.common_name.data()),
                               static_cast<int>(info.common_name.size()), -1, 0);
  }
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return nullptr;
  auto add = [&](int type, ASN1_STRING* value) {
    GENERAL_NAME* name = value ? GENERAL_NAME_new() : nullptr;
    if (name == nullptr) {
      ASN1_STRING_free(value);
      return;
    }
    GENERAL_NAME_set0_value(name, type, value);
    if (sk_GENERAL_NAME_push(names.get(), name) <= 0) GENERAL_NAME_free(name);
  };
  for (const auto& dns : info.san_dns) {
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (value && ASN1_STRING_set(value, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(value);
      value = nullptr;
    }
    add(GEN_DNS, value);
  }
  for (const auto& ip : info.san_ip) add(GEN_IPADD, a2i_IPADDRESS(ip.c_str()));
  if (sk_GENERAL_NAME_num(names.get()) > 0) {
    X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT);
  }
  ERR_clear_error();
  return cert;
}

}  // namespace

CertificateChain parse_certificate_message(Bytes body, bool tls13, std::size_t max_certificates) {
  CertificateChain chain;
  ByteReader message(body);
  // RFC 8446 §4.4.2: opaque certificate_request_context<0..2^8-1> comes first.
  if (tls13 && !message.block8()) {
    chain.malformed = true;
    return chain;
  }
  // certificate_list<0..2^24-1>. A list longer than the message is read as far as it goes.
  const auto list_length = message.u24();
  if (!list_length) {
    chain.malformed = true;
    return chain;
  }
  if (*list_length != message.remaining()) chain.malformed = true;
  ByteReader list(*message.take(std::min<std::size_t>(*list_length, message.remaining())));

  while (!list.empty()) {
    // RFC 5246 §7.4.2 / RFC 8446 §4.4.2: opaque cert_data<1..2^24-1>, then (TLS 1.3)
    // Extension extensions<0..2^16-1>.
    auto der = list.block24();
    if (!der || (tls13 && !list.block16())) {
      chain.malformed = true;
      break;
    }
    if (der->empty()) chain.malformed = true;
    ++chain.entries;
    if (chain.certificates.size() < max_certificates) {
      chain.certificates.push_back(decode_certificate(der->rest()));
    }
  }
  return chain;
}

bool certificate_covers_host(const CertificateInfo& cert, const std::string& host) {
  // A name with a NUL in it is no host name (and must not match by its prefix).
  if (host.empty() || host.find('\0') != std::string::npos) return false;
  const std::string key = cert.sha256.empty() || cert.der.empty() ? "" : cert.sha256 + " " + host;
  if (!key.empty()) {
    if (auto known = host_checks().find(key)) return *known;
  }
  const X509Ptr x509 = cert.der.empty() ? certificate_from_names(cert) : decode_der(cert.der);
  if (!x509) return false;
  bool covered = false;
  // An IP literal is checked against iPAddress names only (RFC 6125 §1.7.2; OpenSSL never
  // compares an address with the CN); -2 means `host` is not an address.
  const int ip = X509_check_ip_asc(x509.get(), host.c_str(), 0);
  if (ip != -2) {
    covered = ip == 1;
  } else {
    covered = X509_check_host(x509.get(), host.data(), host.size(),
                              X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
  }
  ERR_clear_error();
  if (!key.empty()) host_checks().insert(key, covered);
  return covered;
}

}  // namespace tlsglass::tls
