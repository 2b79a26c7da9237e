// FlowTable: the tracker's open-addressing table. Driven against a plain map through inserts and
// erases that wrap around its end and leave holes inside runs of probes.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <random>

#include "flow_table.hpp"

namespace {

using namespace tlsglass;
using capture::tracking::Flow;
using capture::tracking::FlowKey;
using capture::tracking::FlowTable;

capture::TcpSegment segment_between(std::uint16_t client_port, std::uint16_t server_port) {
  capture::TcpSegment segment;
  segment.source = *capture::SocketAddress::parse({"10.0.0.1", client_port});
  segment.destination = *capture::SocketAddress::parse({"10.0.0.2", server_port});
  return segment;
}

}  // namespace

TEST_CASE("the flow table finds every flow it holds and none it does not, across erases") {
  FlowTable table;
  std::map<std::uint32_t, Flow*> expected;  // by client port << 16 | server port
  std::mt19937 random(7);
  std::uint64_t created = 0;
  for (int step = 0; step < 20000; ++step) {
    const auto client = static_cast<std::uint16_t>(random() % 3000);
    const auto server = static_cast<std::uint16_t>(443 + random() % 2);
    const std::uint32_t id = static_cast<std::uint32_t>(client) << 16 | server;
    const auto segment = segment_between(client, server);
    const FlowKey key = capture::tracking::key_of(segment.source, segment.destination);
    Flow* found = table.find(key);
    const auto it = expected.find(id);
    REQUIRE((found != nullptr) == (it != expected.end()));
    if (found) {
      REQUIRE(found == it->second);
      if (random() % 2) {
        table.erase(*found);
        expected.erase(it);
      }
    } else {
      Flow& flow = table.insert(std::make_unique<Flow>(key, segment, created++,
                                                       capture::StreamReassembly::Limits{}));
      expected[id] = &flow;
    }
    REQUIRE(table.size() == expected.size());
  }
  std::size_t visited = 0;
  table.for_each([&](Flow&) { ++visited; });
  CHECK(visited == expected.size());
  for (const auto& [id, flow] : expected) {
    CHECK(table.find(flow->key) == flow);
  }
}
