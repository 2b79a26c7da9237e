// The tracker's flows by key: an open-addressing table of (hash, flow) slots, linear probing,
// at most half full. Every packet looks its flow up; a node-based map cost a cache miss or two
// per packet walking its chains (tens of thousands of flows stay in it until the capture
// ends), where a probe here reads one 16-byte slot and then the flow it wanted anyway.
// Private to capture/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "flow_state.hpp"

namespace tlsglass::capture::tracking {

class FlowTable {
 public:
  FlowTable() : slots_(kMinSlots) {}
  ~FlowTable() { clear(); }
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  std::size_t size() const { return size_; }

  Flow* find(const FlowKey& key) const {
    const std::uint64_t hash = hash_of(key);
    for (std::size_t i = home(hash);; i = next(i)) {
      const Slot& slot = slots_[i];
      if (!slot.flow) return nullptr;
      if (slot.hash == hash && slot.flow->key == key) return slot.flow;
    }
  }

  // `flow`'s key must not be in the table yet.
  Flow& insert(std::unique_ptr<Flow> flow) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    Flow& out = *flow;
    const std::uint64_t hash = hash_of(out.key);
    place(hash, flow.release());
    ++size_;
    return out;
  }

  // Destroys `flow`.
  void erase(Flow& flow) {
    std::size_t i = home(hash_of(flow.key));
    while (slots_[i].flow != &flow) i = next(i);
    delete slots_[i].flow;
    slots_[i] = {};
    --size_;
    // Backward-shift deletion: later slots of the run move up when their home allows, so a
    // probe never stops early at the hole.
    for (std::size_t hole = i, j = next(i); slots_[j].flow; j = next(j)) {
      const std::size_t want = home(slots_[j].hash);
      // j may move to the hole when its home is not in (hole, j], cyclically.
      const bool movable = hole <= j ? (want <= hole || want > j) : (want <= hole && want > j);
      if (!movable) continue;
      slots_[hole] = slots_[j];
      slots_[j] = {};
      hole = j;
    }
  }

  // Calls `visit(Flow&)` for each flow, in no particular order.
  template <typename Visit>
  void for_each(Visit visit) const {
    for (const Slot& slot : slots_) {
      if (slot.flow) visit(*slot.flow);
    }
  }

  void clear() {
    for (Slot& slot : slots_) {
      delete slot.flow;
      slot = {};
    }
    size_ = 0;
  }

 private:
  static constexpr std::size_t kMinSlots = 1024;  // a power of two
  struct Slot {
    std::uint64_t hash = 0;
    Flow* flow = nullptr;  // owned; nullptr: empty
  };

  static std::uint64_t hash_of(const FlowKey& key) {
    return key.low.hash() * 0x9e3779b97f4a7c15ULL ^ key.high.hash();
  }
  std::size_t home(std::uint64_t hash) const {
    // The high bits: the multiplications above leave the low ones poorly mixed.
    return static_cast<std::size_t>(hash >> 32 ^ hash) & (slots_.size() - 1);
  }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }
  void place(std::uint64_t hash, Flow* flow) {
    std::size_t i = home(hash);
    while (slots_[i].flow) i = next(i);
    slots_[i] = {hash, flow};
  }
  void grow() {
    std::vector<Slot> old(2 * slots_.size());
    old.swap(slots_);
    for (const Slot& slot : old) {
      if (slot.flow) place(slot.hash, slot.flow);
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace tlsglass::capture::tracking
