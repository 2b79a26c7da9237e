#include "tlsglass/trace/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "tlsglass/tls/certificate.hpp"
#include "tlsglass/tls/fingerprint.hpp"
#include "tlsglass/tls/handshake_messages.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/registry.hpp"
#include "tlsglass/tls/types.hpp"
#include "tlsglass/trace/evidence.hpp"
#include "tlsglass/trace/prelude.hpp"

namespace tlsglass::trace {

namespace {

using tls::HandshakeType;

// TLS 1.3 encrypted records shorter than this are alerts, not a Finished: an alert is
// 2 bytes + 1 content type + a 16-byte AEAD tag (19), a Finished at least 4 + 32 + 1 + 16 (53).
constexpr std::uint16_t kShortEncryptedRecord = 40;
constexpr std::size_t kMaxRecordedLengths = 8;
constexpr std::size_t kMaxReadItems = 12;
// A non-TLS stream is quoted from its first line; this much is kept to find that line.
constexpr std::size_t kMaxQuoteBytes = 512;

bool is_tls13(std::uint16_t version) {
  // 0x7fNN: TLS 1.3 drafts; 0x7e01..: Google's TLS 1.3 experiment variants.
  return version == tls::version::tls13 || (version >> 8) == 0x7f || (version >> 8) == 0x7e;
}

enum class Phase : std::uint8_t { unknown, prelude, tls, not_tls };

// Handshake messages by their RFC names, as the timeline shows them.
struct MessageName {
  std::uint8_t type;
  const char* name;
};
constexpr MessageName kMessageNames[] = {
    {0, "HelloRequest"},        {1, "ClientHello"},         {2, "ServerHello"},
    {3, "HelloVerifyRequest"},  {4, "NewSessionTicket"},    {5, "EndOfEarlyData"},
    {8, "EncryptedExtensions"}, {11, "Certificate"},        {12, "ServerKeyExchange"},
    {13, "CertificateRequest"}, {14, "ServerHelloDone"},    {15, "CertificateVerify"},
    {16, "ClientKeyExchange"},  {20, "Finished"},           {22, "CertificateStatus"},
    {24, "KeyUpdate"},          {25, "CompressedCertificate"},
};

// The RFC name of a handshake message type; nullptr for a type without one.
const char* handshake_message_name(std::uint8_t type) {
  for (const auto& entry : kMessageNames) {
    if (entry.type == type) return entry.name;
  }
  return nullptr;
}

const char* sslv2_message_name(std::uint8_t type) {
  // SSL 2.0 message types: 1 CLIENT-HELLO, 4 SERVER-HELLO.
  if (type == 1) return "ClientHello(SSLv2)";
  if (type == 4) return "ServerHello(SSLv2)";
  return nullptr;
}

}  // namespace

class Session::Impl {
 public:
  explicit Impl(SessionConfig config) : config_(std::move(config)) {
    record_.conn = config_.conn;
    record_.mode = config_.mode;
    record_.source = config_.source;
    record_.destination = config_.destination;
    record_.framing = config_.framing;
    record_.resent_from = config_.resent_from;
    for (auto& side : sides_) side.reader = tls::RecordReader(config_.limits.records);
  }

  void on_bytes(Side from, tls::Bytes bytes, Timestamp at);
  void on_close(Side by, CloseKind kind, Timestamp at);
  void on_timeout(Timestamp at);
  void on_end_of_data(Timestamp at);
  void on_upstream_unreachable(std::string reason, Timestamp at);
  void on_no_route(std::string reason, Timestamp at) {
    touch(at);
    stop_quoting();
    evidence_.unrouted = std::move(reason);
    add_timeline(Side::server, at, "no route", true);
  }
  ClientOpening client_opening() const;
  void note_route(std::string note) { route_note_ = std::move(note); }
  void set_destination(Endpoint destination, std::optional<std::string> domain) {
    record_.destination = std::move(destination);
    if (domain && !record_.destination_domain) record_.destination_domain = std::move(domain);
  }
  // A non-TLS quote still waiting for the end of its first line holds the outcome back until
  // the line, a close, a timeout or the end of the data arrives.
  bool outcome_known() const {
    return !quoting() && trace::outcome_known(evidence_, record_);
  }
  bool quoting() const { return sides_[0].quoting || sides_[1].quoting; }
  void stop_quoting() {
    for (auto& side : sides_) {
      if (!side.quoting) continue;
      side.quoting = false;
      side.pending.clear();
      side.pending.shrink_to_fit();
    }
  }
  bool wants_bytes() const;
  std::uint64_t bytes_from(Side side) const {
    return side == Side::client ? record_.bytes_client : record_.bytes_server;
  }
  std::optional<Side> expected_sender() const;
  HandshakeRecord record() const {
    HandshakeRecord out = record_;
    complete(out);
    return out;
  }
  HandshakeRecord take_record() {
    HandshakeRecord out = std::move(record_);
    complete(out);
    return out;
  }
  void on_certificate_probe(CertificateProbe probe) { probe_ = std::move(probe); }
  void set_capture(std::string path) { record_.capture = std::move(path); }
  void on_gap(Side from, std::uint64_t missing, Timestamp at);
  void set_reset_injected_signs(std::vector<std::string> signs) {
    record_.reset_injected_signs = std::move(signs);
  }
  void on_unacknowledged_hello(std::uint32_t retransmissions) {
    record_.hello_retransmissions = retransmissions;
  }
  void on_conflicting_overlap(Side from, std::uint64_t offset, std::uint64_t length) {
    problem(from,
            fmt::format("capture: a retransmission of {} bytes differs from the copy kept", length),
            static_cast<std::size_t>(offset));
  }
  bool wants_certificate_probe() const {
    return !probe_ && outcome_known() && certificate_probe_helps(evidence_, record_);
  }

