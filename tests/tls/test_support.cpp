#include "test_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace tlsglass::test {

std::string data_path(const std::string& relative) {
  const char* dir = std::getenv("TLSGLASS_TEST_DATA");
  return std::string(dir ? dir : "tests/data") + "/" + relative;
}

std::optional<std::string> corpus_dir() {
  const char* dir = std::getenv("TLSGLASS_CORPUS");
  if (!dir || !std::filesystem::is_directory(std::string(dir) + "/expected")) return std::nullopt;
  return std::string(dir);
}

ByteVec read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return ByteVec(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

ByteVec from_hex(const std::string& hex) {
  ByteVec out;
  int high = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

std::string to_hex(const ByteVec& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

ByteVec record(std::uint8_t content_type, const ByteVec& payload, std::uint16_t record_version) {
  ByteVec out{content_type, static_cast<std::uint8_t>(record_version >> 8),
              static_cast<std::uint8_t>(record_version & 0xff),
              static_cast<std::uint8_t>(payload.size() >> 8),
              static_cast<std::uint8_t>(payload.size() & 0xff)};
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

ByteVec handshake_record(std::uint8_t type, const ByteVec& body, std::uint16_t record_version) {
  ByteVec message{type, static_cast<std::uint8_t>(body.size() >> 16),
                  static_cast<std::uint8_t>(body.size() >> 8 & 0xff),
                  static_cast<std::uint8_t>(body.size() & 0xff)};
  message.insert(message.end(), body.begin(), body.end());
  return record(22, message, record_version);
}

}  // namespace tlsglass::test
