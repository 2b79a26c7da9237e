// Helpers for tests: fixture files, hex, and TLS record framing of known bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tlsglass::test {

using ByteVec = std::vector<std::uint8_t>;

// $TLSGLASS_TEST_DATA/<relative> (tests/data in the source tree).
std::string data_path(const std::string& relative);
// $TLSGLASS_CORPUS (../shared/corpus), or nullopt when it is not there.
std::optional<std::string> corpus_dir();

ByteVec read_file(const std::string& path);
ByteVec from_hex(const std::string& hex);  // ignores whitespace
std::string to_hex(const ByteVec& bytes);

// Wraps a handshake message (type + body) into one TLS record of `record_version`.
ByteVec handshake_record(std::uint8_t type, const ByteVec& body,
                         std::uint16_t record_version = 0x0301);
// Wraps arbitrary payload in a record header.
ByteVec record(std::uint8_t content_type, const ByteVec& payload,
               std::uint16_t record_version = 0x0303);

}  // namespace tlsglass::test
