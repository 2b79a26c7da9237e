// Parser cost per ClientHello, on real hellos recorded by scripts/record-fixtures: a Chromium
// hello (~1.9 KB, post-quantum key share, GREASE, ECH) and a small curl one.
//   ./build/bench/parse_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "tlsglass/tls/fingerprint.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/record_reader.hpp"
#include "tlsglass/trace/session.hpp"

namespace {

using namespace tlsglass;

std::vector<std::uint8_t> client_stream(const std::string& fixture) {
  const char* dir = std::getenv("TLSGLASS_TEST_DATA");
  const std::string path =
      std::string(dir ? dir : TLSGLASS_SOURCE_DIR "/tests/data") + "/fixtures/" + fixture + "/client.bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The records that carry the first ClientHello, and the message body itself.
struct Hello {
  std::vector<std::uint8_t> records;
  std::vector<std::uint8_t> body;
};

class FirstHello : public tls::RecordObserver {
 public:
  void on_handshake(const tls::HandshakeMessage& message) override {
    if (body.empty() && message.type == 1) body.assign(message.body.begin(), message.body.end());
  }
  std::vector<std::uint8_t> body;
};

Hello load(const std::string& fixture) {
  Hello hello;
  const auto stream = client_stream(fixture);
  tls::RecordReader reader;
  FirstHello observer;
  std::size_t pos = 0;
  while (observer.body.empty() && pos + 5 <= stream.size()) {
    const std::size_t length = 5 + (stream[pos + 3] << 8 | stream[pos + 4]);
    reader.feed(tls::Bytes(stream).subspan(pos, std::min(length, stream.size() - pos)), observer);
    pos += length;
  }
  hello.records.assign(stream.begin(), stream.begin() + std::min(pos, stream.size()));
  hello.body = observer.body;
  if (hello.body.empty()) throw std::runtime_error("no ClientHello in " + fixture);
  return hello;
}

class Discard : public tls::RecordObserver {
 public:
  void on_handshake(const tls::HandshakeMessage& message) override {
    benchmark::DoNotOptimize(message.body.data());
  }
};

void record_layer(benchmark::State& state, const std::string& fixture) {
  const Hello hello = load(fixture);
  Discard observer;
  for (auto _ : state) {
    tls::RecordReader reader;
    reader.feed(hello.records, observer);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * hello.records.size()));
}

void parse_only(benchmark::State& state, const std::string& fixture) {
  const Hello hello = load(fixture);
  for (auto _ : state) {
    tls::ClientHello parsed = tls::parse_client_hello(hello.body);
    benchmark::DoNotOptimize(parsed.cipher_suites.data());
  }
}

void parse_and_fingerprints(benchmark::State& state, const std::string& fixture) {
  const Hello hello = load(fixture);
  for (auto _ : state) {
    tls::ClientHello parsed = tls::parse_client_hello(hello.body);
    tls::Ja3 ja3 = tls::ja3(parsed);
    tls::Ja4 ja4 = tls::ja4(parsed, 't', tls::Ja4Forms::sorted);  // what the record logs
    benchmark::DoNotOptimize(ja3.hash.data());
    benchmark::DoNotOptimize(ja4.ja4.data());
  }
}

// The whole per-connection path the proxy pays for a hello: session, record layer, parse,
// fingerprints, names.
void session_client_hello(benchmark::State& state, const std::string& fixture) {
  const Hello hello = load(fixture);
  for (auto _ : state) {
    trace::Session session({});
    session.on_bytes(trace::Side::client, hello.records, trace::Timestamp{});
    benchmark::DoNotOptimize(&session);
  }
}

}  // namespace

BENCHMARK_CAPTURE(record_layer, chromium, std::string("chromium-tls13"));
BENCHMARK_CAPTURE(record_layer, curl, std::string("curl-tls13"));
BENCHMARK_CAPTURE(parse_only, chromium, std::string("chromium-tls13"));
BENCHMARK_CAPTURE(parse_only, curl, std::string("curl-tls13"));
BENCHMARK_CAPTURE(parse_and_fingerprints, chromium, std::string("chromium-tls13"));
BENCHMARK_CAPTURE(parse_and_fingerprints, curl, std::string("curl-tls13"));
BENCHMARK_CAPTURE(session_client_hello, chromium, std::string("chromium-tls13"));
BENCHMARK_CAPTURE(session_client_hello, curl, std::string("curl-tls13"));

BENCHMARK_MAIN();
