// resend_hello() against real peers on 127.0.0.1: `openssl s_server` (a throwaway P-256
// certificate made by `openssl req` for the run) answering the ClientHellos the fixtures
// recorded from openssl s_client and Chromium (tests/data/fixtures/*/how.txt), and thread
// listeners that reset, stay silent, flood, or count the reads each segment makes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fixture_support.hpp"
#include "test_peers.hpp"
#include "tlsglass/proxy/hello_resend.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/hello_rewrite.hpp"
#include "tlsglass/tls/record_reader.hpp"
#include "tlsglass/tls/types.hpp"

using namespace tlsglass;
using namespace std::chrono_literals;
using proxy::ResendRequest;
using proxy::ResendResult;
using Kind = trace::TranscriptEvent::Kind;
using ByteVec = std::vector<std::uint8_t>;

namespace {

namespace fs = std::filesystem;

ByteVec read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return ByteVec(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A fixture client's handshake bytes up to the end of its ClientHello, nothing later.
ByteVec fixture_hello(const std::string& fixture) {
  const ByteVec stream = read_file(test::fixtures_dir() / fixture / "client.bin");
  const auto end = tls::client_hello_end(stream);
  REQUIRE(end);
  return ByteVec(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(*end));
}

// A key and self-signed certificate for s_server, made once per run in a temporary directory.
struct ServerCredentials {
  fs::path dir, cert, key;
  bool made = false;
  ServerCredentials() {
    char pattern[] = "/tmp/tlsglass-resend-XXXXXX";
    if (!::mkdtemp(pattern)) return;
    dir = pattern;
    cert = dir / "cert.pem";
    key = dir / "key.pem";
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -subj /CN=app.tlsglass.test -keyout '" +
        key.string() + "' -out '" + cert.string() + "' >'" + (dir / "req.log").string() + "' 2>&1";
    made = std::system(command.c_str()) == 0;
  }
  ~ServerCredentials() {
    std::error_code ignored;
    if (!dir.empty()) fs::remove_all(dir, ignored);
  }
};

const ServerCredentials& credentials() {
  static const ServerCredentials made;
  return made;
}

// `openssl s_server -WWW` (it reads no stdin: at EOF there a plain s_server drops the client)
// on 127.0.0.1 with a port of the kernel's choosing (read back from its
// "ACCEPT 127.0.0.1:PORT" line), for one connection; stopped by its pid.
class OpensslServer {
 public:
  explicit OpensslServer(std::vector<std::string> options = {}) {
    const ServerCredentials& pki = credentials();
    if (!pki.made) return;
    log_ = pki.dir / ("s_server-" + std::to_string(::getpid()) + "-" + std::to_string(++count_));
    std::vector<std::string> args{"openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
                                  "-WWW",    "-cert",    pki.cert,  "-key",        pki.key};
    args.insert(args.end(), options.begin(), options.end());
    // Built before fork(): the child only calls async-signal-safe functions.
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return;
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::dup2(null, 0);
      ::execvp("openssl", argv.data());
      ::_exit(127);
    }
    ::close(null);
    ::close(out);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (pid_ > 0 && port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(log_);
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      const auto at = text.find("ACCEPT 127.0.0.1:");
      if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::stoi(text.substr(at + 17)));
      } else {
        std::this_thread::sleep_for(20ms);
      }
    }
  }
  ~OpensslServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::uint16_t port() const { return port_; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  static inline int count_ = 0;
  fs::path log_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

ResendRequest request_to(std::uint16_t port, std::vector<ByteVec> chunks) {
  ResendRequest request;
  request.host = "127.0.0.1";
  request.port = port;
  request.chunks = std::move(chunks);
  request.connect_timeout_s = 5;
  request.answer_timeout_s = 5;
  return request;
}

std::vector<const trace::TranscriptEvent*> events_of(const ResendResult& result, trace::Side from,
                                                     Kind kind) {
  std::vector<const trace::TranscriptEvent*> out;
  for (const auto& event : result.events)
    if (event.from == from && event.kind == kind) out.push_back(&event);
  return out;
}

ByteVec server_bytes(const ResendResult& result) {
  ByteVec out;
  for (const auto* event : events_of(result, trace::Side::server, Kind::data))
    out.insert(out.end(), event->bytes.begin(), event->bytes.end());
  return out;
}

// The server's first handshake message, read by the project's own record layer and parser.
std::optional<tls::ServerHello> first_server_hello(const ResendResult& result) {
  struct First : tls::RecordObserver {
    std::optional<tls::ServerHello> hello;
    void on_handshake(const tls::HandshakeMessage& m) override {
      if (!hello && m.type == 2) hello = tls::parse_server_hello(m.body);
    }
  } first;
  tls::RecordReader reader;
  reader.feed(server_bytes(result), first);
  return first.hello;
}

// "client data 517, server data 1200, client fin ..." and why it stopped, for failure messages.
std::string describe(const ResendResult& result) {
  std::string out = "stop " + std::to_string(static_cast<int>(result.stop)) + ":";
  for (const auto& event : result.events) {
    out += event.from == trace::Side::client ? " client " : " server ";
    out += event.kind == Kind::data  ? "data " + std::to_string(event.bytes.size())
           : event.kind == Kind::fin ? "fin"
                                     : "rst";
    out += ",";
  }
  if (!result.socket_error.empty()) out += " error " + result.socket_error;
  return out;
}

double ms_between(trace::Timestamp from, trace::Timestamp to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

TEST_CASE("openssl s_server answers a re-sent s_client ClientHello with its ServerHello") {
  OpensslServer server;
  if (server.port() == 0) {
    WARN("openssl s_server did not start: resend against a real server skipped");
    return;
  }
  const ByteVec hello = fixture_hello("openssl-tls13");
  const ResendResult result = proxy::resend_hello(request_to(server.port(), {hello}));
  INFO(server.log());
  INFO(describe(result));
  REQUIRE_FALSE(result.connect_error);
  REQUIRE(result.server);
  CHECK(result.server->ip == "127.0.0.1");
  CHECK(result.server->port == server.port());
  REQUIRE(result.client);
  CHECK(result.client->ip == "127.0.0.1");
  CHECK(result.client->port != 0);
  CHECK(result.chunks_sent == 1);

  REQUIRE_FALSE(result.events.empty());
  CHECK(result.events.front().from == trace::Side::client);
  CHECK(result.events.front().bytes == hello);
  const auto answer = first_server_hello(result);
  REQUIRE(answer);
  CHECK(answer->error == tls::HelloError::none);
  CHECK(answer->negotiated_version() == tls::version::tls13);
  // s_server waits for a Finished that never comes: the settle rule ends the wait, not the
  // timeout, and we close with a FIN; s_server then closes too.
  CHECK(result.stop == ResendResult::Stop::answer_complete);
  CHECK_FALSE(result.timed_out);
  CHECK(ms_between(result.started, result.stopped) < 4000);
  CHECK(events_of(result, trace::Side::client, Kind::fin).size() == 1);
  CHECK(events_of(result, trace::Side::client, Kind::rst).empty());
  CHECK(events_of(result, trace::Side::server, Kind::rst).empty());
  CHECK(result.answer_bytes == server_bytes(result).size());
  // Events are in time order.
  for (std::size_t i = 1; i < result.events.size(); ++i)
    CHECK(result.events[i - 1].at <= result.events[i].at);
}

TEST_CASE("Chromium's hello framed into 4 records and sent in 3 segments is still answered") {
  OpensslServer server;
  if (server.port() == 0) {
    WARN("openssl s_server did not start: resend against a real server skipped");
    return;
  }
  const auto hello = tls::client_hello_message(fixture_hello("chromium-tls13"));
  REQUIRE(hello.ok());
  const ByteVec framed = tls::frame_handshake(hello.message, 4, hello.record_version);
  const auto chunks = proxy::even_chunks(framed, 3);
  const ResendResult result = proxy::resend_hello(request_to(server.port(), chunks));
  INFO(server.log());
  INFO(describe(result));
  REQUIRE_FALSE(result.connect_error);
  CHECK(result.chunks_sent == 3);
  const auto sent = events_of(result, trace::Side::client, Kind::data);
  REQUIRE(sent.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(sent[i]->bytes == chunks[i]);
  const auto answer = first_server_hello(result);
  REQUIRE(answer);
  CHECK(answer->error == tls::HelloError::none);
  CHECK(result.stop == ResendResult::Stop::answer_complete);
}

TEST_CASE("A TLS 1.2 server's flight ends at ServerHelloDone: the wait ends there") {
  OpensslServer server({"-tls1_2"});
  if (server.port() == 0) {
    WARN("openssl s_server did not start: resend against a real server skipped");
    return;
  }
  const ResendResult result =
      proxy::resend_hello(request_to(server.port(), {fixture_hello("python-tls12")}));
  INFO(server.log());
  INFO(describe(result));
  const auto answer = first_server_hello(result);
  REQUIRE(answer);
  CHECK(answer->negotiated_version() == tls::version::tls12);
  CHECK(result.stop == ResendResult::Stop::answer_complete);
}

TEST_CASE("A HelloRetryRequest is a complete answer: no second hello is sent") {
  // The s_client hello offers a key share for x25519 only; a server that takes P-256 alone
  // asks for another (RFC 8446 §4.1.4).
  OpensslServer server({"-groups", "P-256"});
  if (server.port() == 0) {
    WARN("openssl s_server did not start: resend against a real server skipped");
    return;
  }
  const ResendResult result =
      proxy::resend_hello(request_to(server.port(), {fixture_hello("openssl-tls13")}));
  INFO(server.log());
  INFO(describe(result));
  const auto answer = first_server_hello(result);
  REQUIRE(answer);
  CHECK(answer->hello_retry_request);
  CHECK(result.stop == ResendResult::Stop::answer_complete);
  CHECK(events_of(result, trace::Side::client, Kind::data).size() == 1);
}

TEST_CASE("A server that answers in plain HTTP is a complete answer too") {
  const ByteVec hello = fixture_hello("openssl-tls13");
  test::TestServer server([&](test::Socket& socket) {
    (void)socket.receive(hello.size());
    socket.send_all("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    (void)socket.receive_to_end();  // and stays open
  });
  ResendRequest request = request_to(server.port(), {hello});
  request.settle = 200ms;
  const ResendResult result = proxy::resend_hello(request);
  INFO(describe(result));
  CHECK(result.stop == ResendResult::Stop::answer_complete);
  CHECK(ms_between(result.started, result.stopped) < 2000);
  const ByteVec answer = server_bytes(result);
  CHECK(std::string(answer.begin(), answer.end()).starts_with("HTTP/1.1 400"));
}

TEST_CASE("A listener that resets after reading the hello gives the server's RST, and no FIN") {
  const ByteVec hello = fixture_hello("openssl-tls13");
  test::TestServer server([&](test::Socket& socket) {
    (void)socket.receive(hello.size());
    socket.reset();
  });
  const ResendResult result = proxy::resend_hello(request_to(server.port(), {hello}));
  REQUIRE_FALSE(result.connect_error);
  CHECK(result.stop == ResendResult::Stop::server_closed);
  CHECK_FALSE(result.timed_out);
  REQUIRE(result.events.size() == 2);
  CHECK(result.events[0].from == trace::Side::client);
  CHECK(result.events[1].from == trace::Side::server);
  CHECK(result.events[1].kind == Kind::rst);
  CHECK(result.socket_error.empty());  // ECONNRESET is the RST itself, not an error
}

TEST_CASE("A listener that closes after the hello gives the server's FIN, then ours") {
  const ByteVec hello = fixture_hello("openssl-tls13");
  test::TestServer server([&](test::Socket& socket) { (void)socket.receive(hello.size()); });
  ResendRequest request = request_to(server.port(), {hello});
  request.host = "localhost";  // resolved with uv_getaddrinfo, each address tried in turn
  const ResendResult result = proxy::resend_hello(request);
  REQUIRE_FALSE(result.connect_error);
  CHECK(result.stop == ResendResult::Stop::server_closed);
  REQUIRE(result.events.size() == 3);
  CHECK(result.events[1].from == trace::Side::server);
  CHECK(result.events[1].kind == Kind::fin);
  CHECK(result.events[2].from == trace::Side::client);
  CHECK(result.events[2].kind == Kind::fin);
}

TEST_CASE("A listener that never answers: timed_out, the timeout honoured, then our FIN") {
  const ByteVec hello = fixture_hello("openssl-tls13");
  std::promise<int> end_of_stream;  // errno at the listener's end of stream: 0 for a FIN
  test::TestServer server([&](test::Socket& socket) {
    int error = 0;
    (void)socket.receive_to_end(&error);
    end_of_stream.set_value(error);
  });
  ResendRequest request = request_to(server.port(), {hello});
  request.answer_timeout_s = 0.6;
  const auto began = std::chrono::steady_clock::now();
  const ResendResult result = proxy::resend_hello(request);
  const auto took = std::chrono::steady_clock::now() - began;
  REQUIRE_FALSE(result.connect_error);
  CHECK(result.timed_out);
  CHECK(result.stop == ResendResult::Stop::timeout);
  const double waited = ms_between(result.events.front().at, result.stopped);
  CHECK(waited >= 590);
  CHECK(waited < 1500);
  CHECK(took < 3s);
  REQUIRE(result.events.size() == 3);
  CHECK(result.events[1].from == trace::Side::client);
  CHECK(result.events[1].kind == Kind::fin);
  CHECK(result.events[1].at >= result.stopped);
  // The listener reads our FIN (not an RST) and closes: its FIN is kept.
  CHECK(result.events[2].from == trace::Side::server);
  CHECK(result.events[2].kind == Kind::fin);
  auto listener_saw = end_of_stream.get_future();
  REQUIRE(listener_saw.wait_for(5s) == std::future_status::ready);
  CHECK(listener_saw.get() == 0);
}

TEST_CASE("A refused port is a connect error in the proxy's words, with no events") {
  const std::uint16_t port = test::closed_port();
  const ResendResult result = proxy::resend_hello(request_to(port, {ByteVec{22, 3, 1}}));
  REQUIRE(result.connect_error);
  const std::string at = "127.0.0.1:" + std::to_string(port);
  CHECK(*result.connect_error ==
        "cannot connect to " + at + ": " + at + " ECONNREFUSED (connection refused)");
  CHECK(result.stop == ResendResult::Stop::connect_failed);
  CHECK(result.events.empty());
  REQUIRE(result.server);
  CHECK(result.server->port == port);
}

TEST_CASE("A name that does not resolve is a DNS connect error") {
  ResendRequest request = request_to(443, {ByteVec{22, 3, 1}});
  request.host = "no-such-host.invalid";  // RFC 6761 §6.4: never resolves
  request.connect_timeout_s = 3;
  const ResendResult result = proxy::resend_hello(request);
  REQUIRE(result.connect_error);
  INFO(*result.connect_error);
  // A resolver that answers says so; one that does not answer at all times out.
  CHECK((result.connect_error->starts_with("cannot resolve no-such-host.invalid: ") ||
         result.connect_error->starts_with("DNS lookup of no-such-host.invalid did not finish")));
  CHECK(result.events.empty());
}

TEST_CASE("Each chunk leaves as its own segment: a listener sees one read per chunk") {
  const auto hello = tls::client_hello_message(fixture_hello("chromium-tls13"));
  REQUIRE(hello.ok());
  const ByteVec single = tls::frame_handshake(hello.message, 1, hello.record_version);
  for (std::size_t n : {2, 5, 8}) {
    INFO(n << " segments");
    std::promise<std::vector<std::size_t>> reads;
    test::TestServer server([&](test::Socket& socket) {
      std::vector<std::size_t> sizes;
      char buffer[65536];
      for (;;) {
        const ssize_t got = ::recv(socket.fd(), buffer, sizeof buffer, 0);
        if (got <= 0) break;
        sizes.push_back(static_cast<std::size_t>(got));
      }
      reads.set_value(sizes);
    });
    const auto chunks = proxy::even_chunks(single, n);
    ResendRequest request = request_to(server.port(), chunks);
    request.answer_timeout_s = 0.3;
    const ResendResult result = proxy::resend_hello(request);
    CHECK(result.timed_out);
    auto future = reads.get_future();
    REQUIRE(future.wait_for(5s) == std::future_status::ready);
    const std::vector<std::size_t> sizes = future.get();
    std::vector<std::size_t> expected;
    for (const auto& chunk : chunks) expected.push_back(chunk.size());
    CHECK(sizes == expected);
  }
}

TEST_CASE("The answer cap stops reading at max_answer_bytes and we close with a FIN") {
  const ByteVec hello = fixture_hello("openssl-tls13");
  test::TestServer server([&](test::Socket& socket) {
    (void)socket.receive(hello.size());
    const std::string flood(1 << 20, 'x');
    // Until we stop reading and close: the send fails then, which is the point.
    (void)::send(socket.fd(), flood.data(), flood.size(), MSG_NOSIGNAL);
  });
  ResendRequest request = request_to(server.port(), {hello});
  request.max_answer_bytes = 64 * 1024;
  const ResendResult result = proxy::resend_hello(request);
  REQUIRE_FALSE(result.connect_error);
  CHECK(result.stop == ResendResult::Stop::answer_cap);
  CHECK(result.answer_bytes == 64 * 1024);
  CHECK(server_bytes(result).size() == 64 * 1024);
  CHECK(events_of(result, trace::Side::client, Kind::fin).size() == 1);
}

TEST_CASE("even_chunks cuts bytes into N pieces of even sizes") {
  const ByteVec bytes{1, 2, 3, 4, 5, 6, 7};
  CHECK(proxy::even_chunks(bytes, 3) == std::vector<ByteVec>{{1, 2, 3}, {4, 5}, {6, 7}});
  CHECK(proxy::even_chunks(bytes, 0) == std::vector<ByteVec>{bytes});
  CHECK(proxy::even_chunks(bytes, 99).size() == 7);
  CHECK(proxy::even_chunks({}, 3).empty());
}
