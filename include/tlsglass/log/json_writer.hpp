// A streaming JSON writer: the record goes straight into one string, without building a
// document first (a DOM of ~150 small values per record cost more CPU than the rest of a
// proxied connection together). String escaping is nlohmann's own serializer (RFC 8259, with
// invalid UTF-8 replaced), so only the punctuation is ours.
//
// A record is some 400 short tokens: the writer copies them into the string's storage itself
// (a call on std::string per token was a fifth of a replay), so the string is longer than
// the text while the writer works. It holds exactly the text once finish() is called or the
// writer is destroyed.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace tlsglass::log {

class JsonWriter {
 public:
  // Appends to `out`.
  explicit JsonWriter(std::string& out);
  ~JsonWriter();  // finish()
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  // Cuts the string to the text written. Writing may go on afterwards.
  void finish();

  // `name` is one of ours: plain ASCII, written as is.
  JsonWriter& key(std::string_view name) {
    char* at = room(name.size() + 4);
    if (comma_due_) *at++ = ',';
    *at++ = '"';
    std::memcpy(at, name.data(), name.size());
    at += name.size();
    *at++ = '"';
    *at++ = ':';
    cursor_ = at;
    comma_due_ = false;  // the key's value follows without one
    return *this;
  }
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  // A string of ours that is plain by construction (a registry or version name, hex digits):
  // written without the look value() takes at every byte. tests/log/json_writer_test.cpp
  // checks that every name the registries give is plain.
  JsonWriter& ascii(std::string_view text) {
    char* at = room(text.size() + 3);
    if (comma_due_) *at++ = ',';
    *at++ = '"';
    std::memcpy(at, text.data(), text.size());
    at += text.size();
    *at++ = '"';
    cursor_ = at;
    comma_due_ = true;
    return *this;
  }
  // A string a peer controls: invalid UTF-8 bytes are written as the text "\xNN"
  // (log::valid_utf8), then escaped as any string.
  JsonWriter& peer_text(std::string_view text);
  JsonWriter& value(bool flag) { return token(flag ? std::string_view("true") : "false"); }
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
  // Where `n` more bytes can be written (at cursor_): the string grows when needed.
  char* room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cursor_) < n) grow(n);
    return cursor_;
  }
  void grow(std::size_t n);
  JsonWriter& open(char bracket) {
    char* at = room(2);
    if (comma_due_) *at++ = ',';
    *at++ = bracket;
    cursor_ = at;
    comma_due_ = false;
    return *this;
  }
  JsonWriter& close(char bracket) {
    *room(1) = bracket;
    ++cursor_;
    comma_due_ = true;
    return *this;
  }
  // A value written as it is (a number, true, false, null), after a comma when one is due.
  JsonWriter& token(std::string_view text) {
    char* at = room(text.size() + 1);
    if (comma_due_) *at++ = ',';
    std::memcpy(at, text.data(), text.size());
    cursor_ = at + text.size();
    comma_due_ = true;
    return *this;
  }

  std::string& out_;
  char* cursor_ = nullptr;  // in out_'s storage: where the next byte goes
  char* end_ = nullptr;     // the end of out_'s current size
  // A comma goes before the next key or value: something precedes it in the open object or
  // array, and it is not the value of a key just written. Enough state for well-nested calls.
  bool comma_due_ = false;
  // Made at the first string that needs escaping: most records have none, and the serializer
  // costs allocations to build.
  struct Escaper;
  std::unique_ptr<Escaper> escaper_;
};

}  // namespace tlsglass::log
