#include "tlsglass/trace/hello_history.hpp"

#include <fmt/format.h>

namespace tlsglass::trace {

namespace {

// "10.0.0.1:443", "[2001:db8::1]:443" (looked up twice per connection: no fmt).
std::string key_of(const Endpoint& destination) {
  const bool v6 = destination.ip.find(':') != std::string::npos;
  const fmt::format_int port(destination.port);
  std::string key;
  key.reserve(destination.ip.size() + 8);
  if (v6) key += '[';
  key += destination.ip;
  key += v6 ? "]:" : ":";
  key.append(port.data(), port.size());
  return key;
}

}  // namespace

HelloShape hello_shape(const HandshakeRecord& record) {
  HelloShape shape;
  shape.at = record.timestamp;
  shape.server_name = record.client.server_name;
  shape.ja4 = record.client.ja4;
  shape.ja4_r = record.client.ja4_r;
  shape.hello_bytes = record.client.hello_bytes;
  shape.hello_records = record.client.hello_records;
  shape.hello_reads = record.client.hello_reads;
  shape.conn = record.conn;
  return shape;
}

HelloHistory::HelloHistory(std::size_t max_destinations)
    : max_destinations_(max_destinations ? max_destinations : 1) {}

void HelloHistory::remember_ok(const Endpoint& destination, HelloShape shape) {
  std::string key = key_of(destination);
  const std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->second = std::move(shape);
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  entries_.emplace_front(key, std::move(shape));
  index_.emplace(std::move(key), entries_.begin());
  while (entries_.size() > max_destinations_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

std::optional<HelloShape> HelloHistory::last_ok(const Endpoint& destination) const {
  const std::string key = key_of(destination);
  const std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return it->second->second;
}

std::size_t HelloHistory::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace tlsglass::trace