 private:
  // Receives one side's record-layer events.
  class Observer : public tls::RecordObserver {
   public:
    Observer(Impl& session, Side side) : session_(session), side_(side) {}
    void on_handshake(const tls::HandshakeMessage& message) override {
      session_.handle_handshake(side_, message);
    }
    void on_alert(const tls::AlertMessage& alert) override { session_.handle_alert(side_, alert); }
    void on_change_cipher_spec() override { session_.handle_change_cipher_spec(side_); }
    void on_encrypted_record(const tls::RecordHeader& header) override {
      session_.handle_encrypted(side_, header);
    }
    void on_error(tls::RecordError error, std::size_t offset) override {
      session_.handle_record_error(side_, error, offset);
    }

   private:
    Impl& session_;
    Side side_;
  };

  struct SideState {
    tls::RecordReader reader;
    Phase phase = Phase::unknown;
    std::vector<std::uint8_t> pending;  // bytes before TLS starts, bounded by max_prelude
    std::size_t prelude_consumed = 0;   // of `pending`, bytes already known to be prelude
    bool change_cipher_spec = false;
    bool quoting = false;  // not TLS: `pending` still collects the first line for the quote
    bool gap = false;      // the capture lost bytes of this side: nothing after them is read
    std::uint32_t encrypted_records = 0;
  };

  SideState& state(Side side) { return sides_[static_cast<int>(side)]; }
  const SideState& state(Side side) const { return sides_[static_cast<int>(side)]; }
  double ms(Timestamp at) const {
    return std::chrono::duration<double, std::milli>(at - record_.timestamp).count();
  }
  void touch(Timestamp at);
  void note(std::string_view what);
  // `head`, the number in decimal, `tail`: "encrypted(" 1234 " bytes)".
  void note(std::string_view head, std::uint64_t number, std::string_view tail);
  bool start_note();
  void flush_read(Side from, Timestamp at);
  void add_timeline(Side from, Timestamp at, std::string what, bool always = false);

  void route_bytes(Side from, tls::Bytes bytes, Timestamp at);
  void feed_tls(Side from, tls::Bytes bytes);
  void after_connect_head(Side from);
  bool refused_connect(tls::Bytes head);
  bool refused_socks(tls::Bytes server_bytes);
  void start_tls(Side from, std::size_t prelude_length);
  // TLS starts at `start` (after `prelude_length` bytes of prelude): parsed from there.
  void begin_tls(Side from, std::size_t prelude_length, tls::Bytes start);
  void mark_not_tls(Side from);
  void extend_quote(Side from, tls::Bytes bytes);

  void handle_handshake(Side from, const tls::HandshakeMessage& message);
  void handle_client_hello(const tls::HandshakeMessage& message);
  void handle_server_hello(const tls::HandshakeMessage& message);
  void handle_alert(Side from, const tls::AlertMessage& alert);
  void handle_change_cipher_spec(Side from);
  void handle_encrypted(Side from, const tls::RecordHeader& header);
  void handle_record_error(Side from, tls::RecordError error, std::size_t offset);
  void check_established();
  void timeline_names_replace_last(const char* name);
  void problem(Side from, std::string what, std::size_t offset = 0);
  // `out` (a copy of record_, or record_ itself moved out) with what is judged at the end:
  // the duration, the probe's contribution, the verdict.
  void complete(HandshakeRecord& out) const;

