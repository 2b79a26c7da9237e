// JA3, JA3S and JA4 against values computed by others: tshark's ja3/ja3s on the recorded
// fixtures, FoxIO's own ja4.py output (all four JA4 forms) on the corpus, and a published
// browser fingerprint.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tlsglass/tls/fingerprint.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/record_reader.hpp"

namespace {

using namespace tlsglass;
using test::ByteVec;

// The first ClientHello or ServerHello of a stream.
class FirstHello : public tls::RecordObserver {
 public:
  void on_handshake(const tls::HandshakeMessage& m) override {
    if (found) return;
    if (m.sslv2 && m.type == 1) {
      client = tls::parse_sslv2_client_hello(m.body);
      found = true;
    } else if (!m.sslv2 && m.type == 1) {
      client = tls::parse_client_hello(m.body);
      found = true;
    } else if (!m.sslv2 && m.type == 2) {
      server = tls::parse_server_hello(m.body);
      found = true;
    }
  }
  bool found = false;
  tls::ClientHello client;
  tls::ServerHello server;
};

FirstHello first_hello(const ByteVec& stream) {
  FirstHello hello;
  tls::RecordReader reader;
  reader.feed(stream, hello);
  return hello;
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(test::data_path("fixtures")))
    if (std::filesystem::exists(entry.path() / "expected.json"))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::uint16_t> hex_list(const std::string& csv) {
  std::vector<std::uint16_t> out;
  std::size_t pos = 0;
  while (pos < csv.size()) {
    const std::size_t comma = csv.find(',', pos);
    out.push_back(static_cast<std::uint16_t>(std::stoul(csv.substr(pos, comma - pos), nullptr, 16)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("JA3 and JA3S of every fixture equal tshark's") {
  int clients = 0, servers = 0;
  for (const auto& name : fixture_names()) {
    CAPTURE(name);
    std::ifstream in(test::data_path("fixtures/" + name + "/expected.json"));
    const auto expected = nlohmann::json::parse(in);
    const auto client = first_hello(test::read_file(test::data_path("fixtures/" + name + "/client.bin")));
    if (expected.contains("ja3") && expected["ja3"].is_string()) {
      REQUIRE(client.found);
      const tls::Ja3 ja3 = tls::ja3(client.client);
      CHECK(ja3.full == expected["ja3_full"].get<std::string>());
      CHECK(ja3.hash == expected["ja3"].get<std::string>());
      ++clients;
    }
    if (expected.contains("ja3s") && expected["ja3s"].is_string()) {
      const auto server = first_hello(test::read_file(test::data_path("fixtures/" + name + "/server.bin")));
      REQUIRE(server.found);
      const tls::Ja3 ja3s = tls::ja3s(server.server);
      CHECK(ja3s.full == expected["ja3s_full"].get<std::string>());
      CHECK(ja3s.hash == expected["ja3s"].get<std::string>());
      ++servers;
    }
  }
  CHECK(clients >= 20);
  CHECK(servers >= 15);
}

TEST_CASE("All four JA4 forms equal FoxIO's ja4.py output on the corpus") {
  auto corpus = test::corpus_dir();
  if (!corpus) {
    WARN("../shared/corpus not found: skipping (set TLSGLASS_CORPUS)");
    return;
  }
  // Connections where the baseline is proven wrong (tests/corpus/known_differences.json).
  std::set<std::string> known;
  {
    std::ifstream in(test::data_path("../corpus/known_differences.json"));
    for (const auto& entry : nlohmann::json::parse(in))
      if (entry["field"] == "ja4") known.insert(entry["capture"].get<std::string>() + "|" +
                                                entry["connection"].get<std::string>());
  }
  int checked = 0, skipped = 0;
  for (const auto& entry : std::filesystem::directory_iterator(*corpus + "/expected/ja4")) {
    std::ifstream in(entry.path());
    const auto doc = nlohmann::json::parse(in);
    for (auto& [key, conn] : doc["connections"].items()) {
      const auto& baseline = conn["baseline"];
      if (!baseline.is_object() || !baseline.contains("JA4.1") || !conn["streams"].is_object())
        continue;
      if (known.count(doc["pcap"].get<std::string>() + "|" + key)) {
        ++skipped;
        continue;
      }
      CAPTURE(entry.path().filename().string(), key);
      const auto hello = first_hello(
          test::read_file(*corpus + "/" + conn["streams"]["client"].get<std::string>()));
      if (!hello.found) continue;  // a prelude (CONNECT, SOCKS) comes first: see corpus test
      const tls::Ja4 ja4 = tls::ja4(hello.client);
      CHECK(ja4.ja4 == baseline["JA4.1"].get<std::string>());
      CHECK(ja4.ja4_r == baseline["JA4_r.1"].get<std::string>());
      CHECK(ja4.ja4_o == baseline["JA4_o.1"].get<std::string>());
      CHECK(ja4.ja4_ro == baseline["JA4_ro.1"].get<std::string>());
      ++checked;
    }
  }
  INFO(checked << " connections checked, " << skipped << " known differences");
  CHECK(checked >= 100);
  CHECK(skipped == static_cast<int>(known.size()));
}

TEST_CASE("JA4 of a published Chrome 143 hello (browserleaks) is reproduced from its fields") {
  // ja4_ro as published: ciphers, extensions and signature algorithms in wire order, GREASE
  // already removed; the hello offered h2 first, an SNI, and TLS 1.3 in supported_versions.
  tls::ClientHello hello;
  hello.legacy_version = 0x0303;
  hello.cipher_suites = {0x0a0a};  // GREASE first, as Chrome sends it: ignored
  for (auto c : hex_list("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"))
    hello.cipher_suites.push_back(c);
  hello.extensions = {0x2a2a};
  for (auto e : hex_list("002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b"))
    hello.extensions.push_back(e);
  hello.extensions.push_back(0x3a3a);
  hello.signature_algorithms = hex_list("0403,0804,0401,0503,0805,0501,0806,0601");
  hello.supported_versions = {0x4a4a, 0x0304, 0x0303};
  hello.server_name = "tls.browserleaks.com";
  hello.alpn = {"h2", "http/1.1"};
  hello.has_extensions_block = true;
  const tls::Ja4 ja4 = tls::ja4(hello);
  CHECK(ja4.ja4 == "t13d1516h2_8daaf6152771_d8a2da3f94cd");
  CHECK(ja4.ja4_o == "t13d1516h2_acb858a92679_f96a17c57971");
  CHECK(ja4.ja4_r ==
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
        "0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_"
        "0403,0804,0401,0503,0805,0501,0806,0601");
}

TEST_CASE("JA4: no SNI is 'i', no ALPN is '00', version from legacy_version without the extension") {
  tls::ClientHello hello;
  hello.legacy_version = 0x0302;
  hello.cipher_suites = {0x002f};
  hello.extensions = {0x000a};
  hello.has_extensions_block = true;
  const std::string a = tls::ja4(hello).ja4.substr(0, 10);
  CHECK(a == "t11i010100");
  CHECK(tls::ja4(hello, 'q').ja4.substr(0, 1) == "q");
}

TEST_CASE("JA4: ALPN whose first or last character is not alphanumeric is written in hex") {
  // JA4.md, "ALPN Extension Value": the first and last characters of the hex form are used.
  tls::ClientHello hello;
  hello.legacy_version = 0x0303;
  hello.cipher_suites = {0x1301};
  hello.alpn = {std::string("\xab\xcd", 2)};
  hello.extensions = {0x0010};
  CHECK(tls::ja4(hello).ja4.substr(8, 2) == "ad");
  hello.alpn = {"h2"};
  CHECK(tls::ja4(hello).ja4.substr(8, 2) == "h2");
  hello.alpn = {"http/1.1"};
  CHECK(tls::ja4(hello).ja4.substr(8, 2) == "h1");
}

TEST_CASE("JA4: empty cipher and extension lists hash to twelve zeros") {
  tls::ClientHello hello;
  hello.legacy_version = 0x0303;
  const tls::Ja4 ja4 = tls::ja4(hello);
  CHECK(ja4.ja4 == "t12i000000_000000000000_000000000000");
}
