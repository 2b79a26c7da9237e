// The ladder diagram: which way each arrow points, where a failed handshake is marked, how wide
// it may get, and that nothing in a timeline entry reaches the terminal as a control code.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "tlsglass/log/ladder.hpp"

using namespace tlsglass;
using trace::Side;
using trace::TimelineEntry;

namespace {

const log::ConsoleStyle kUtf8{false, true, 80};
const log::ConsoleStyle kAscii{false, false, 80};

// Code points, as a terminal advances over text without wide characters.
std::size_t columns(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xc0) != 0x80;
  return n;
}

// `text` without the SGR sequences ("\x1b[" digits and ';' "m") that colour it.
std::string without_sgr(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "\x1b[") == 0) {
      const std::size_t end = text.find_first_not_of("0123456789;", i + 2);
      if (end != std::string::npos && text[end] == 'm') {
        i = end;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

// The row that draws `what` (rows[0] is the header).
std::string row_of(const std::vector<std::string>& rows, const std::string& what) {
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].find(what) != std::string::npos) return rows[i];
  }
  FAIL("no row shows " << what);
  return {};
}

std::vector<std::string> marked(const std::vector<std::string>& rows, const std::string& mark) {
  std::vector<std::string> out;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(out),
               [&](const std::string& row) { return row.find(mark) != std::string::npos; });
  return out;
}

// DESIGN.md's example timeline (cert_expired, TLS 1.2).
const std::vector<TimelineEntry> kExpired = {
    {0.0, Side::client, "ClientHello"},
    {11.8, Side::server, "ServerHello,Certificate,ServerKeyExchange,ServerHelloDone"},
    {12.9, Side::client, "Alert(fatal,certificate_expired)"},
    {13.0, Side::client, "FIN"},
    {13.1, Side::server, "RST"},
};

}  // namespace

TEST_CASE("client-sent steps point right, server-sent steps point left") {
  const auto rows = log::ladder(kExpired, "cert_expired", kUtf8);
  REQUIRE(rows.size() == 1 + kExpired.size());
  CHECK(rows[0].find("client") < rows[0].find("server"));

  const std::string hello = row_of(rows, "ClientHello");
  CHECK(hello.find("→") > hello.find("ClientHello"));
  CHECK(hello.find("←") == std::string::npos);
  CHECK(hello.find("0.0 ms") != std::string::npos);

  const std::string reply = row_of(rows, "ServerHello");
  CHECK(reply.find("←") < reply.find("ServerHello"));
  CHECK(reply.find("→") == std::string::npos);
  CHECK(reply.find("11.8 ms") != std::string::npos);

  const auto ascii = log::ladder(kExpired, "cert_expired", kAscii);
  const std::string ascii_hello = row_of(ascii, "ClientHello");
  CHECK(ascii_hello.find("->|") != std::string::npos);
  CHECK(row_of(ascii, "RST").find("|<-") != std::string::npos);
  for (const auto& row : ascii) {
    CHECK(std::all_of(row.begin(), row.end(), [](char c) { return c > 0 && c < 0x7f; }));
  }
}

TEST_CASE("the alert a failed handshake ended with is marked with the cause, once") {
  const auto rows = log::ladder(kExpired, "cert_expired", kUtf8);
  const auto marks = marked(rows, "✗");
  REQUIRE(marks.size() == 1);
  CHECK(marks[0].find("Alert(fatal,certificate_expired)") != std::string::npos);
  CHECK(marks[0].find("cert_expired", marks[0].find("✗")) != std::string::npos);
  CHECK(log::failing_step(kExpired, "cert_expired") == 2u);
}

TEST_CASE("a reset, a timeout or else the last step is where it failed") {
  const std::vector<TimelineEntry> reset = {{0, Side::client, "ClientHello"},
                                            {3.2, Side::server, "RST"}};
  CHECK(marked(log::ladder(reset, "reset_mid_handshake", kUtf8), "✗")[0].find("RST") !=
        std::string::npos);

  const std::vector<TimelineEntry> silent = {{0, Side::client, "ClientHello"},
                                             {10000, Side::server, "timeout"},
                                             {10000.5, Side::client, "FIN"}};
  const auto marks = marked(log::ladder(silent, "timeout", kAscii), "X timeout");
  REQUIRE(marks.size() == 1);
  CHECK(marks[0].find("timeout -|") != std::string::npos);
  CHECK(marks[0].find("10000.0 ms") != std::string::npos);

  const std::vector<TimelineEntry> quiet_abort = {
      {0, Side::client, "ClientHello"}, {1, Side::server, "ServerHello"}, {2, Side::client, "FIN"}};
  CHECK(log::failing_step(quiet_abort, "cert_expired") == 2u);
}

