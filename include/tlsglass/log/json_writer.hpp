// A streaming JSON writer: the record goes straight into one string, without building a
// document first (a DOM of ~150 small values per record cost more CPU than the rest of a
// proxied connection together). String escaping is nlohmann's own serializer (RFC 8259, with
// invalid UTF-8 replaced), so only the punctuation is ours.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace tlsglass::log {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out);
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // `name` is one of ours: plain ASCII, written as is.
  JsonWriter& key(std::string_view name);
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  // A string a peer controls: invalid UTF-8 bytes are written as the text "\xNN"
  // (log::valid_utf8), then escaped as any string.
  JsonWriter& peer_text(std::string_view text);
  JsonWriter& value(bool flag);
  JsonWriter& value(std::int64_t number);
  JsonWriter& value(std::uint64_t number);
  JsonWriter& value(std::uint32_t number) { return value(static_cast<std::uint64_t>(number)); }
  JsonWriter& value(std::uint16_t number) { return value(static_cast<std::uint64_t>(number)); }
  JsonWriter& value(std::uint8_t number) { return value(static_cast<std::uint64_t>(number)); }
  JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
  // Shortest round-trip form; integral values keep a ".0" as nlohmann writes them.
  JsonWriter& value(double number);

  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }
  JsonWriter& peer_field(std::string_view name, std::string_view text) {
    key(name);
    return peer_text(text);
  }

  // Printable ASCII without '"' or '\\': written between quotes as it is.
  static bool plain(std::string_view text);

 private:
  void before_value();

  std::string& out_;
  std::vector<bool> has_members_;  // per open object/array: a comma goes before the next item
  bool after_key_ = false;
  nlohmann::detail::serializer<nlohmann::json> escaper_;
  nlohmann::json scratch_ = std::string();
};

}  // namespace tlsglass::log
