// What worked before: per server (ip:port), the shape of the last ClientHello whose handshake
// ended `ok`. When a later connection to the same server is reset or left unanswered right
// after its ClientHello, the verdict compares the two hellos: the same hello (JA4) with only
// another SNI is the signature of a middlebox filtering on SNI (DESIGN.md reset_mid_handshake).
//
// One history is shared by every connection of a proxy (all its worker threads) or a replay:
// it is bounded (least recently used servers are forgotten first) and guarded by a mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::trace {

// The parts of a ClientHello that tell two hellos apart, as the record shows them.
struct HelloShape {
  Timestamp at{};  // when the ClientHello was sent
  std::optional<std::string> server_name;
  std::string ja4;    // FoxIO JA4: the SNI's presence is in it, the name is not
  std::string ja4_r;  // the raw form: cipher and extension lists in clear
  std::uint32_t hello_bytes = 0;
  std::uint32_t hello_records = 0;
  std::uint32_t hello_reads = 0;
  std::uint64_t conn = 0;
};

// The shape of the record's ClientHello (empty ja4 when the record has none).
HelloShape hello_shape(const HandshakeRecord& record);

class HelloHistory {
 public:
  static constexpr std::size_t kDefaultDestinations = 4096;
  explicit HelloHistory(std::size_t max_destinations = kDefaultDestinations);
  HelloHistory(const HelloHistory&) = delete;
  HelloHistory& operator=(const HelloHistory&) = delete;

  // A handshake to `destination` ended ok with this hello: it replaces what was kept.
  void remember_ok(const Endpoint& destination, HelloShape shape);
  // The last ok hello to `destination`, if one is remembered.
  std::optional<HelloShape> last_ok(const Endpoint& destination) const;
  std::size_t size() const;

 private:
  using Entry = std::pair<std::string, HelloShape>;
  std::size_t max_destinations_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace tlsglass::trace
