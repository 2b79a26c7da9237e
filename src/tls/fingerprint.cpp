// JA3, JA3S (Salesforce) and JA4 (FoxIO, BSD-3-Clause) from decoded hellos. The strings are
// built by hand into reserved buffers and hashed with digests fetched once per process and a
// context reused per thread: a Chromium hello costs well under a microsecond.
#include "tlsglass/tls/fingerprint.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tlsglass/tls/types.hpp"

namespace tlsglass::tls {
namespace {

constexpr const char* kHexDigits = "0123456789abcdef";

// ---- Digests ----

// EVP_MD_fetch is costly; the fetched objects are immutable and safe to share between threads
// (OpenSSL 3.0 "Performance" notes), so each is fetched once.
const EVP_MD* md5() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}
const EVP_MD* sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

class DigestContext {
 public:
  DigestContext() : ctx_(EVP_MD_CTX_new()) {}
  ~DigestContext() { EVP_MD_CTX_free(ctx_); }
  DigestContext(const DigestContext&) = delete;
  DigestContext& operator=(const DigestContext&) = delete;

  // Lower-case hex of the digest, cut to `hex_chars`; "" when the digest is unavailable (MD5
  // in a FIPS-only configuration).
  std::string hex(const EVP_MD* md, std::string_view data, std::size_t hex_chars) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (md == nullptr || ctx_ == nullptr || EVP_DigestInit_ex2(ctx_, md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, digest.data(), &length) != 1) {
      return {};
    }
    std::string out(std::min<std::size_t>(hex_chars, 2 * length), '\0');
    for (std::size_t i = 0; i < out.size(); ++i) {
      const unsigned char byte = digest[i / 2];
      out[i] = kHexDigits[i % 2 == 0 ? byte >> 4 : byte & 0x0f];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string digest_hex(const EVP_MD* md, std::string_view data, std::size_t hex_chars) {
  thread_local DigestContext context;
  return context.hex(md, data, hex_chars);
}

// ---- String building ----

void append_decimal(std::string& out, std::uint32_t value) {
  std::array<char, 10> digits{};
  const auto result = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), result.ptr);
}

void append_hex4(std::string& out, std::uint16_t value) {
  const char digits[4] = {kHexDigits[value >> 12], kHexDigits[value >> 8 & 0x0f],
                          kHexDigits[value >> 4 & 0x0f], kHexDigits[value & 0x0f]};
  out.append(digits, 4);
}

// JA3 list: decimal values joined by '-', GREASE (RFC 8701) left out.
template <typename Value>
void append_ja3_list(std::string& out, std::span<const Value> values, bool skip_grease) {
  bool first = true;
  for (Value value : values) {
    if (skip_grease && is_grease(static_cast<std::uint16_t>(value))) continue;
    if (!first) out += '-';
    append_decimal(out, value);
    first = false;
  }
}

// JA4 list: 4-digit lower-case hex joined by ','.
void append_ja4_list(std::string& out, std::span<const std::uint16_t> values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out += ',';
    append_hex4(out, values[i]);
  }
}

// ---- JA4 pieces ----

struct VersionCode {
  std::uint16_t version;
  std::string_view code;
};
// JA4.md "TLS and DTLS Version"; anything else (drafts, SSL 1.0, GREASE) is "00".
constexpr std::array<VersionCode, 9> kJa4Versions{{
    {0x0002, "s2"},
    {0x0300, "s3"},
    {0x0301, "10"},
    {0x0302, "11"},
    {0x0303, "12"},
    {0x0304, "13"},
    {0xfefc, "d3"},
    {0xfefd, "d2"},
    {0xfeff, "d1"},
}};

// The highest non-GREASE supported_versions entry when the extension is there, else the
// hello's legacy_version (JA4.md: the record version is ignored).
std::string_view ja4_version(const ClientHello& hello) {
  std::uint16_t version = hello.legacy_version;
  bool found = false;
  for (std::uint16_t v : hello.supported_versions) {
    if (is_grease(v) || (found && v <= version)) continue;
    version = v;
    found = true;
  }
  for (const auto& entry : kJa4Versions) {
    if (entry.version == version) return entry.code;
  }
  return "00";
}

bool is_alphanumeric(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// JA4.md "ALPN Extension Value": first and last characters of the first protocol; when either
// is not alphanumeric, the first and last characters of its hex form; "00" when there is none.
void append_ja4_alpn(std::string& out, const ClientHello& hello) {
  if (hello.alpn.empty() || hello.alpn.front().empty()) {
    out += "00";
    return;
  }
  const std::string& protocol = hello.alpn.front();
  const auto first = static_cast<unsigned char>(protocol.front());
  const auto last = static_cast<unsigned char>(protocol.back());
  if (is_alphanumeric(first) && is_alphanumeric(last)) {
    out += static_cast<char>(first);
    out += static_cast<char>(last);
  } else {
    out += kHexDigits[first >> 4];
    out += kHexDigits[last & 0x0f];
  }
}

void append_count(std::string& out, std::size_t count) {
  count = std::min<std::size_t>(count, 99);  // JA4.md: "If there's > 99 ... output 99"
  out += static_cast<char>('0' + count / 10);
  out += static_cast<char>('0' + count % 10);
}

constexpr std::string_view kEmptyHash = "000000000000";  // JA4.md: an empty list is not hashed

std::string ja4_hash(std::string_view raw, bool empty) {
  return empty ? std::string(kEmptyHash) : digest_hex(sha256(), raw, 12);
}

// "<a>_<b>_<c>"
std::string join3(std::string_view a, std::string_view b, std::string_view c) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size() + 2);
  out.append(a).append(1, '_').append(b).append(1, '_').append(c);
  return out;
}

}  // namespace