TEST_CASE("a completed handshake has no mark") {
  const std::vector<TimelineEntry> ok = {
      {0, Side::client, "ClientHello"}, {1, Side::server, "ServerHello"}, {2, Side::client, "RST"}};
  const auto rows = log::ladder(ok, "ok", kUtf8);
  CHECK(rows.size() == 4);
  CHECK(marked(rows, "✗").empty());
  CHECK_FALSE(log::failing_step(ok, "ok"));
  CHECK(log::ladder({}, "incomplete", kUtf8).empty());
}

TEST_CASE("long steps are cut with an ellipsis and no row is wider than asked") {
  const std::string long_what = "ServerHello," + std::string(300, 'C') + ",ServerHelloDone";
  const std::vector<TimelineEntry> timeline = {{0, Side::client, long_what},
                                               {123456.7, Side::server, long_what}};
  for (std::size_t width : {64u, 80u, 100u}) {
    const auto rows = log::ladder(timeline, "alert_other", {false, true, width});
    for (const auto& row : rows) CHECK(columns(row) <= width);
    CHECK(row_of(rows, "ServerHello,CCC").find("…") != std::string::npos);
    CHECK(row_of(rows, "123456.7 ms").find("ServerHelloDone") == std::string::npos);
  }
  // However wide the terminal, the span between the rails stays readable.
  for (const auto& row : log::ladder(timeline, "alert_other", {false, true, 1000}))
    CHECK(columns(row) <= 16 + log::kMaxLadderSpan + 24);
  // Too narrow to honour: the span keeps its minimum rather than vanish.
  CHECK(log::ladder(timeline, "alert_other", kAscii)[1].find("...") != std::string::npos);
  CHECK(columns(log::ladder(timeline, "alert_other", {false, false, 10})[1]) ==
        16 + log::kMinLadderSpan);
}

TEST_CASE("a very long timeline keeps its start and its failing step") {
  std::vector<TimelineEntry> timeline;
  for (int i = 0; i < 300; ++i)
    timeline.push_back({double(i), Side::server, "encrypted(100 bytes)"});
  timeline[250] = {250, Side::client, "RST"};
  const auto rows = log::ladder(timeline, "reset_mid_handshake", kUtf8);
  CHECK(rows.size() <= 1 + log::kMaxLadderRows);
  CHECK(marked(rows, "more").size() == 1);
  REQUIRE(marked(rows, "✗").size() == 1);
  CHECK(marked(rows, "✗")[0].find("RST") != std::string::npos);
  CHECK(rows[1].find("0.0 ms") != std::string::npos);
}

TEST_CASE("control codes in a step or a cause reach the terminal as visible text") {
  const std::vector<TimelineEntry> hostile = {
      {0, Side::client, "Client\x1b[2J\x1b[31mHello\r\n\x7f"},
      {1, Side::server,
       "Alert\xc2\x9b"
       "6n\xe2\x80\xae"},  // C1 CSI, RIGHT-TO-LEFT OVERRIDE
  };
  for (bool color : {false, true}) {
    const auto rows = log::ladder(hostile, "no\x1b]0;t\x07", {color, true, 120});
    std::string all;
    for (const auto& row : rows) all += row + "\n";
    CHECK(all.find("\\x1b[2J\\x1b[31m") != std::string::npos);
    CHECK(all.find("\\x0d\\x0a\\x7f") != std::string::npos);
    CHECK(all.find("\\x9b6n\\u{202e}") != std::string::npos);
    CHECK(all.find("no\\x1b]0;t\\x07") != std::string::npos);
    // What is left once our own colour codes are removed has no control byte but newlines.
    const std::string plain = without_sgr(all);
    CHECK(plain.find('\x1b') == std::string::npos);
    CHECK(plain.find('\r') == std::string::npos);
    CHECK(plain.find('\x07') == std::string::npos);
    CHECK(plain.find("\xc2\x9b") == std::string::npos);
    CHECK(plain.find("\xe2\x80\xae") == std::string::npos);
    CHECK((all != plain) == color);
  }
}