  SessionConfig config_;
  HandshakeRecord record_;
  Evidence evidence_;
  std::array<SideState, 2> sides_;
  bool started_ = false;
  bool hello_done_ = false;  // the first ClientHello is complete
  std::optional<std::vector<std::uint8_t>> client_session_id_;
  bool server_certificate_seen_ = false;
  bool server_hello_done_ = false;
  PreludeKind prelude_kind_ = PreludeKind::none;
  Timestamp now_{};
  // What the current read completed, as its timeline entry shows it: the items joined with
  // commas, built in place (a string per item and a join cost more than the parsing).
  std::string read_what_;
  std::size_t read_items_ = 0;          // items in read_what_, at most kMaxReadItems
  std::size_t read_last_item_at_ = 0;   // where the last one starts in read_what_
  std::size_t read_items_dropped_ = 0;  // beyond kMaxReadItems: shown as ",+N more"
  std::optional<CertificateProbe> probe_;
  std::optional<std::string> route_note_;  // how the proxy chose the server, when it matters
};

void Session::Impl::touch(Timestamp at) {
  if (!started_) {
    started_ = true;
    record_.timestamp = at;
  }
  now_ = at;
  evidence_.last_event_at = at;
}

// Opens an item of the current read; false (and counted) when the read has all it can list.
bool Session::Impl::start_note() {
  if (read_items_ >= kMaxReadItems) {
    ++read_items_dropped_;
    return false;
  }
  if (!read_what_.empty()) read_what_ += ',';
  // A second item seldom fits the string's inline bytes: room for a few at once.
  if (read_items_ == 1) read_what_.reserve(64);
  read_last_item_at_ = read_what_.size();
  ++read_items_;
  return true;
}

void Session::Impl::note(std::string_view what) {
  if (start_note()) read_what_ += what;
}

void Session::Impl::note(std::string_view head, std::uint64_t number, std::string_view tail) {
  if (!start_note()) return;
  const fmt::format_int digits(number);
  read_what_.append(head).append(digits.data(), digits.size()).append(tail);
}

void Session::Impl::add_timeline(Side from, Timestamp at, std::string what, bool always) {
  // The ladder is bounded: the handshake phase, then only the close events.
  if (!always && record_.timeline.size() >= config_.limits.max_timeline) return;
  if (always && record_.timeline.size() >= config_.limits.max_timeline + 8) return;
  record_.timeline.push_back({ms(at), from, std::move(what)});
}

void Session::Impl::flush_read(Side from, Timestamp at) {
  if (read_items_ == 0) return;
  if (read_items_dropped_) {
    const fmt::format_int dropped(read_items_dropped_);
    read_what_.append(",+").append(dropped.data(), dropped.size()).append(" more");
  }
  std::string what = std::move(read_what_);
  read_what_.clear();
  read_items_ = read_last_item_at_ = read_items_dropped_ = 0;
  add_timeline(from, at, std::move(what));
}

void Session::Impl::on_bytes(Side from, tls::Bytes bytes, Timestamp at) {
  if (bytes.empty()) return;
  touch(at);
  (from == Side::client ? record_.bytes_client : record_.bytes_server) += bytes.size();
  if (from == Side::server && !evidence_.server_first_at && evidence_.client_hello_at)
    evidence_.server_first_at = at;
  // Once the outcome is known and the handshake is over, bytes are counted, not parsed.
  if (!wants_bytes() || state(from).gap) return;
  const bool hello_in_progress = from == Side::client && !hello_done_;
  route_bytes(from, bytes, at);
  if (hello_in_progress && state(Side::client).phase == Phase::tls) {
    ++record_.client.hello_reads;
    // Counted as the handshake message's bytes: the first record's 5-byte header aside.
    const std::uint64_t tls_bytes = record_.bytes_client - record_.prelude_bytes_client;
    evidence_.partial_hello_bytes = hello_done_ || tls_bytes <= 5 ? 0 : tls_bytes - 5;
  }
  flush_read(from, at);
}

void Session::Impl::route_bytes(Side from, tls::Bytes bytes, Timestamp at) {
  SideState& side = state(from);
  switch (side.phase) {
    case Phase::tls:
      feed_tls(from, bytes);
      return;
    case Phase::not_tls:
      extend_quote(from, bytes);
      return;
    case Phase::unknown:
    case Phase::prelude:
      break;
  }
  // The usual start: a first read that opens TLS at its first byte is parsed where it lies,
  // not kept aside first (what follows does the same with a copy).
  if (side.phase == Phase::unknown && side.pending.empty() &&
      bytes.size() <= config_.limits.max_prelude && classify_start(bytes) == StartVerdict::tls) {
    begin_tls(from, 0, bytes);
    return;
  }
  // Keep the first bytes (bounded) until we know whether, and where, TLS starts.
  const std::size_t room = config_.limits.max_prelude - side.pending.size();
  const std::size_t take = std::min(room, bytes.size());
  side.pending.insert(side.pending.end(), bytes.begin(), bytes.begin() + take);
  const tls::Bytes pending(side.pending);

  if (side.phase == Phase::unknown) {
    const StartVerdict start = classify_start(pending);
    if (start == StartVerdict::need_more) return;
    if (start == StartVerdict::tls) {
      start_tls(from, 0);
      return;
    }
    // Not TLS at the start. A server answering a client that spoke TLS from its first byte
    // does not speak TLS (DESIGN.md not_tls); anything else may be a prelude.
    if (from == Side::server && state(Side::client).phase == Phase::tls &&
        prelude_kind_ == PreludeKind::none) {
      mark_not_tls(from);
      return;
    }
    side.phase = Phase::prelude;
    if (from == Side::client) {
      prelude_kind_ = classify_client_prelude(pending);
      record_.prelude = std::string(prelude_kind_name(prelude_kind_));
      if (prelude_kind_ == PreludeKind::http_connect) {
        if (auto host = connect_target_host(pending)) record_.destination_domain = *host;
      }
    } else if (!record_.prelude) {
      record_.prelude = "plaintext";
    }
    note("plaintext");
  }

  // Inside a prelude: look for the first record that opens this side's TLS.
  if (from == Side::client && prelude_kind_ == PreludeKind::http_request &&
      http_start_line(pending, false)) {
    mark_not_tls(from);  // an HTTP request where a ClientHello should be
    return;
  }
  if (from == Side::client && prelude_kind_ == PreludeKind::http_connect && !record_.destination_domain) {
    if (auto host = connect_target_host(pending)) record_.destination_domain = *host;
  }
  if (prelude_kind_ == PreludeKind::http_connect) {
    after_connect_head(from);
    return;
  }
  if (prelude_kind_ == PreludeKind::socks5 && from == Side::server && refused_socks(pending)) return;
  if (auto start = find_tls_start(pending, from == Side::client, side.prelude_consumed)) {
    start_tls(from, *start);
    return;
  }
  side.prelude_consumed = side.pending.size() > 5 ? side.pending.size() - 5 : 0;
  if (side.pending.size() >= config_.limits.max_prelude) mark_not_tls(from);
  (void)at;
}

// After a CONNECT the tunnel starts right after the request head (client) and right after the
// answer's head (server): what follows either opens TLS or is not TLS - searching further for
// a TLS start would turn an HTTP request in the tunnel, or a plain HTTP server behind it, into
// an unexplained prelude.
void Session::Impl::after_connect_head(Side from) {
  SideState& side = state(from);
  const tls::Bytes pending(side.pending);
  const auto head = http_head_length(pending, from == Side::server);
  if (!head) {
    if (side.pending.size() >= config_.limits.max_prelude) mark_not_tls(from);
    return;
  }
  // A refusal's body is not the tunnel: nothing after that head is TLS.
  if (from == Side::server && refused_connect(pending)) return;
  const StartVerdict start = classify_start(pending.subspan(*head));
  if (start == StartVerdict::need_more) return;
  if (start == StartVerdict::tls) {
    start_tls(from, *head);
    return;
  }
  // The head was the prelude; the quote starts with what came through the tunnel.
  (from == Side::client ? record_.prelude_bytes_client : record_.prelude_bytes_server) +=
      static_cast<std::uint32_t>(*head);
  side.pending.erase(side.pending.begin(), side.pending.begin() + static_cast<std::ptrdiff_t>(*head));
  mark_not_tls(from);
}

// A proxy that answers a CONNECT with anything but 2xx (RFC 9110 §9.3.6) did not open the
// tunnel: 502/504 when it could not reach the server, 403 when it may not. In a capture of
// someone's proxy that answer is the evidence; a live tlsglass proxy in connect mode reports its
// own failure, with the reason, through on_upstream_unreachable.
bool Session::Impl::refused_connect(tls::Bytes head) {
  const auto status_line = http_start_line(head, true);
  if (!status_line) return false;
  const auto space = status_line->find(' ');
  if (space == std::string::npos || status_line->compare(space + 1, 1, "2") == 0) return false;
  if (config_.mode == "connect" || evidence_.upstream_failure) return true;
  evidence_.upstream_failure =
      fmt::format("the proxy answered the CONNECT with \"{}\"", *status_line);
  add_timeline(Side::server, now_, "unreachable", true);
  return true;
}

// The same for a SOCKS5 proxy whose reply is a failure (RFC 1928 §6): in a capture of someone's
// SOCKS proxy the reply code is the evidence; tlsglass's own socks5 mode reports its reason.
bool Session::Impl::refused_socks(tls::Bytes server_bytes) {
  const auto refusal = socks5_refusal(server_bytes);
  if (!refusal) return false;
  if (config_.mode == "socks5" || evidence_.upstream_failure) return true;
  evidence_.upstream_failure = *refusal;
  add_timeline(Side::server, now_, "unreachable", true);
  return true;
}

void Session::Impl::start_tls(Side from, std::size_t prelude_length) {
  SideState& side = state(from);
  std::vector<std::uint8_t> bytes = std::move(side.pending);
  side.pending.clear();
  side.pending.shrink_to_fit();
  begin_tls(from, prelude_length, tls::Bytes(bytes).subspan(prelude_length));
}

void Session::Impl::begin_tls(Side from, std::size_t prelude_length, tls::Bytes start) {
  state(from).phase = Phase::tls;
  (from == Side::client ? record_.prelude_bytes_client : record_.prelude_bytes_server) +=
      static_cast<std::uint32_t>(prelude_length);
  // RFC 8446 §5.1, §4: record header (type 22), then the handshake header (type 1, 24-bit
  // length) - how long the ClientHello will be, known from its first segment.
  if (from == Side::client && start.size() >= 9 && start[0] == 22 && start[5] == 1) {
    evidence_.partial_hello_length =
        4 + ((static_cast<std::uint32_t>(start[6]) << 16) | (start[7] << 8) | start[8]);
  }
  feed_tls(from, start);
}

void Session::Impl::mark_not_tls(Side from) {
  SideState& side = state(from);
  side.phase = Phase::not_tls;
  note("not TLS");
  if (!record_.not_tls_from) {
    record_.not_tls_from = from;
    side.quoting = true;
    extend_quote(from, {});
    return;
  }
  side.pending.clear();
  side.pending.shrink_to_fit();
}

// The quote of a non-TLS stream grows until its first line is complete (or the quote cap is
// reached), so that it does not depend on how the bytes were cut into reads.
void Session::Impl::extend_quote(Side from, tls::Bytes bytes) {
  SideState& side = state(from);
  if (!side.quoting) return;
  const std::size_t room =
      side.pending.size() < kMaxQuoteBytes ? kMaxQuoteBytes - side.pending.size() : 0;
  const std::size_t take = std::min(room, bytes.size());
  side.pending.insert(side.pending.end(), bytes.begin(), bytes.begin() + take);
  record_.not_tls_quote = quote_stream_start(side.pending);
  const bool line_complete =
      std::find(side.pending.begin(), side.pending.end(), '\n') != side.pending.end();
  if (line_complete || side.pending.size() >= kMaxQuoteBytes) {
    side.quoting = false;
    side.pending.clear();
    side.pending.shrink_to_fit();
  }
}

void Session::Impl::feed_tls(Side from, tls::Bytes bytes) {
  Observer observer(*this, from);
  state(from).reader.feed(bytes, observer);
}

void Session::Impl::problem(Side from, std::string what, std::size_t offset) {
  if (record_.problems.size() >= 16) return;
  record_.problems.push_back({from, std::move(what), offset});
}

void Session::Impl::handle_record_error(Side from, tls::RecordError error, std::size_t offset) {
  problem(from, std::string(tls::record_error_name(error)), offset);
  if (start_note()) read_what_.append("error(").append(tls::record_error_name(error)) += ')';
  if (state(from).reader.failed()) {
    evidence_.record_layer_failed = from;
    // A stream that is not TLS from its first record is a peer that does not speak TLS.
    if (error == tls::RecordError::not_tls && !record_.not_tls_from) {
      record_.not_tls_from = from;
    }
  }
}

void Session::Impl::handle_handshake(Side from, const tls::HandshakeMessage& message) {
  if (const char* name = message.sslv2 ? sslv2_message_name(message.type)
                                       : handshake_message_name(message.type)) {
    note(name);
  } else {
    note(message.sslv2 ? "SSLv2(" : "Handshake(", message.type, ")");
  }
  if (from == Side::client) {
    if (message.type == static_cast<std::uint8_t>(HandshakeType::client_hello)) {
      handle_client_hello(message);
    } else if (record_.stage < Stage::client_finished && record_.server_hello_seen) {
      record_.stage = Stage::client_finished;  // Certificate, ClientKeyExchange, CertificateVerify
    }
    return;
  }
  // Server side.
  if ((message.sslv2 && message.type == 4) ||
      (!message.sslv2 && message.type == static_cast<std::uint8_t>(HandshakeType::server_hello))) {
    handle_server_hello(message);
    return;
  }
  switch (static_cast<HandshakeType>(message.type)) {
    case HandshakeType::certificate: {
      server_certificate_seen_ = true;
      evidence_.certificate_at = now_;
      if (record_.stage < Stage::server_certificate) record_.stage = Stage::server_certificate;
      tls::CertificateChain chain = tls::parse_certificate_message(message.body, evidence_.tls13);
      if (chain.malformed) problem(from, "certificate: malformed");
      if (record_.server.chain.empty()) {
        for (const auto& cert : chain.certificates) {
          if (cert.parse_failed) {
            problem(from, "certificate: undecodable entry");
            continue;
          }
          record_.server.chain.push_back(summarize_certificate(cert));
        }
        const auto& leaf = chain.certificates;
        if (!leaf.empty() && !leaf.front().parse_failed && record_.client.server_name) {
          evidence_.leaf_covers_sni =
              tls::certificate_covers_host(leaf.front(), *record_.client.server_name);
        }
      }
      break;
    }
    case HandshakeType::server_key_exchange: {
      if (record_.stage < Stage::server_certificate) record_.stage = Stage::server_certificate;
      const bool ecdhe = record_.cipher && tls::cipher_suite_uses_ecdhe(*record_.cipher);
      auto exchange = tls::parse_server_key_exchange(message.body, ecdhe);
      if (exchange.named_curve && !record_.curve) record_.curve = exchange.named_curve;
      break;
    }
    case HandshakeType::certificate_request:
      record_.server.certificate_request = true;
      break;
    case HandshakeType::server_hello_done:
      server_hello_done_ = true;
      if (record_.stage < Stage::server_certificate) record_.stage = Stage::server_certificate;
      break;
    default:
      break;
  }
}

void Session::Impl::handle_client_hello(const tls::HandshakeMessage& message) {
  if (hello_done_) {
    // RFC 8446 §4.1.2: the second ClientHello answers a HelloRetryRequest.
    record_.client.second_hello = true;
    if (record_.stage < Stage::client_hello) record_.stage = Stage::client_hello;
    return;
  }
  hello_done_ = true;
  record_.client_hello_seen = true;
  evidence_.client_hello_at = now_;
  record_.stage = Stage::client_hello;
  tls::ClientHello hello = message.sslv2 ? tls::parse_sslv2_client_hello(message.body)
                                         : tls::parse_client_hello(message.body);
  if (hello.error != tls::HelloError::none) {
    problem(Side::client,
            fmt::format("client_hello: {}{}", tls::hello_error_name(hello.error),
                        hello.error_extension || hello.error == tls::HelloError::duplicate_extension
                            ? " (" + tls::extension_name(hello.error_extension) + ")"
                            : ""));
  }
  ClientSide& client = record_.client;
  // The fingerprints first: what they read of `hello` is then moved into the record.
  tls::Ja3 ja3 = tls::ja3(hello);
  client.ja3 = std::move(ja3.hash);
  client.ja3_string = std::move(ja3.full);
  if (!hello.sslv2) {
    tls::Ja4 ja4 = tls::ja4(hello, 't', tls::Ja4Forms::sorted);
    client.ja4 = std::move(ja4.ja4);
    client.ja4_r = std::move(ja4.ja4_r);
  }
  client.sslv2 = hello.sslv2;
  client.legacy_version = hello.legacy_version;
  if (hello.server_name) record_.destination_domain = hello.server_name;
  client.server_name = std::move(hello.server_name);
  client.cipher_suites = std::move(hello.cipher_suites);
  client.supported_groups = std::move(hello.supported_groups);
  client.key_share_groups.reserve(hello.key_shares.size());
  for (const auto& share : hello.key_shares) client.key_share_groups.push_back(share.group);
  client.signature_algorithms = std::move(hello.signature_algorithms);
  client.alpn = std::move(hello.alpn);
  client.extensions = std::move(hello.extensions);
  client.hello_bytes = message.length + (message.sslv2 ? 1 : 4);
  client.hello_records = message.records;
  client.ech = hello.ech;
  client_session_id_ = std::move(hello.session_id);

  // The range the client can accept: supported_versions (RFC 8446 §4.2.1) when present,
  // else everything up to legacy_version.
  std::optional<std::uint16_t> lowest, highest;
  for (auto version : hello.supported_versions) {
    if (tls::is_grease(version)) continue;
    if (!lowest || version < *lowest) lowest = version;
    if (!highest || version > *highest) highest = version;
  }
  if (highest) {
    evidence_.client_min_version = lowest;
    evidence_.client_max_version = highest;
  } else {
    evidence_.client_max_version = hello.sslv2 ? hello.legacy_version : hello.legacy_version;
  }
  client.supported_versions = std::move(hello.supported_versions);
}

void Session::Impl::handle_server_hello(const tls::HandshakeMessage& message) {
  tls::ServerHello hello = message.sslv2 ? tls::parse_sslv2_server_hello(message.body)
                                         : tls::parse_server_hello(message.body);
  if (hello.error != tls::HelloError::none) {
    problem(Side::server, fmt::format("server_hello: {}", tls::hello_error_name(hello.error)));
  }
  if (hello.hello_retry_request) {
    // RFC 8446 §4.1.4: the server asks for another key share; the client tries again.
    record_.server.hello_retry_request = true;
    record_.server.hrr_group = hello.key_share_group;
    record_.stage = Stage::hello_retry_request;
    timeline_names_replace_last("HelloRetryRequest");
    return;
  }
  if (record_.server_hello_seen) return;  // a second ServerHello is a protocol violation
  record_.server_hello_seen = true;
  record_.stage = Stage::server_hello;
  const std::uint16_t version = hello.negotiated_version();
  record_.version = version;
  record_.server.legacy_version = hello.legacy_version;
  tls::Ja3 ja3s = tls::ja3s(hello);
  record_.server.ja3s = std::move(ja3s.hash);
  record_.server.ja3s_string = std::move(ja3s.full);
  record_.server.extensions = std::move(hello.extensions);
  if (!hello.sslv2) record_.cipher = hello.cipher_suite;
  if (hello.alpn) record_.next_protocol = std::move(hello.alpn);
  evidence_.tls13 = is_tls13(version);
  if (evidence_.tls13) {
    if (hello.key_share_group) record_.curve = hello.key_share_group;
    record_.resumed = hello.selected_psk.has_value();
    // RFC 8446 §2: everything after the ServerHello is encrypted, both ways.
    state(Side::server).reader.set_encrypted();
    state(Side::client).reader.set_encrypted();
  } else if (hello.sslv2) {
    state(Side::server).reader.set_encrypted();
    state(Side::client).reader.set_encrypted();
  } else if (!hello.session_id.empty() && client_session_id_ &&
             *client_session_id_ == hello.session_id) {
    // RFC 5246 §7.4.1.3: an echoed session id resumes the session (abbreviated handshake).
    record_.resumed = true;
  }
}

void Session::Impl::timeline_names_replace_last(const char* name) {
  if (read_items_ == 0) return;
  read_what_.resize(read_last_item_at_);
  read_what_ += name;
}

void Session::Impl::handle_alert(Side from, const tls::AlertMessage& alert) {
  note(fmt::format("Alert({},{})",
                   alert.level == 1 ? "warning" : alert.level == 2 ? "fatal"
                                                                    : std::to_string(alert.level),
                   tls::alert_name(alert.description)));
  if (record_.alerts.size() >= 16) return;
  record_.alerts.push_back({from, alert.level, alert.description, false, 2, ms(now_)});
  // close_notify (0) and user_canceled (90) end a connection, they do not fail it; a fatal
  // level or any other description is the failure (RFC 8446 §6.2: all errors are fatal).
  const bool failure = alert.description != 0 && alert.description != 90 &&
                       (alert.level == 2 || alert.description != 112);
  if (failure && !evidence_.first_fatal_alert)
    evidence_.first_fatal_alert = record_.alerts.size() - 1;
}

void Session::Impl::handle_change_cipher_spec(Side from) {
  note("ChangeCipherSpec");
  SideState& side = state(from);
  side.change_cipher_spec = true;
  if (evidence_.tls13) return;  // RFC 8446 D.4: a compatibility CCS changes nothing
  if (!record_.server_hello_seen) return;
  // RFC 5246 §7.1: what this side sends after its ChangeCipherSpec is protected.
  side.reader.set_encrypted();
  if (from == Side::server && !server_certificate_seen_ && !evidence_.client_finished) {
    record_.resumed = true;  // abbreviated handshake: the server finishes first
  }
}

void Session::Impl::handle_encrypted(Side from, const tls::RecordHeader& header) {
  SideState& side = state(from);
  ++side.encrypted_records;
  const auto type = static_cast<tls::ContentType>(header.type);
  auto push_encrypted_alert = [&] {
    if (record_.alerts.size() < 16)
      record_.alerts.push_back({from, 0, 0, true, header.length, ms(now_)});
  };

  if (!evidence_.tls13) {
    // TLS <=1.2 (and SSLv2): Finished is the first protected handshake record after CCS.
    if (type == tls::ContentType::handshake && side.change_cipher_spec) {
      bool& finished = from == Side::client ? evidence_.client_finished : evidence_.server_finished;
      if (!finished) {
        finished = true;
        note("Finished(encrypted)");
        if (from == Side::client && record_.stage < Stage::client_finished)
          record_.stage = Stage::client_finished;
        if (from == Side::server && record_.stage < Stage::server_finished)
          record_.stage = Stage::server_finished;
        check_established();
        return;
      }
    }
    if (type == tls::ContentType::alert) {
      note("Alert(encrypted,", header.length, " bytes)");
      push_encrypted_alert();
      return;
    }
    note("encrypted(", header.length, " bytes)");
    if (type == tls::ContentType::application_data) {
      if (record_.server.legacy_version == 2 || (record_.client.sslv2 && record_.version == 2)) {
        // SSLv2: everything after SERVER-HELLO is encrypted; both sides speaking is the end
        // of the handshake as far as the wire shows.
        (from == Side::client ? evidence_.client_finished : evidence_.server_finished) = true;
        check_established();
      }
      if (record_.established) {
        (from == Side::client ? evidence_.client_sent_data : evidence_.server_sent_data) = true;
        record_.stage = Stage::application_data;
      }
    }
    return;
  }

  // TLS 1.3: every record after the ServerHello is application_data on the outside
  // (RFC 8446 §5.2); its length and its position are all there is to read.
  if (from == Side::server) {
    if (!evidence_.client_finished) {
      ++evidence_.server_encrypted_flight;
      note("encrypted(", header.length, " bytes)");
      if (record_.stage < Stage::server_certificate) record_.stage = Stage::server_certificate;
    } else {
      note("encrypted(", header.length, " bytes)");
      if (!evidence_.server_finished) evidence_.server_finished = true;
      if (header.length >= kShortEncryptedRecord) evidence_.server_sent_data = true;
    }
    return;
  }
  // Client: records before the server's flight are 0-RTT early data (RFC 8446 §4.2.10).
  if (evidence_.server_encrypted_flight == 0) {
    note("early_data(", header.length, " bytes)");
    return;
  }
  if (!evidence_.client_finished) {
    if (evidence_.client_post_flight_lengths.size() < kMaxRecordedLengths)
      evidence_.client_post_flight_lengths.push_back(header.length);
    if (header.length < kShortEncryptedRecord) {
      note("encrypted(", header.length, " bytes)");
      return;  // an alert, or an empty client Certificate: the close will tell
    }
    evidence_.client_finished = true;
    note("Finished(encrypted,", header.length, " bytes)");
    if (record_.stage < Stage::client_finished) record_.stage = Stage::client_finished;
    check_established();
    return;
  }
  note("encrypted(", header.length, " bytes)");
  if (header.length >= kShortEncryptedRecord) {
    evidence_.client_sent_data = true;
    record_.stage = Stage::application_data;
  } else if (evidence_.client_post_flight_lengths.size() < kMaxRecordedLengths) {
    evidence_.client_post_flight_lengths.push_back(header.length);
  }
}

void Session::Impl::check_established() {
  if (record_.established) return;
  if (evidence_.tls13) {
    // The client's Finished after the server's flight completes a 1.3 handshake.
    record_.established = evidence_.client_finished && evidence_.server_encrypted_flight > 0;
  } else {
    record_.established = evidence_.client_finished && evidence_.server_finished;
  }
  if (record_.established) record_.stage = Stage::established;
}

void Session::Impl::on_close(Side by, CloseKind kind, Timestamp at) {
  touch(at);
  if (!record_.closed_by) {
    record_.closed_by = by;
    record_.close = kind;
    evidence_.first_close_at = at;
  } else if (kind == CloseKind::rst && record_.close != CloseKind::rst && !record_.established) {
    // A reset after the other side's FIN still reset the handshake.
    record_.close = CloseKind::rst;
    record_.closed_by = by;
  }
  add_timeline(by, at, kind == CloseKind::fin ? "FIN" : "RST", true);
  // A side that closed while still in a plaintext prelude never started TLS.
  SideState& side = state(by);
  if (side.phase == Phase::prelude && by == Side::client) mark_not_tls(by);
  stop_quoting();  // nothing more will complete the quote's first line
}

void Session::Impl::on_gap(Side from, std::uint64_t missing, Timestamp at) {
  touch(at);
  constexpr std::size_t kMaxGaps = 8;
  if (record_.gaps.size() < kMaxGaps) record_.gaps.push_back({from, missing, ms(at)});
  add_timeline(from, at, fmt::format("gap({} bytes missing)", missing), true);
  SideState& side = state(from);
  if (side.gap || !wants_bytes()) return;
  side.gap = true;
  stop_quoting();
}

void Session::Impl::on_timeout(Timestamp at) {
  touch(at);
  stop_quoting();
  evidence_.timed_out = true;
  if (!evidence_.timed_out_at) evidence_.timed_out_at = at;
  add_timeline(expected_sender().value_or(Side::server), at, "timeout", true);
}

void Session::Impl::on_end_of_data(Timestamp at) {
  touch(at);
  evidence_.end_of_data = true;
  for (Side side : {Side::client, Side::server}) {
    if (state(side).phase == Phase::prelude && side == Side::client) mark_not_tls(side);
  }
  stop_quoting();
}

void Session::Impl::on_upstream_unreachable(std::string reason, Timestamp at) {
  touch(at);
  stop_quoting();
  evidence_.upstream_failure = std::move(reason);
  add_timeline(Side::server, at, "unreachable", true);
}

bool Session::Impl::wants_bytes() const { return !outcome_known(); }

ClientOpening Session::Impl::client_opening() const {
  ClientOpening opening;
  const SideState& client = state(Side::client);
  if (hello_done_) {
    opening.state = ClientOpening::State::hello;
    opening.server_name = record_.client.server_name;
  } else if (client.phase == Phase::not_tls || client.gap || outcome_known() ||
             evidence_.record_layer_failed == Side::client) {
    opening.state = ClientOpening::State::not_hello;
  }
  return opening;
}

std::optional<Side> Session::Impl::expected_sender() const {
  if (!record_.client_hello_seen) return Side::client;
  if (record_.stage == Stage::hello_retry_request && !record_.client.second_hello)
    return Side::client;
  if (!record_.server_hello_seen) return Side::server;
  if (evidence_.tls13) {
    // The server's first flight: EncryptedExtensions, Certificate, CertificateVerify and
    // Finished, one record each with most stacks (two when resuming with a PSK).
    const std::uint32_t flight = record_.resumed ? 2 : 4;
    if (!evidence_.client_finished && evidence_.server_encrypted_flight < flight)
      return Side::server;
    if (!evidence_.client_finished) return Side::client;
    return std::nullopt;
  }
  if (record_.resumed) {
    if (!evidence_.server_finished) return Side::server;
    if (!evidence_.client_finished) return Side::client;
    return std::nullopt;
  }
  if (record_.stage <= Stage::server_hello ||
      (record_.stage == Stage::server_certificate && !state(Side::server).change_cipher_spec &&
       !server_hello_done_)) {
    return Side::server;
  }
  if (!evidence_.client_finished) return Side::client;
  if (!evidence_.server_finished) return Side::server;
  return std::nullopt;
}

void Session::Impl::complete(HandshakeRecord& out) const {
  if (evidence_.last_event_at && started_) {
    out.duration_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          *evidence_.last_event_at - out.timestamp)
                          .count();
  }
  if (!out.server.chain.empty()) out.certificate_source = CertificateSource::wire;
  Evidence evidence = evidence_;
  if (probe_) {
    evidence.probe = probe_;
    ProbeSummary& summary = out.probe.emplace();
    summary.at = probe_->at;
    summary.error = probe_->error;
    summary.version = probe_->version;
    summary.covers_sni = probe_->covers_sni;
    summary.trusted = probe_->trusted;
    summary.verify_error = probe_->verify_error;
    // The wire's own chain wins: the probe's is what the server showed the proxy, later.
    if (out.server.chain.empty() && !probe_->chain.empty()) {
      out.server.chain = probe_->chain;
      out.certificate_source = CertificateSource::probe;
      summary.chain_used = true;
      // The verdict judges the probed chain as it judges a chain seen in clear: against the
      // time it was fetched, with the probe's own host name check.
      evidence.certificate_at = probe_->at;
      evidence.leaf_covers_sni = probe_->covers_sni;
    }
  }
  HelloHistory* history = config_.history;
  if (history && out.destination && out.client_hello_seen && evidence_.client_hello_at) {
    auto previous = history->last_ok(*out.destination);
    if (previous && previous->at < *evidence_.client_hello_at && previous->conn != out.conn)
      evidence.previous_ok = std::move(previous);
  }
  decide(evidence, out);
  if (route_note_) out.explanation += "; " + *route_note_;
  if (history && out.cause == Cause::ok && out.destination && out.client_hello_seen &&
      !out.client.ja4.empty()) {
    HelloShape shape = hello_shape(out);
    shape.at = *evidence_.client_hello_at;
    history->remember_ok(*out.destination, std::move(shape));
  }
}

