#include "hello_resender.hpp"

#include <fmt/format.h>

#include <charconv>

#include "tlsglass/proxy/hello_resend.hpp"
#include "tlsglass/tls/hello_rewrite.hpp"
#include "tlsglass/trace/session.hpp"

namespace tlsglass::cli {

namespace {

std::string framing_name(const Split& split, std::size_t records) {
  switch (split.kind) {
    case Split::Kind::captured:
      return fmt::format("captured ({} record{}, one segment)", records, records == 1 ? "" : "s");
    case Split::Kind::single:
      return "single";
    case Split::Kind::records:
      return fmt::format("records:{}", records);
    case Split::Kind::segments:
      return fmt::format("segments:{}", split.count);
  }
  return "captured";
}

}  // namespace

std::optional<Split> parse_split(const std::string& text, std::string& error) {
  Split split;
  if (text == "single") {
    split.kind = Split::Kind::single;
    return split;
  }
  const auto colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (colon == std::string::npos || (kind != "records" && kind != "segments")) {
    error = fmt::format("--split takes single, records:N or segments:N, not '{}'", text);
    return std::nullopt;
  }
  split.kind = kind == "records" ? Split::Kind::records : Split::Kind::segments;
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, split.count);
  if (ec != std::errc() || ptr != end || begin == end || split.count < 1 ||
      split.count > tls::kMaxHandshakeRecords) {
    error = fmt::format("--split {}:N needs N from 1 to {}", kind, tls::kMaxHandshakeRecords);
    return std::nullopt;
  }
  return split;
}

std::variant<trace::HandshakeRecord, std::string> resend_captured_hello(
    const capture::ReplayedConnection& captured, const ResendTarget& target, std::uint64_t conn) {
  const trace::HandshakeRecord& record = captured.record;
  if (!record.client_hello_seen) return std::string("no ClientHello in this connection");
  // The client's TLS starts after its plaintext prelude (a CONNECT, a SOCKS exchange).
  const std::size_t prelude = record.prelude_bytes_client;
  if (captured.client_bytes.size() <= prelude) return std::string("the ClientHello was not kept");
  const tls::Bytes stream = tls::Bytes(captured.client_bytes).subspan(prelude);
  const tls::ReassembledClientHello hello = tls::client_hello_message(stream);
  if (hello.stream_end == 0 || hello.stream_end > stream.size())
    return fmt::format("the ClientHello is incomplete in the capture ({})",
                       tls::hello_rewrite_error_name(hello.error));

  // What to send: the captured records as they were, unless the hello must change.
  std::vector<std::uint8_t> bytes(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(hello.stream_end));
  std::size_t records = hello.ok() ? hello.records : 1;
  const bool reframe = target.sni.has_value() || target.split.kind == Split::Kind::single ||
                       target.split.kind == Split::Kind::records;
  if (reframe) {
    if (!hello.ok())
      return fmt::format("this ClientHello cannot be re-framed ({})",
                         tls::hello_rewrite_error_name(hello.error));
    std::vector<std::uint8_t> message = hello.message;
    if (target.sni) {
      auto rewritten = tls::with_server_name(
          message, target.sni->empty() ? std::nullopt : std::optional<std::string_view>(*target.sni));
      if (!rewritten.ok())
        return fmt::format("cannot set the SNI: {}", tls::hello_rewrite_error_name(rewritten.error));
      message = std::move(rewritten.message);
    }
    const std::size_t wanted = target.split.kind == Split::Kind::records ? target.split.count
                               : target.split.kind == Split::Kind::single ? 1
                                                                          : hello.records;
    records = tls::handshake_record_count(message.size(), wanted);
    bytes = tls::frame_handshake(message, records, hello.record_version);
  }

  proxy::ResendRequest request;
  request.host = target.host;
  request.port = target.port;
  request.answer_timeout_s = target.answer_timeout_s;
  request.connect_timeout_s = target.answer_timeout_s;
  if (target.split.kind == Split::Kind::segments) {
    request.chunks = proxy::even_chunks(bytes, target.split.count);
  } else {
    request.chunks.push_back(std::move(bytes));
  }
  const proxy::ResendResult result = proxy::resend_hello(request);

  trace::SessionConfig config;
  config.conn = conn;
  config.mode = "resend";
  config.source = result.client;
  config.destination = result.server;
  config.framing = framing_name(target.split, records);
  config.resent_from = record.conn;
  trace::Session session(config);
  if (result.connect_error) {
    session.on_upstream_unreachable(*result.connect_error, result.stopped);
    return session.record();
  }
  for (const auto& event : result.events) {
    // Our own FIN ends the experiment; it is not the client giving up.
    if (event.from == trace::Side::client && event.kind != trace::TranscriptEvent::Kind::data)
      break;
    if (result.timed_out && event.at >= result.stopped) break;
    switch (event.kind) {
      case trace::TranscriptEvent::Kind::data:
        session.on_bytes(event.from, event.bytes, event.at);
        break;
      case trace::TranscriptEvent::Kind::fin:
        session.on_close(event.from, trace::CloseKind::fin, event.at);
        break;
      case trace::TranscriptEvent::Kind::rst:
        session.on_close(event.from, trace::CloseKind::rst, event.at);
        break;
    }
  }
  if (result.timed_out) session.on_timeout(result.stopped);
  session.on_end_of_data(result.stopped);
  return session.record();
}

}  // namespace tlsglass::cli
