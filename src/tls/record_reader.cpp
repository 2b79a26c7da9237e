#include "tlsglass/tls/record_reader.hpp"

#include <algorithm>

namespace tlsglass::tls {

namespace {

constexpr std::size_t kTlsHeader = 5;    // RFC 8446 §5.1: type, legacy_record_version, length
constexpr std::size_t kSslv2Header = 2;  // SSL 2.0 §"Record Header": 2-byte form, high bit set
constexpr std::size_t kHandshakeHeader = 4;  // RFC 8446 §4: msg_type, uint24 length

bool valid_content_type(std::uint8_t type) { return type >= 20 && type <= 24; }

bool valid_record_version(std::uint16_t version) {
  return version >= version::ssl3 && version <= version::tls13;
}

// The version field of an SSLv2 hello: SSL 2.0 itself, or the highest SSL 3.0/TLS version of a
// client sending the backwards-compatible hello (RFC 5246 appendix E.2).
bool plausible_sslv2_version(std::uint8_t major, std::uint8_t minor) {
  return (major == 0 && minor == 2) || (major == 3 && minor <= 4);
}

}  // namespace

std::string_view record_error_name(RecordError error) {
  switch (error) {
    case RecordError::none: return "none";
    case RecordError::not_tls: return "not_tls";
    case RecordError::bad_content_type: return "bad_content_type";
    case RecordError::bad_record_version: return "bad_record_version";
    case RecordError::record_too_long: return "record_too_long";
    case RecordError::empty_record: return "empty_record";
    case RecordError::handshake_message_too_large: return "handshake_message_too_large";
    case RecordError::bad_alert: return "bad_alert";
    case RecordError::bad_change_cipher_spec: return "bad_change_cipher_spec";
    case RecordError::bad_sslv2_record: return "bad_sslv2_record";
    case RecordError::interleaved_record: return "interleaved_record";
  }
  return "unknown";
}

RecordReader::RecordReader(RecordLimits limits) : limits_(limits) {}

void RecordReader::set_encrypted() { encrypted_ = true; }

std::size_t RecordReader::buffered() const {
  return header_have_ + record_payload_.size() + message_.size();
}

void RecordReader::fail(RecordError error, RecordObserver& observer) {
  error_ = error;
  message_.clear();
  record_payload_.clear();
  observer.on_error(error, offset_);
}

void RecordReader::warn(RecordError error, RecordObserver& observer) {
  observer.on_error(error, offset_);
}

void RecordReader::feed(Bytes bytes, RecordObserver& observer) {
  std::size_t pos = 0;
  while (pos < bytes.size() && !failed()) {
    offset_ = bytes_seen_ + pos;
    const Bytes rest = bytes.subspan(pos);
    pos += in_record_ ? take_payload(rest, observer) : take_header(rest, observer);
  }
  // After a fatal error the rest is counted, not parsed.
  bytes_seen_ += bytes.size();
}

// Collects the record header. Returns the bytes consumed; when the header is complete the
// record starts (and a zero-length record finishes at once).
std::size_t RecordReader::take_header(Bytes bytes, RecordObserver& observer) {
  const bool sslv2_form = (header_have_ > 0 || !bytes.empty()) &&
                          ((header_have_ ? header_[0] : bytes[0]) & 0x80) &&
                          (first_record_ || sslv2_stream_);
  const std::size_t want = sslv2_form ? kSslv2Header : kTlsHeader;
  const std::size_t take = std::min(want - header_have_, bytes.size());
  std::copy_n(bytes.begin(), take, header_ + header_have_);
  header_have_ += take;
  if (header_have_ < want) return take;

  current_ = RecordHeader{};
  current_.encrypted = encrypted_;
  if (sslv2_form) {
    current_.sslv2 = true;
    current_.length = static_cast<std::uint16_t>((header_[0] & 0x7f) << 8 | header_[1]);
    // The opening hello is read; later SSLv2 records are encrypted or key exchange: opaque.
    current_.type = first_record_ ? static_cast<std::uint8_t>(ContentType::handshake)
                                  : static_cast<std::uint8_t>(ContentType::application_data);
  } else {
    current_.type = header_[0];
    current_.version = static_cast<std::uint16_t>(header_[1] << 8 | header_[2]);
    current_.length = static_cast<std::uint16_t>(header_[3] << 8 | header_[4]);
  }
  header_have_ = 0;
  offset_ += take;
  start_record(observer);
  if (failed()) return take;
  if (payload_left_ == 0) finish_record(observer);
  return take;
}

void RecordReader::start_record(RecordObserver& observer) {
  if (!current_.sslv2) {
    if (!valid_content_type(current_.type)) {
      return fail(first_record_ ? RecordError::not_tls : RecordError::bad_content_type, observer);
    }
    if (!valid_record_version(current_.version)) {
      return fail(first_record_ ? RecordError::not_tls : RecordError::bad_record_version,
                  observer);
    }
    if (current_.length > limits_.max_record_length) {
      return fail(RecordError::record_too_long, observer);
    }
  } else if (first_record_) {
    if (current_.length < 3) return fail(RecordError::bad_sslv2_record, observer);
    sslv2_stream_ = true;
  }

  ++records_seen_;
  in_record_ = true;
  payload_left_ = current_.length;
  observer.on_record(current_);

  const auto type = static_cast<ContentType>(current_.type);
  const bool plaintext_kind = type == ContentType::handshake || type == ContentType::alert ||
                              type == ContentType::change_cipher_spec;
  if (!current_.sslv2 && plaintext_kind && current_.length == 0 && !encrypted_) {
    // RFC 8446 §5.1 / RFC 5246 §6.2.1: only application data may be empty. Tolerated.
    warn(RecordError::empty_record, observer);
  }
  if (current_.sslv2) {
    payload_kind_ = first_record_ ? PayloadKind::buffered : PayloadKind::opaque;
  } else if (type == ContentType::change_cipher_spec) {
    // Never encrypted (RFC 5246 §7.1; RFC 8446 §5: the compatibility CCS stays plaintext).
    payload_kind_ = PayloadKind::buffered;
  } else if (type == ContentType::alert && current_.length <= 2) {
    // An alert is two bytes in clear (RFC 8446 §6); an encrypted one is longer (the MAC or
    // AEAD tag alone is). So two bytes are a plaintext alert even after the key change (a
    // peer that had not switched keys yet, such as an OpenSSL TLS 1.3 client rejecting a
    // chain), and a longer alert record is an encrypted one even when no key change was
    // seen (a capture that starts mid-connection) - as Wireshark reads them too.
    payload_kind_ = PayloadKind::buffered;
  } else if (type == ContentType::handshake && !encrypted_) {
    payload_kind_ = PayloadKind::handshake;
  } else {
    payload_kind_ = PayloadKind::opaque;
  }
  const bool message_open = !message_.empty() || message_skip_left_ > 0;
  if (message_open && payload_kind_ != PayloadKind::handshake) {
    if (encrypted_) {
      // The keys changed mid-message: what was collected can never complete.
      message_.clear();
      message_skip_left_ = 0;
    } else {
      // RFC 8446 §5.1: handshake messages must not be interleaved with other record types.
      warn(RecordError::interleaved_record, observer);
    }
  }
  if (payload_kind_ == PayloadKind::buffered) record_payload_.clear();
}

std::size_t RecordReader::take_payload(Bytes bytes, RecordObserver& observer) {
  const std::size_t take = std::min(payload_left_, bytes.size());
  const Bytes chunk = bytes.first(take);
  const std::size_t chunk_offset = offset_;
  switch (payload_kind_) {
    case PayloadKind::opaque:
      break;  // no copy: type and length are all that is kept
    case PayloadKind::handshake:
      process_handshake_bytes(chunk, observer);
      break;
    case PayloadKind::buffered:
      record_payload_.insert(record_payload_.end(), chunk.begin(), chunk.end());
      if (current_.sslv2 && first_record_) {
        // Tell an SSLv2 hello from binary garbage as soon as its first bytes are in, rather
        // than after buffering a 32 KB "record".
        const auto& p = record_payload_;
        const bool client_hello = !p.empty() && p[0] == 1;
        const bool server_hello = !p.empty() && p[0] == 4;
        if (!p.empty() && !client_hello && !server_hello) {
          offset_ += take;
          fail(RecordError::not_tls, observer);
          return take;
        }
        if ((client_hello && p.size() >= 3 && !plausible_sslv2_version(p[1], p[2])) ||
            (server_hello && p.size() >= 5 && !plausible_sslv2_version(p[3], p[4]))) {
          offset_ += take;
          fail(RecordError::not_tls, observer);
          return take;
        }
      }
      break;
  }
  payload_left_ -= take;
  offset_ = chunk_offset + take;
  if (payload_left_ == 0 && !failed()) finish_record(observer);
  return take;
}

void RecordReader::finish_record(RecordObserver& observer) {
  switch (payload_kind_) {
    case PayloadKind::opaque:
      observer.on_encrypted_record(current_);
      break;
    case PayloadKind::handshake:
      if (encrypted_) {
        // Keys changed during this record (set_encrypted from a callback): the rest of a
        // message begun here can never be read in clear.
        message_.clear();
        message_skip_left_ = 0;
      }
      break;
    case PayloadKind::buffered:
      process_small_record(observer);
      record_payload_.clear();
      break;
  }
  first_record_ = false;
  in_record_ = false;
  current_ = RecordHeader{};
}

void RecordReader::process_small_record(RecordObserver& observer) {
  const Bytes payload(record_payload_);
  if (current_.sslv2) {
    HandshakeMessage message;
    message.sslv2 = true;
    message.type = payload[0];
    message.length = static_cast<std::uint32_t>(payload.size() - 1);
    message.body = payload.subspan(1);
    message.record_version = version::ssl2;
    message.records = 1;
    observer.on_handshake(message);
    return;
  }
  const auto type = static_cast<ContentType>(current_.type);
  if (type == ContentType::change_cipher_spec) {
    // RFC 5246 §7.1: the message is a single byte of value 1.
    if (payload.size() != 1 || payload[0] != 1) warn(RecordError::bad_change_cipher_spec, observer);
    if (!payload.empty()) observer.on_change_cipher_spec();
    return;
  }
  // Alert: level and description (RFC 8446 §6). An empty record was flagged at its header.
  if (payload.size() == 2) {
    observer.on_alert(AlertMessage{payload[0], payload[1]});
  } else if (payload.size() == 1) {
    warn(RecordError::bad_alert, observer);
  }
}

// Splits handshake-record payload into messages (RFC 8446 §5.1: a message may span records,
// a record may hold several messages). A message that lies whole in `payload` is handed over
// in place; only a message split across records or feed() calls is copied.
void RecordReader::process_handshake_bytes(Bytes payload, RecordObserver& observer) {
  if (current_.length == payload_left_ && payload.size() > 0) {
    // First bytes of this record: it carries part of the current (or a new) message.
    if (!message_.empty() || message_skip_left_ > 0) ++message_records_;
  }
  const std::size_t payload_offset = offset_;
  ByteReader in(payload);
  while (!in.empty()) {
    if (encrypted_) return;  // keys changed from a callback: the rest is not plaintext
    if (message_.empty() && message_skip_left_ == 0) {
      message_offset_ = payload_offset + in.position();
    }
    if (message_skip_left_ > 0) {
      const std::size_t skip = std::min(message_skip_left_, in.remaining());
      in.skip(skip);
      message_skip_left_ -= skip;
      continue;
    }
    if (message_.empty()) {
      message_records_ = 1;
      message_record_version_ = current_.version;
      const Bytes rest = in.rest();
      if (rest.size() >= kHandshakeHeader) {
        const std::uint32_t length =
            static_cast<std::uint32_t>(rest[1]) << 16 | static_cast<std::uint32_t>(rest[2]) << 8 |
            rest[3];
        if (length > limits_.max_handshake_message) {
          offset_ = message_offset_;
          warn(RecordError::handshake_message_too_large, observer);
          in.skip(kHandshakeHeader);
          message_skip_left_ = length;
          continue;
        }
        if (rest.size() >= kHandshakeHeader + length) {
          deliver_message(rest.first(kHandshakeHeader + length), observer);
          in.skip(kHandshakeHeader + length);
          continue;
        }
      }
    }
    // Collect the header first, then the body, across records.
    if (message_.size() < kHandshakeHeader) {
      const std::size_t take = std::min(kHandshakeHeader - message_.size(), in.remaining());
      const Bytes part = *in.take(take);
      message_.insert(message_.end(), part.begin(), part.end());
      if (message_.size() < kHandshakeHeader) continue;
      const std::uint32_t length = static_cast<std::uint32_t>(message_[1]) << 16 |
                                   static_cast<std::uint32_t>(message_[2]) << 8 | message_[3];
      if (length > limits_.max_handshake_message) {
        offset_ = message_offset_;
        warn(RecordError::handshake_message_too_large, observer);
        message_.clear();
        message_skip_left_ = length;
        continue;
      }
    }
    const std::uint32_t length = static_cast<std::uint32_t>(message_[1]) << 16 |
                                 static_cast<std::uint32_t>(message_[2]) << 8 | message_[3];
    const std::size_t missing = kHandshakeHeader + length - message_.size();
    const std::size_t take = std::min(missing, in.remaining());
    const Bytes part = *in.take(take);
    message_.insert(message_.end(), part.begin(), part.end());
    if (message_.size() == kHandshakeHeader + length) {
      deliver_message(Bytes(message_), observer);
      message_.clear();
    }
  }
}

void RecordReader::deliver_message(Bytes message, RecordObserver& observer) {
  HandshakeMessage out;
  out.type = message[0];
  out.length = static_cast<std::uint32_t>(message.size() - kHandshakeHeader);
  out.body = message.subspan(kHandshakeHeader);
  out.record_version = message_record_version_;
  out.records = std::max<std::uint32_t>(message_records_, 1);
  observer.on_handshake(out);
}

}  // namespace tlsglass::tls
