// Cross-check with data nobody here wrote: every TCP connection of ../shared/corpus, read
// from its pcap with libpcap, decoded and reassembled by capture/, compared with the corpus's
// own reassembled streams (built from tshark's dissection by the corpus's build.py: "by
// sequence number, first copy wins, stop at the first gap, capped at 256 KiB").
//
// The tracker delivers past gaps, the corpus stops at the first: the comparison is up to our
// first gap (after a gap at the very start - the corpus starts at the lowest sequence number
// it has, we start at the SYN). Differences whose reason is known are listed in
// kKnownDifferences; any other one fails the test.
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "flow_events_log.hpp"
#include "tlsglass/capture/tcp_flows.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tlsglass;

namespace {

constexpr std::size_t kCorpusCap = 256 * 1024;

struct KnownDifference {
  const char* capture;     // expected/<...>.json "pcap"
  const char* connection;  // its key in "connections"
  const char* side;        // "client" / "server"
  const char* reason;
  // Checks that the difference is the one the reason names (and nothing more).
  bool (*confirmed)(const std::string& corpus, const std::string& ours);
};

std::size_t first_difference(const std::string& a, const std::string& b) {
  const auto n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return n;
}

// The corpus has one byte more, where the SYN's data ends: without it, the streams agree.
bool one_stray_byte_after_syn_data(const std::string& corpus, const std::string& ours) {
  if (corpus.size() != ours.size() + 1) return false;
  std::string without = corpus;
  without.erase(first_difference(corpus, ours), 1);
  return without == ours;
}

// Each entry was checked by hand against tshark's view of the capture.
const KnownDifference kKnownDifferences[] = {
    {"pcaps/suricata-verify/tcp-fastopen-10-syn-data-ignore.pcap",
     "192.168.0.45:51615 -> 17.253.144.10:443", "client",
     "the corpus places the SYN's data at the SYN's own sequence number (tshark's tcp.seq_raw), "
     "one byte early (RFC 9293 §3.4: the SYN takes the first number), so its stream carries "
     "that data plus one stray byte; the server refused the SYN data here and the client sent "
     "the ClientHello again, which is what we deliver",
     one_stray_byte_after_syn_data},
    {"pcaps/suricata-verify/tcp-fastopen-11-reject-syn-data.pcap",
     "192.168.0.44:57282 -> 17.253.144.10:443", "client",
     "the corpus places the SYN's data one byte early (see tcp-fastopen-10); the server "
     "refused it and we deliver the resent ClientHello",
     one_stray_byte_after_syn_data},
};

const KnownDifference* known(const std::string& capture, const std::string& connection,
                             const std::string& side) {
  for (const auto& k : kKnownDifferences) {
    if (capture == k.capture && connection == k.connection && side == k.side) return &k;
  }
  return nullptr;
}

std::optional<fs::path> corpus_root() {
  const char* dir = std::getenv("TLSGLASS_CORPUS");
  if (!dir || !fs::is_directory(fs::path(dir) / "expected")) return std::nullopt;
  return fs::path(dir);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// "10.0.0.1:443" or "[2001:db8::1]:443".
trace::Endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  std::string ip = text.substr(0, colon);
  if (!ip.empty() && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
  return {ip, static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)))};
}

bool same(const trace::Endpoint& a, const trace::Endpoint& b) {
  return a.ip == b.ip && a.port == b.port;
}

struct Replay {
  capture_test::FlowEventsLog log;
  std::string error;
  std::uint64_t frames = 0, segments = 0;
};

// The whole capture through decode_frame and a FlowTracker.
void replay(const fs::path& pcap, Replay& out) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_open_offline(pcap.c_str(), errbuf);
  if (!handle) {
    out.error = errbuf;
    return;
  }
  const int link = pcap_datalink(handle);
  capture::FlowTracker tracker(out.log);
  trace::Timestamp last{};
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(handle, &header, &data) == 1) {
    ++out.frames;
    last = trace::Timestamp{std::chrono::seconds(header->ts.tv_sec) +
                            std::chrono::microseconds(header->ts.tv_usec)};
    const auto decoded = capture::decode_frame(link, tls::Bytes(data, header->caplen), last);
    if (!decoded.segment) continue;
    ++out.segments;
    tracker.on_segment(*decoded.segment);
  }
  tracker.finish(last);
  pcap_close(handle);
}

}  // namespace

