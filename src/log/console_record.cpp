// Console records read back from JSON log lines (`tail`): every field optional but typed as the
// record gives it, the first wrong one named in `problem` - a hand-edited or foreign log gets a
// reason, never a crash.
#include <fmt/format.h>

#include <cctype>
#include <initializer_list>
#include <limits>

#include "console_text.hpp"
#include "tlsglass/log/console_line.hpp"

namespace tlsglass::log {

namespace {

using Json = nlohmann::json;

// A JSON log may come from anywhere: an unrecognised @timestamp is shown, but not all of it.
constexpr std::size_t kMaxClockText = 40;

// Reads typed fields out of a JSON record by path ("tls.client.server_name"); the first field of
// the wrong type (or a missing required one) becomes `problem`.
class FieldReader {
 public:
  FieldReader(const Json& root, std::string& problem) : root_(root), problem_(problem) {}

  bool failed() const { return !problem_.empty(); }

  // The value at `path`, nullptr when absent (or when something on the way is not an object).
  const Json* find(std::initializer_list<const char*> path) {
    const Json* at = &root_;
    std::string walked;
    for (const char* key : path) {
      if (!at->is_object()) {
        if (!walked.empty()) fail(walked + " is not an object");
        return nullptr;
      }
      auto it = at->find(key);
      if (it == at->end()) return nullptr;
      at = &*it;
      walked += (walked.empty() ? "" : ".") + std::string(key);
    }
    return at;
  }

  std::optional<std::string> text(std::initializer_list<const char*> path, bool required = false) {
    const Json* value = find(path);
    if (value == nullptr) {
      if (required) fail("no " + dotted(path));
      return std::nullopt;
    }
    if (!value->is_string()) {
      fail(dotted(path) + " is not a string");
      return std::nullopt;
    }
    return value->get<std::string>();
  }

  template <typename Unsigned>
  std::optional<Unsigned> number(std::initializer_list<const char*> path) {
    const Json* value = find(path);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number_unsigned() ||
        value->get<std::uint64_t>() > std::numeric_limits<Unsigned>::max()) {
      fail(dotted(path) + " is not a number in range");
      return std::nullopt;
    }
    return static_cast<Unsigned>(value->get<std::uint64_t>());
  }

  bool flag(std::initializer_list<const char*> path) {
    const Json* value = find(path);
    if (value == nullptr) return false;
    if (!value->is_boolean()) {
      fail(dotted(path) + " is not true or false");
      return false;
    }
    return value->get<bool>();
  }

  void fail(std::string reason) {
    if (problem_.empty()) problem_ = std::move(reason);
  }

 private:
  static std::string dotted(std::initializer_list<const char*> path) {
    std::string out;
    for (const char* key : path) out += (out.empty() ? "" : ".") + std::string(key);
    return out;
  }

  const Json& root_;
  std::string& problem_;
};

// "ip:port" from {"ip":..,"port":..}; the ip alone when the port is missing.
std::optional<std::string> json_endpoint(FieldReader& reader, const char* object) {
  auto ip = reader.text({object, "ip"});
  auto port = reader.number<std::uint16_t>({object, "port"});
  if (!ip) return std::nullopt;
  return port ? endpoint_text(*ip, *port) : *ip;
}

// The same text as trace::display_version, from the record's tls.version/tls.version_protocol.
std::string json_version(const std::string& name, const std::optional<std::string>& protocol) {
  if (name.rfind("0x", 0) == 0) return name;
  std::string prefix = protocol.value_or("tls");
  for (auto& c : prefix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return prefix + name;
}

// "2026-11-25T10:00:00.123456Z" -> "10:00:00.123", as clock() shows a Timestamp.
std::string json_clock(const std::string& timestamp) {
  const bool iso = timestamp.size() >= 19 && timestamp[10] == 'T';
  if (iso && timestamp.size() >= 23 && timestamp[19] == '.') return timestamp.substr(11, 12);
  if (iso) return timestamp.substr(11, 8);
  return timestamp.substr(0, kMaxClockText);
}

void json_timeline(FieldReader& reader, std::vector<trace::TimelineEntry>& out) {
  const Json* timeline = reader.find({"tlsglass", "timeline"});
  if (timeline == nullptr) return;
  if (!timeline->is_array()) return reader.fail("tlsglass.timeline is not an array");
  out.reserve(timeline->size());
  for (std::size_t i = 0; i < timeline->size(); ++i) {
    const Json& entry = (*timeline)[i];
    const auto ms = entry.is_object() ? entry.find("ms") : entry.end();
    const auto from = entry.is_object() ? entry.find("from") : entry.end();
    const auto what = entry.is_object() ? entry.find("what") : entry.end();
    const bool well_formed = entry.is_object() && ms != entry.end() && ms->is_number() &&
                             from != entry.end() && from->is_string() && what != entry.end() &&
                             what->is_string() &&
                             (*from == "client" || *from == "server");
    if (!well_formed) {
      return reader.fail(fmt::format("tlsglass.timeline[{}] is not {{ms, from, what}}", i));
    }
    out.push_back({ms->get<double>(), *from == "client" ? trace::Side::client : trace::Side::server,
                   what->get<std::string>()});
  }
}

}  // namespace

std::string endpoint_text(std::string_view ip, std::uint16_t port) {
  return ip.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", ip, port)
                                                 : fmt::format("{}:{}", ip, port);
}

std::optional<ConsoleRecord> console_record(const nlohmann::json& record, std::string& problem) {
  problem.clear();
  if (!record.is_object()) {
    problem = "not a JSON object";
    return std::nullopt;
  }
  FieldReader reader(record, problem);
  ConsoleRecord out;
  auto timestamp = reader.text({"@timestamp"}, true);
  auto cause = reader.text({"tlsglass", "cause"}, true);
  if (reader.failed()) return std::nullopt;
  out.clock = json_clock(*timestamp);
  out.cause = std::move(*cause);
  out.conn = reader.number<std::uint64_t>({"tlsglass", "conn"});
  out.source = json_endpoint(reader, "source");
  out.domain = reader.text({"destination", "domain"});
  out.destination = json_endpoint(reader, "destination");
  if (auto version = reader.text({"tls", "version"}))
    out.version = json_version(*version, reader.text({"tls", "version_protocol"}));
  out.cipher = reader.text({"tls", "cipher"});
  out.next_protocol = reader.text({"tls", "next_protocol"});
  out.inferred = reader.flag({"tlsglass", "inferred"});
  out.explanation = reader.text({"tlsglass", "explanation"}).value_or("");
  out.server_name = reader.text({"tls", "client", "server_name"});
  json_timeline(reader, out.timeline);
  if (reader.failed()) return std::nullopt;
  return out;
}

}  // namespace tlsglass::log