Session::Session(SessionConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Session::~Session() = default;
void Session::on_bytes(Side from, tls::Bytes bytes, Timestamp at) { impl_->on_bytes(from, bytes, at); }
void Session::on_close(Side by, CloseKind kind, Timestamp at) { impl_->on_close(by, kind, at); }
void Session::on_timeout(Timestamp at) { impl_->on_timeout(at); }
void Session::on_end_of_data(Timestamp at) { impl_->on_end_of_data(at); }
void Session::on_upstream_unreachable(std::string reason, Timestamp at) {
  impl_->on_upstream_unreachable(std::move(reason), at);
}
void Session::set_destination(Endpoint destination, std::optional<std::string> domain) {
  impl_->set_destination(std::move(destination), std::move(domain));
}
void Session::on_certificate_probe(CertificateProbe probe) {
  impl_->on_certificate_probe(std::move(probe));
}
void Session::set_capture(std::string path) { impl_->set_capture(std::move(path)); }
void Session::on_gap(Side from, std::uint64_t missing, Timestamp at) {
  impl_->on_gap(from, missing, at);
}
void Session::set_reset_injected_signs(std::vector<std::string> signs) {
  impl_->set_reset_injected_signs(std::move(signs));
}
void Session::on_unacknowledged_hello(std::uint32_t retransmissions) {
  impl_->on_unacknowledged_hello(retransmissions);
}
void Session::on_conflicting_overlap(Side from, std::uint64_t offset, std::uint64_t length) {
  impl_->on_conflicting_overlap(from, offset, length);
}
bool Session::wants_certificate_probe() const { return impl_->wants_certificate_probe(); }
bool Session::outcome_known() const { return impl_->outcome_known(); }
bool Session::wants_bytes() const { return impl_->wants_bytes(); }
std::optional<Side> Session::expected_sender() const { return impl_->expected_sender(); }
ClientOpening Session::client_opening() const { return impl_->client_opening(); }
void Session::note_route(std::string note) { impl_->note_route(std::move(note)); }
void Session::on_no_route(std::string reason, Timestamp at) {
  impl_->on_no_route(std::move(reason), at);
}
std::uint64_t Session::bytes_from(Side side) const { return impl_->bytes_from(side); }
HandshakeRecord Session::record() const { return impl_->record(); }
HandshakeRecord Session::take_record() { return impl_->take_record(); }

}  // namespace tlsglass::trace
