#include "tlsglass/log/json_writer.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "tlsglass/log/safe_text.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

namespace tlsglass::log {

struct JsonWriter::Escaper {
  explicit Escaper(std::string& out)
      : serializer(nlohmann::detail::output_adapter<char, std::string>(out), ' ',
                   nlohmann::json::error_handler_t::replace) {}
  nlohmann::detail::serializer<nlohmann::json> serializer;
  nlohmann::json scratch = std::string();  // keeps its buffer from one string to the next
};

JsonWriter::JsonWriter(std::string& out) : out_(out) {
  cursor_ = end_ = out_.data() + out_.size();
}

JsonWriter::~JsonWriter() { finish(); }

void JsonWriter::finish() {
  out_.resize(static_cast<std::size_t>(cursor_ - out_.data()));
  cursor_ = end_ = out_.data() + out_.size();
}

void JsonWriter::grow(std::size_t n) {
  const auto used = static_cast<std::size_t>(cursor_ - out_.data());
  // Within the string's capacity (a caller's reserve(), a buffer reused for many records) a
  // step at a time: resize() zeroes what it adds. Beyond it, doubling.
  constexpr std::size_t kStep = 4096;
  const std::size_t step = std::max(n, kStep);
  out_.resize(used + step <= out_.capacity() ? used + step
                                             : std::max(used + n, 2 * out_.capacity()));
  cursor_ = out_.data() + used;
  end_ = out_.data() + out_.size();
}

namespace {

// Whether none of a word's eight bytes is below 0x20, above 0x7e, '"' or '\\' (the "has less",
// "has more" and "has zero byte" tests of Bit Twiddling Hacks: a borrow or carry may mark the
// wrong byte, never a word without one, and "any" is all we ask).
constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
constexpr bool word_plain(std::uint64_t w) {
  const std::uint64_t control = (w - kOnes * 0x20) & ~w;
  const std::uint64_t beyond_ascii = (w + kOnes * (127 - 0x7e)) | w;
  const std::uint64_t quote = w ^ (kOnes * '"'), backslash = w ^ (kOnes * '\\');
  const std::uint64_t special = ((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash);
  return ((control | beyond_ascii | special) & kHighs) == 0;
}

constexpr bool byte_plain(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

}  // namespace

bool JsonWriter::plain(std::string_view text) {
  // Eight bytes at a time: every string of every record passes through here.
  const char* at = text.data();
  std::size_t left = text.size();
  for (; left >= 8; at += 8, left -= 8) {
    std::uint64_t word;
    std::memcpy(&word, at, 8);
    if (!word_plain(word)) return false;
  }
  for (; left > 0; ++at, --left) {
    if (!byte_plain(static_cast<unsigned char>(*at))) return false;
  }
  return true;
}

JsonWriter& JsonWriter::value(std::string_view text) {
  // Most of a record is registry names and hex, with nothing to escape: it goes out as it is.
  if (plain(text)) return ascii(text);
  // Anything else is nlohmann's to escape: serializer::dump appends the string value quoted
  // and escaped to out_, which must end where the text does for that.
  if (comma_due_) {
    *room(1) = ',';
    ++cursor_;
  }
  comma_due_ = true;
  finish();
  if (!escaper_) escaper_ = std::make_unique<Escaper>(out_);
  escaper_->scratch.get_ref<std::string&>().assign(text);
  escaper_->serializer.dump(escaper_->scratch, false, false, 0);
  cursor_ = end_ = out_.data() + out_.size();
  return *this;
}

JsonWriter& JsonWriter::peer_text(std::string_view text) {
  // Plain text is valid UTF-8 already; value() looks at it again, which is cheap.
  if (plain(text)) return value(text);
  return value(valid_utf8(text));
}

JsonWriter& JsonWriter::value(std::int64_t number) {
  const fmt::format_int digits(number);
  return token({digits.data(), digits.size()});
}

JsonWriter& JsonWriter::value(std::uint64_t number) {
  const fmt::format_int digits(number);
  return token({digits.data(), digits.size()});
}

JsonWriter& JsonWriter::value(double number) {
  // JSON has no NaN or infinity; nlohmann writes null.
  if (!std::isfinite(number)) return token("null");
  // The shortest round-trip form is at most 24 characters ("-2.2250738585072014e-308").
  std::array<char, 40> text;
  const auto written = fmt::format_to_n(text.data(), text.size() - 2, "{}", number);
  std::size_t length = std::min(written.size, text.size() - 2);
  if (std::string_view(text.data(), length).find_first_of(".e") == std::string_view::npos) {
    text[length++] = '.';
    text[length++] = '0';
  }
  return token({text.data(), length});
}

}  // namespace tlsglass::log