TEST_CASE("every corpus TCP connection reassembles to the corpus's own streams") {
  const auto root = corpus_root();
  if (!root) {
    WARN("corpus not found (set TLSGLASS_CORPUS or put ../shared/corpus beside the repo): skipped");
    return;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(*root / "expected")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());

  int streams = 0, matched = 0, explained = 0, with_gaps = 0, leading_gaps = 0;
  std::vector<std::string> failures, explanations;
  for (const auto& file : files) {
    const json expected = json::parse(read_text(file));
    const std::string capture = expected["pcap"];
    std::vector<std::pair<std::string, json>> tcp;
    for (const auto& item : expected["connections"].items()) {
      if (item.value().contains("streams") && !item.value()["streams"].is_null()) {
        tcp.emplace_back(item.key(), item.value());
      }
    }
    if (tcp.empty()) continue;
    Replay ours;
    replay(*root / capture, ours);
    if (!ours.error.empty()) {
      failures.push_back(fmt::format("{}: {}", capture, ours.error));
      continue;
    }
    CHECK(ours.log.contract_violations.empty());

    for (const auto& [name, conn] : tcp) {
      const trace::Endpoint client = parse_endpoint(conn["client"]);
      const trace::Endpoint server = parse_endpoint(conn["server"]);
      // " #2": the second connection on this 4-tuple, in capture order.
      int nth = 1;
      if (const auto hash = name.find(" #"); hash != std::string::npos)
        nth = std::stoi(name.substr(hash + 2));
      const capture_test::FlowRecord* flow = nullptr;
      int seen = 0;
      for (const auto id : ours.log.start_order) {
        const auto& record = ours.log.flows.at(id);
        const bool match = (same(record.info.client, client) && same(record.info.server, server)) ||
                           (same(record.info.client, server) && same(record.info.server, client));
        if (match && ++seen == nth) {
          flow = &record;
          break;
        }
      }
      for (const char* side : {"client", "server"}) {
        ++streams;
        const std::string corpus = read_text(*root / conn["streams"][side].get<std::string>());
        std::string mine;
        std::size_t our_gaps = 0;
        if (flow) {
          const trace::Endpoint& sender = std::string(side) == "client" ? client : server;
          const auto& pieces = same(flow->info.client, sender) ? flow->client : flow->server;
          mine = capture_test::FlowEventsLog::until_gap(pieces, true);
          if (mine.size() > kCorpusCap) mine.resize(kCorpusCap);
          for (const auto& piece : pieces) our_gaps += piece.missing ? 1 : 0;
          with_gaps += our_gaps > 0 ? 1 : 0;
          leading_gaps += !pieces.empty() && pieces.front().missing ? 1 : 0;
        }
        if (flow && mine == corpus) {
          ++matched;
          continue;
        }
        const std::string what = fmt::format(
            "{} [{}] {}: corpus {} bytes, ours {} bytes (gaps: {}), first difference at {}{}",
            capture, name, side, corpus.size(), mine.size(), our_gaps,
            first_difference(corpus, mine), flow ? "" : " - no such flow");
        if (const auto* k = known(capture, name, side); k && k->confirmed(corpus, mine)) {
          ++explained;
          explanations.push_back(what + "\n    because " + k->reason);
        } else {
          failures.push_back(what);
        }
      }
    }
  }
  std::cout << fmt::format(
      "streams matched {} of {} ({} differ for a known reason, {} unexplained)\n", matched, streams,
      explained, failures.size());
  std::cout << fmt::format(
      "  {} of our streams have gaps (compared up to the first; {} start "
      "with one, where the corpus starts at its lowest sequence number)\n",
      with_gaps, leading_gaps);
  for (const auto& line : explanations) std::cout << "  known: " << line << "\n";
  for (const auto& line : failures) std::cout << "  DIFFERS: " << line << "\n";
  CHECK(streams > 0);
  CHECK(failures.empty());
}
