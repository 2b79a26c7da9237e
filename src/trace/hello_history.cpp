#include "tlsglass/trace/hello_history.hpp"

#include <fmt/format.h>

namespace tlsglass::trace {

namespace {

std::string key_of(const Endpoint& destination) {
  return destination.ip.find(':') != std::string::npos
             ? fmt::format("[{}]:{}", destination.ip, destination.port)
             : fmt::format("{}:{}", destination.ip, destination.port);
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
