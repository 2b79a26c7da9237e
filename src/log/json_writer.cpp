#include "tlsglass/log/json_writer.hpp"

#include <fmt/format.h>

#include "tlsglass/log/safe_text.hpp"

#include <algorithm>
#include <cmath>

namespace tlsglass::log {

JsonWriter::JsonWriter(std::string& out)
    : out_(out),
      escaper_(nlohmann::detail::output_adapter<char, std::string>(out), ' ',
               nlohmann::json::error_handler_t::replace) {
  has_members_.reserve(8);
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_members_.empty()) {
    if (has_members_.back()) out_ += ',';
    has_members_.back() = true;
  }
}

JsonWriter& JsonWriter::key(std::string_view name) {
  before_value();
  out_ += '"';
  out_ += name;
  out_ += "\":";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  has_members_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  has_members_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  has_members_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  has_members_.pop_back();
  return *this;
}

bool JsonWriter::plain(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
}

JsonWriter& JsonWriter::value(std::string_view text) {
  before_value();
  // Most of a record is registry names and hex, with nothing to escape: it goes out as it is.
  // Anything else is nlohmann's to escape (serializer::dump writes a string value quoted and
  // escaped; the scratch value keeps its buffer from one string to the next).
  if (plain(text)) {
    out_ += '"';
    out_ += text;
    out_ += '"';
    return *this;
  }
  scratch_.get_ref<std::string&>().assign(text);
  escaper_.dump(scratch_, false, false, 0);
  return *this;
}

JsonWriter& JsonWriter::peer_text(std::string_view text) {
  if (plain(text)) return value(text);
  return value(valid_utf8(text));
}

JsonWriter& JsonWriter::value(bool flag) {
  before_value();
  out_ += flag ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t number) {
  before_value();
  fmt::format_to(std::back_inserter(out_), "{}", number);
  return *this;
}

JsonWriter& JsonWriter::value(std::uint64_t number) {
  before_value();
  fmt::format_to(std::back_inserter(out_), "{}", number);
  return *this;
}

JsonWriter& JsonWriter::value(double number) {
  before_value();
  if (!std::isfinite(number)) {  // JSON has no NaN or infinity; nlohmann writes null
    out_ += "null";
    return *this;
  }
  const std::size_t start = out_.size();
  fmt::format_to(std::back_inserter(out_), "{}", number);
  if (out_.find_first_of(".e", start) == std::string::npos) out_ += ".0";
  return *this;
}

}  // namespace tlsglass::log
