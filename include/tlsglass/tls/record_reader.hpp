// The TLS record layer for one direction of a connection: incremental, bounded, pure.
//
// feed() accepts bytes exactly as they arrive (one byte at a time, or many records at once) and
// reports what they contain to a RecordObserver: record headers, complete handshake messages
// (reassembled across records and across feed() calls; several per record), plaintext alerts,
// ChangeCipherSpec, and - once the direction is encrypted - only the type and length of each
// record. It never copies a payload it does not need and never buffers more than the limits.
// After an error the direction is abandoned: later bytes are counted, not parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/tls/types.hpp"

namespace tlsglass::tls {

struct RecordLimits {
  // RFC 5246 §6.2.3: TLSCiphertext.length <= 2^14 + 2048 (the loosest bound of any version).
  std::size_t max_record_length = (1u << 14) + 2048;
  // Bytes of one handshake message kept for parsing. A longer message (e.g. a 350 KB
  // certificate chain) is reported as handshake_message_too_large and skipped, not buffered.
  std::size_t max_handshake_message = 64 * 1024;
};

enum class RecordError : std::uint8_t {
  none,
  not_tls,                     // first bytes are not a TLS record or SSLv2 ClientHello
  bad_content_type,            // a record type outside 20..24
  bad_record_version,          // a record version outside 0x0300..0x0304
  record_too_long,             // record length > max_record_length
  empty_record,                // zero-length handshake/alert/ccs record (RFC 8446 §5.1)
  handshake_message_too_large, // message longer than max_handshake_message (skipped)
  bad_alert,                   // a one-byte alert record: neither an alert nor encrypted
  bad_change_cipher_spec,      // CCS record that is not the single byte 0x01
  bad_sslv2_record,            // SSLv2-format record that is not a valid CLIENT-HELLO
  interleaved_record,          // non-handshake record in the middle of a fragmented message
};

std::string_view record_error_name(RecordError error);

struct RecordHeader {
  std::uint8_t type = 0;        // ContentType as on the wire (kept raw: errors report bad ones)
  std::uint16_t version = 0;    // TLSPlaintext.legacy_record_version
  std::uint16_t length = 0;     // payload length
  bool sslv2 = false;           // SSLv2-format record (2-byte header, high bit set)
  bool encrypted = false;       // the direction was encrypted when the record arrived
};

struct HandshakeMessage {
  std::uint8_t type = 0;              // HandshakeType; for sslv2, the SSLv2 message type
  std::uint32_t length = 0;           // declared body length
  std::span<const std::uint8_t> body; // valid only during the observer call
  bool sslv2 = false;                 // an SSLv2 message (CLIENT-HELLO = 1, SERVER-HELLO = 4)
  std::uint16_t record_version = 0;   // version of the record that started this message
  std::uint32_t records = 1;          // how many records carried it
};

struct AlertMessage {
  std::uint8_t level = 0;        // 1 warning, 2 fatal
  std::uint8_t description = 0;  // TLS AlertDescription
};

class RecordObserver {
 public:
  virtual ~RecordObserver() = default;
  // Every record header, before its contents are reported.
  virtual void on_record(const RecordHeader&) {}
  virtual void on_handshake(const HandshakeMessage&) {}
  virtual void on_alert(const AlertMessage&) {}
  virtual void on_change_cipher_spec() {}
  // A record whose payload is opaque: application_data/heartbeat at any time, anything after
  // set_encrypted(). An alert record longer than 2 bytes (an encrypted alert) lands here too.
  virtual void on_encrypted_record(const RecordHeader&) {}
  // `offset` is the byte offset in this direction's stream where the problem was found.
  virtual void on_error(RecordError, std::size_t /*offset*/) {}
};

class RecordReader {
 public:
  explicit RecordReader(RecordLimits limits = {});

  // Parses `bytes` and reports to `observer`. Never throws; never reads outside `bytes`.
  void feed(Bytes bytes, RecordObserver& observer);

  // From the next record on, payloads are opaque (TLS <=1.2 after ChangeCipherSpec; TLS 1.3
  // after the ServerHello). The caller decides: a TLS 1.3 client may still send a plaintext
  // ClientHello after a HelloRetryRequest and a compatibility ChangeCipherSpec.
  void set_encrypted();
  bool encrypted() const { return encrypted_; }

  bool failed() const { return error_ != RecordError::none; }
  RecordError error() const { return error_; }
  std::size_t bytes_seen() const { return bytes_seen_; }
  std::size_t records_seen() const { return records_seen_; }
  // Bytes currently held for reassembly (record header + handshake message); bounded.
  std::size_t buffered() const;

 private:
  // Each returns how many of `bytes` it consumed.
  std::size_t take_header(Bytes bytes, RecordObserver& observer);
  std::size_t take_payload(Bytes bytes, RecordObserver& observer);
  void start_record(RecordObserver& observer);
  void finish_record(RecordObserver& observer);
  void process_handshake_bytes(Bytes payload, RecordObserver& observer);
  void deliver_message(Bytes message, RecordObserver& observer);
  void process_small_record(RecordObserver& observer);
  void fail(RecordError error, RecordObserver& observer);
  void warn(RecordError error, RecordObserver& observer);

  // How the current record's payload is handled.
  enum class PayloadKind : std::uint8_t { opaque, handshake, buffered };

  RecordLimits limits_;
  bool encrypted_ = false;
  bool first_record_ = true;
  bool sslv2_stream_ = false;  // the direction opened with an SSLv2-format record
  RecordError error_ = RecordError::none;
  std::size_t bytes_seen_ = 0;
  std::size_t records_seen_ = 0;
  std::size_t offset_ = 0;  // stream offset of the byte being looked at (for on_error)

  // Current record: header bytes collected so far, then payload remaining.
  std::uint8_t header_[7] = {};  // 5 for TLS; SSLv2 needs 2 + 5 to recognise a hello
  std::size_t header_have_ = 0;
  RecordHeader current_{};
  PayloadKind payload_kind_ = PayloadKind::opaque;
  std::size_t payload_left_ = 0;
  bool in_record_ = false;  // the header is read; payload_left_ bytes of payload to come
  std::vector<std::uint8_t> record_payload_;  // only alert/ccs/sslv2 records (bounded)

  // Handshake reassembly across records: the 4-byte header, then the body.
  std::vector<std::uint8_t> message_;
  std::size_t message_skip_left_ = 0;  // bytes of an oversized message still to skip
  std::uint16_t message_record_version_ = 0;
  std::uint32_t message_records_ = 0;
  std::size_t message_offset_ = 0;  // stream offset of the current message's first byte
};

}  // namespace tlsglass::tls
