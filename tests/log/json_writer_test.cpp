// The JSON writer's fast path: which strings go out unescaped, and the commas between members.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "tlsglass/log/json_writer.hpp"
#include "tlsglass/tls/registry.hpp"

using namespace tlsglass;

TEST_CASE("plain text is exactly printable ASCII without a quote or a backslash, at any position") {
  // Every byte value at every position of a 19-byte string: two whole words and a tail, so
  // both the word-at-a-time test and the byte loop see each value everywhere.
  for (int byte = 0; byte < 256; ++byte) {
    const auto c = static_cast<char>(byte);
    const bool expected = byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\';
    for (std::size_t at = 0; at < 19; ++at) {
      std::string text(19, 'a');
      text[at] = c;
      INFO("byte " << byte << " at " << at);
      CHECK(log::JsonWriter::plain(text) == expected);
    }
  }
  CHECK(log::JsonWriter::plain(""));
  // Neighbours whose borrow or carry could spill into the next byte.
  CHECK_FALSE(log::JsonWriter::plain(std::string("\x00\x21\x21\x21\x21\x21\x21\x21", 8)));
  CHECK_FALSE(log::JsonWriter::plain("\xff!!!!!!!"));
  CHECK(log::JsonWriter::plain("~~~~~~~~ !#[]}{~"));
}

TEST_CASE("members and elements are separated by commas, a key's value is not") {
  std::string out;
  log::JsonWriter json(out);
  json.begin_object();
  json.field("a", 1).key("b").begin_array().value("x").value(true).begin_object().end_object();
  json.begin_array().end_array().end_array();
  json.key("c").begin_object().field("d", "e\"f").end_object();
  json.field("g", 1.5).end_object();
  json.finish();
  CHECK(out == R"({"a":1,"b":["x",true,{},[]],"c":{"d":"e\"f"},"g":1.5})");
  CHECK(nlohmann::json::parse(out)["c"]["d"] == "e\"f");
}

TEST_CASE("the string holds exactly the text once the writer finishes, however long it grows") {
  std::string out = "prefix ";
  {
    log::JsonWriter json(out);
    json.begin_array();
    for (int i = 0; i < 1000; ++i) json.value("ab\"c").value(i).value(0.5).value(2.0);
    json.end_array();
  }
  CHECK(out.rfind("prefix [\"ab\\\"c\",0,0.5,2.0,", 0) == 0);
  CHECK(out.back() == ']');
  const auto parsed = nlohmann::json::parse(out.substr(7));
  CHECK(parsed.size() == 4000);
  CHECK(parsed[3999] == 2.0);
}

TEST_CASE("every name a registry gives is plain, so ascii() may write it unchecked") {
  using tls::Registry;
  for (const auto registry :
       {Registry::cipher_suite, Registry::named_group, Registry::signature_scheme,
        Registry::extension, Registry::alert, Registry::handshake_type, Registry::content_type,
        Registry::ec_point_format, Registry::psk_key_exchange_mode,
        Registry::certificate_compression}) {
    for (unsigned code = 0; code <= 0xffff; ++code) {
      const auto value = static_cast<std::uint16_t>(code);
      if (const auto name = tls::lookup(registry, value)) CHECK(log::JsonWriter::plain(*name));
      if (!log::JsonWriter::plain(tls::name_of(registry, value))) {
        FAIL("registry " << static_cast<int>(registry) << " code " << code);
      }
    }
  }
  for (unsigned version = 0; version <= 0xffff; ++version) {
    if (!log::JsonWriter::plain(tls::version_name(static_cast<std::uint16_t>(version))))
      FAIL("version " << version);
  }
}
