// Plaintext before TLS, and peers that never speak it. HTTP examples are from RFC 9110/9112,
// SOCKS from RFC 1928; the TLS bytes are a real recorded ClientHello.
#include <catch2/catch.hpp>

#include <string>

#include "fixture_support.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/trace/prelude.hpp"

using namespace tlsglass;
using nlohmann::json;

namespace {

tls::Bytes text_bytes(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// The client's and server's first payloads of a recorded TLS 1.3 handshake.
std::pair<std::vector<std::uint8_t>, std::vector<std::uint8_t>> first_flights() {
  const auto fixture = test::load_fixture("curl-tls13");
  std::vector<std::uint8_t> client, server;
  for (const auto& event : fixture.transcript) {
    if (event.close) continue;
    auto& target = event.from == trace::Side::client ? client : server;
    if (target.empty()) target = event.bytes;
  }
  return {client, server};
}

json run(const std::vector<std::pair<trace::Side, std::string>>& events) {
  trace::Session session({});
  for (const auto& [side, bytes] : events) session.on_bytes(side, text_bytes(bytes), trace::Timestamp{});
  session.on_end_of_data(trace::Timestamp{});
  return json::parse(log::to_json_line(session.record()));
}

std::string as_string(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

}  // namespace

TEST_CASE("an HTTP status line is quoted from llhttp's reading of the head") {
  // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
  const std::string response = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  CHECK(trace::http_start_line(text_bytes(response), true) == "HTTP/1.1 400 Bad Request");
  CHECK(trace::http_head_length(text_bytes(response), true) == response.size());
  CHECK(trace::quote_stream_start(text_bytes(response)) == "HTTP/1.1 400 Bad Request");
  CHECK_FALSE(trace::http_start_line(text_bytes("\x16\x03\x01\x00\x05hello"), true));
}

TEST_CASE("the CONNECT target host is read from the request line") {
  // RFC 9110 §9.3.6 example.
  const std::string request = "CONNECT server.example.com:80 HTTP/1.1\r\nHost: server.example.com\r\n\r\n";
  CHECK(trace::connect_target_host(text_bytes(request)) == "server.example.com");
  CHECK(trace::connect_target_host(text_bytes("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n")) ==
        "2001:db8::1");
  CHECK(trace::classify_client_prelude(text_bytes(request)) == trace::PreludeKind::http_connect);
}

TEST_CASE("stream starts are told apart from their first bytes") {
  CHECK(trace::classify_start(text_bytes("GET / HTTP/1.1\r\n")) == trace::StartVerdict::not_tls);
  CHECK(trace::classify_start(text_bytes("\x16\x03")) == trace::StartVerdict::need_more);
  CHECK(trace::classify_start(text_bytes(std::string("\x16\x03\x01\x02\x00\x01", 6))) ==
        trace::StartVerdict::tls);
  // RFC 1928 §3: VER=5, NMETHODS=1, METHODS={0x00 no authentication}.
  CHECK(trace::classify_client_prelude(text_bytes(std::string("\x05\x01\x00", 3))) ==
        trace::PreludeKind::socks5);
}

TEST_CASE("a ClientHello after an HTTP CONNECT exchange is read as if it came first") {
  const auto [hello, answer] = first_flights();
  const json direct = run({{trace::Side::client, as_string(hello)}, {trace::Side::server, as_string(answer)}});
  const std::string connect = "CONNECT app.tlsglass.test:443 HTTP/1.1\r\nHost: app.tlsglass.test:443\r\n\r\n";
  const std::string established = "HTTP/1.1 200 Connection established\r\n\r\n";
  // The client pipelines its ClientHello right behind the request head.
  const json tunneled = run({{trace::Side::client, connect + as_string(hello)},
                             {trace::Side::server, established + as_string(answer)}});
  CHECK(tunneled["tls"]["client"]["server_name"] == direct["tls"]["client"]["server_name"]);
  CHECK(tunneled["tls"]["client"]["ja4"] == direct["tls"]["client"]["ja4"]);
  CHECK(tunneled["tls"]["cipher"] == direct["tls"]["cipher"]);
  CHECK(tunneled["tlsglass"]["prelude"]["kind"] == "http_connect");
  CHECK(tunneled["tlsglass"]["prelude"]["client_bytes"] == connect.size());
  CHECK(tunneled["tlsglass"]["prelude"]["server_bytes"] == established.size());
}

TEST_CASE("a ClientHello after a SOCKS5 exchange is read as if it came first") {
  const auto [hello, answer] = first_flights();
  // RFC 1928: greeting, method choice, CONNECT to a domain name, success reply.
  const std::string greeting("\x05\x01\x00", 3), choice("\x05\x00", 2);
  const std::string request = std::string("\x05\x01\x00\x03\x11", 5) + "app.tlsglass.test" + std::string("\x01\xbb", 2);
  const std::string reply("\x05\x00\x00\x01\x7f\x00\x00\x01\x01\xbb", 10);
  const json record = run({{trace::Side::client, greeting},
                           {trace::Side::server, choice},
                           {trace::Side::client, request},
                           {trace::Side::server, reply},
                           {trace::Side::client, as_string(hello)},
                           {trace::Side::server, as_string(answer)}});
  CHECK(record["tlsglass"]["prelude"]["kind"] == "socks5");
  CHECK(record["tls"]["client"]["server_name"] == "app.tlsglass.test");
  CHECK(record["tls"].contains("cipher"));
}

TEST_CASE("an HTTP answer to a ClientHello is not_tls, quoted") {
  const auto [hello, answer] = first_flights();
  const json record = run({{trace::Side::client, as_string(hello)},
                           {trace::Side::server, "HTTP/1.0 400 Bad request\r\nServer: x\r\n\r\n"}});
  CHECK(record["tlsglass"]["cause"] == "not_tls");
  CHECK(record["tlsglass"]["not_tls"]["from"] == "server");
  CHECK(record["tlsglass"]["not_tls"]["quote"] == "HTTP/1.0 400 Bad request");
}

TEST_CASE("a client speaking HTTP to a TLS port is not_tls, quoted") {
  const json record = run({{trace::Side::client, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"}});
  CHECK(record["tlsglass"]["cause"] == "not_tls");
  CHECK(record["tlsglass"]["not_tls"]["from"] == "client");
  CHECK(record["tlsglass"]["not_tls"]["quote"] == "GET /index.html HTTP/1.1");
}

TEST_CASE("after a CONNECT, what the tunnel carries is TLS or not_tls - no further prelude") {
  const std::string connect = "CONNECT app.tlsglass.test:443 HTTP/1.1\r\nHost: app.tlsglass.test:443\r\n\r\n";
  const std::string established = "HTTP/1.1 200 Connection established\r\n\r\n";
  // A plain HTTP server behind the tunnel (the bytes after the proxy's answer).
  const auto [hello, answer] = first_flights();
  const json server = run({{trace::Side::client, connect + as_string(hello)},
                           {trace::Side::server, established + "HTTP/1.1 400 Bad Request\r\n\r\n"}});
  CHECK(server["tlsglass"]["cause"] == "not_tls");
  CHECK(server["tlsglass"]["not_tls"]["quote"] == "HTTP/1.1 400 Bad Request");
  CHECK(server["tlsglass"]["prelude"]["server_bytes"] == established.size());
  // A client speaking HTTP inside the tunnel.
  const json client = run({{trace::Side::client, connect + "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"},
                           {trace::Side::server, established}});
  CHECK(client["tlsglass"]["cause"] == "not_tls");
  CHECK(client["tlsglass"]["not_tls"]["from"] == "client");
  CHECK(client["tlsglass"]["not_tls"]["quote"] == "GET /x HTTP/1.1");
}

TEST_CASE("a proxy refusing the CONNECT (RFC 9110 §9.3.6: not 2xx) is upstream_unreachable, quoted") {
  const std::string connect = "CONNECT app.tlsglass.test:443 HTTP/1.1\r\nHost: app.tlsglass.test:443\r\n\r\n";
  const json record = run({{trace::Side::client, connect},
                           {trace::Side::server, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"}});
  CHECK(record["tlsglass"]["cause"] == "upstream_unreachable");
  CHECK(record["tlsglass"]["explanation"].get<std::string>().find("HTTP/1.1 502 Bad Gateway") !=
        std::string::npos);
  CHECK(record["destination"]["domain"] == "app.tlsglass.test");
}

TEST_CASE("a SOCKS5 server's failure reply is why the tunnel never opened (RFC 1928 §6, RFC 1929)") {
  auto refusal = [](std::initializer_list<int> bytes) {
    std::string text;
    for (int b : bytes) text += static_cast<char>(b);
    return trace::socks5_refusal(text_bytes(text));
  };
  CHECK_FALSE(refusal({5, 0}));                                 // method chosen, no reply yet
  CHECK_FALSE(refusal({5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 1, 187}));  // succeeded
  CHECK(refusal({5, 0xff}) == "the SOCKS5 proxy accepted none of the client's methods (X'FF')");
  CHECK(refusal({5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) ==
        "the SOCKS5 proxy answered X'05' (connection refused)");
  CHECK(refusal({5, 2, 1, 1}) ==
        "the SOCKS5 proxy refused the username/password (RFC 1929 status 1)");
  CHECK(refusal({5, 2, 1, 0, 5, 4}) == "the SOCKS5 proxy answered X'04' (host unreachable)");
  CHECK_FALSE(refusal({5, 1, 0x16, 3, 3}));  // GSSAPI: not read further
  CHECK_FALSE(refusal({0x16, 3, 3, 0, 0x5a, 2}));  // not SOCKS at all
}