Ja3 ja3(const ClientHello& hello) {
  // tshark and Arkime give an SSLv2 CLIENT-HELLO no JA3: it has no TLS fields to list.
  if (hello.sslv2) return {};
  Ja3 out;
  out.full.reserve(64 + 6 * (hello.cipher_suites.size() + hello.extensions.size() +
                             hello.supported_groups.size()));
  append_decimal(out.full, hello.legacy_version);
  out.full += ',';
  append_ja3_list<std::uint16_t>(out.full, hello.cipher_suites, true);
  out.full += ',';
  append_ja3_list<std::uint16_t>(out.full, hello.extensions, true);
  out.full += ',';
  append_ja3_list<std::uint16_t>(out.full, hello.supported_groups, true);
  out.full += ',';
  append_ja3_list<std::uint8_t>(out.full, hello.ec_point_formats, false);
  out.hash = digest_hex(md5(), out.full, 32);
  return out;
}

Ja3 ja3s(const ServerHello& hello) {
  if (hello.sslv2) return {};
  Ja3 out;
  out.full.reserve(32 + 6 * hello.extensions.size());
  append_decimal(out.full, hello.legacy_version);
  out.full += ',';
  append_decimal(out.full, hello.cipher_suite);
  out.full += ',';
  append_ja3_list<std::uint16_t>(out.full, hello.extensions, true);
  out.hash = digest_hex(md5(), out.full, 32);
  return out;
}

Ja4 ja4(const ClientHello& hello, char transport, Ja4Forms forms) {
  // As for JA3: no JA4 for an SSLv2 CLIENT-HELLO (Arkime reports none either).
  if (hello.sslv2) return {};

  // Wire order, GREASE out; the sorted copies drop SNI and ALPN, which part a already shows.
  std::array<std::uint16_t, 128> buffer{};  // the common case needs no allocation
  std::vector<std::uint16_t> heap;
  const std::size_t needed = 2 * (hello.cipher_suites.size() + hello.extensions.size());
  if (needed > buffer.size()) heap.resize(needed);
  std::uint16_t* storage = needed > buffer.size() ? heap.data() : buffer.data();

  std::size_t n = 0;
  const std::size_t ciphers_begin = n;
  for (auto c : hello.cipher_suites) {
    if (!is_grease(c)) storage[n++] = c;
  }
  const std::span<std::uint16_t> ciphers(storage + ciphers_begin, n - ciphers_begin);
  const std::size_t extensions_begin = n;
  for (auto e : hello.extensions) {
    if (!is_grease(e)) storage[n++] = e;
  }
  const std::span<std::uint16_t> extensions(storage + extensions_begin, n - extensions_begin);
  const std::size_t sorted_ciphers_begin = n;
  for (auto c : ciphers) storage[n++] = c;
  const std::span<std::uint16_t> sorted_ciphers(storage + sorted_ciphers_begin, ciphers.size());
  const std::size_t sorted_extensions_begin = n;
  for (auto e : extensions) {
    if (e != ext::server_name && e != ext::alpn) storage[n++] = e;
  }
  const std::span<std::uint16_t> sorted_extensions(storage + sorted_extensions_begin,
                                                   n - sorted_extensions_begin);
  std::sort(sorted_ciphers.begin(), sorted_ciphers.end());
  std::sort(sorted_extensions.begin(), sorted_extensions.end());

  // Part a: t13d1516h2
  std::string a;
  a.reserve(10);
  a += transport;
  a += ja4_version(hello);
  a += std::find(extensions.begin(), extensions.end(), ext::server_name) != extensions.end() ? 'd'
                                                                                             : 'i';
  append_count(a, ciphers.size());
  append_count(a, extensions.size());
  append_ja4_alpn(a, hello);

  // Signature algorithms in wire order, appended to part c after '_' when there are any.
  std::string signatures;
  signatures.reserve(5 * hello.signature_algorithms.size());
  for (auto s : hello.signature_algorithms) {
    if (is_grease(s)) continue;
    signatures += signatures.empty() ? "" : ",";
    append_hex4(signatures, s);
  }
  auto part_c = [&](std::span<const std::uint16_t> list) {
    std::string c;
    c.reserve(5 * list.size() + 1 + signatures.size());
    append_ja4_list(c, list);
    if (!signatures.empty()) c.append(1, '_').append(signatures);
    return c;
  };
  auto part_b = [&](std::span<const std::uint16_t> list) {
    std::string b;
    b.reserve(5 * list.size());
    append_ja4_list(b, list);
    return b;
  };

  const std::string b_sorted = part_b(sorted_ciphers);
  const std::string c_sorted = part_c(sorted_extensions);

  // Part c is "000000000000" whenever the extensions less SNI and ALPN are none, in the
  // original order too: FoxIO's ja4.py gives t10d230100_ce175d585f73_000000000000 for a hello
  // whose only extension is SNI (ja4 test data, https3-301-get.pcap).
  const bool no_ciphers = ciphers.empty();
  const bool no_extensions = sorted_extensions.empty();

  Ja4 out;
  out.ja4 = join3(a, ja4_hash(b_sorted, no_ciphers), ja4_hash(c_sorted, no_extensions));
  out.ja4_r = join3(a, b_sorted, c_sorted);
  if (forms == Ja4Forms::all) {
    const std::string b_original = part_b(ciphers);
    // JA4.md "Raw Output": the original order keeps SNI and ALPN.
    const std::string c_original = part_c(extensions);
    out.ja4_o = join3(a, ja4_hash(b_original, no_ciphers), ja4_hash(c_original, no_extensions));
    out.ja4_ro = join3(a, b_original, c_original);
  }
  return out;
}

}  // namespace tlsglass::tls
