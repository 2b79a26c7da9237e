#include "stream_reassembly.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

namespace tlsglass::capture {

namespace {

// RFC 7323 §2.3: a window is at most 2^30 bytes, so no segment of this stream can start
// further ahead of the next byte expected; one that does belongs to something else.
constexpr std::int64_t kMaxAhead = std::int64_t{1} << 30;

}  // namespace

// Where `kept` and `arrived` differ over `n` bytes that start at stream offset `at`.
void StreamReassembly::compare(const std::uint8_t* kept, const std::uint8_t* arrived,
                               std::uint64_t n, std::uint64_t at, Conflict& conflict) {
  std::uint64_t first = n, last = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (kept[i] == arrived[i]) continue;
    if (first == n) first = i;
    last = i;
  }
  if (first == n) return;
  const std::uint64_t lo = at + first, hi = at + last + 1;
  conflict.lo = conflict.found() ? std::min(conflict.lo, lo) : lo;
  conflict.hi = std::max(conflict.hi, hi);
}

void StreamReassembly::anchor(std::uint32_t first_seq) {
  if (started() || fin_reported_) return;
  anchored_ = true;
  next_seq_ = first_seq;
  held_.clear();
  held_bytes_ = 0;
  fin_offset_.reset();
  acknowledged_end_ = 0;
}

bool StreamReassembly::over_limit() const {
  return held_bytes_ > limits_.max_held_bytes || held_.size() > limits_.max_held_segments;
}

std::vector<std::uint8_t> StreamReassembly::opening(std::size_t want) const {
  std::vector<std::uint8_t> out;
  std::uint64_t at = next_offset_;
  for (auto it = held_.find(at); it != held_.end() && it->first == at && out.size() < want; ++it) {
    if (it->second.kind == Kind::missing) break;
    const std::size_t n = std::min(want - out.size(), it->second.bytes.size());
    out.insert(out.end(), it->second.bytes.begin(), it->second.bytes.begin() + n);
    at += it->second.length;
  }
  return out;
}

std::optional<std::int64_t> StreamReassembly::offset_of(std::uint32_t seq) const {
  const auto relative = static_cast<std::int64_t>(static_cast<std::int32_t>(seq - next_seq_));
  if (relative > kMaxAhead) return std::nullopt;
  return static_cast<std::int64_t>(next_offset_) + relative;
}

void StreamReassembly::add(std::uint32_t seq, tls::Bytes captured, std::uint32_t length,
                           bool tentative, Sink& sink) {
  if (!wanted_ || length == 0) return;
  if (!anchored_) anchor(seq);
  const auto start = offset_of(seq);
  if (!start) return;
  if (captured.size() > length) captured = captured.first(length);
  Conflict conflict;
  const std::uint64_t cut = length - captured.size();
  insert_range(*start, captured, captured.size(), tentative ? Kind::tentative : Kind::data,
               conflict, sink);
  if (cut > 0) {
    insert_range(*start + static_cast<std::int64_t>(captured.size()), {}, cut, Kind::missing,
                 conflict, sink);
  }
  if (conflict.found()) sink.conflict(conflict.lo, conflict.hi - conflict.lo);
}

void StreamReassembly::insert_range(std::int64_t start, tls::Bytes bytes, std::uint64_t length,
                                    Kind kind, Conflict& conflict, Sink& sink) {
  if (length == 0 || !wanted_) return;
  std::int64_t end = start + static_cast<std::int64_t>(length);
  if (fin_offset_) end = std::min(end, static_cast<std::int64_t>(*fin_offset_));
  const auto next = static_cast<std::int64_t>(next_offset_);
  // RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6: a keep-alive repeats the last byte sent (often as a
  // garbage octet) to draw an ACK. It carries nothing, so it is no conflict either.
  if (kind == Kind::data && length == 1 && start + 1 == next) return;
  if (start < next) {
    // Already delivered: first copy wins; compare what we still remember of it.
    const std::int64_t old_end = std::min(end, next);
    if (kind != Kind::missing && old_end > start) {
      check_delivered(start, bytes.first(static_cast<std::size_t>(old_end - start)), conflict);
    }
    if (end <= next) return;
    if (kind != Kind::missing) bytes = bytes.subspan(static_cast<std::size_t>(next - start));
    start = next;
  }
  if (end <= start) return;
  const auto s = static_cast<std::uint64_t>(start), e = static_cast<std::uint64_t>(end);
  if (kind != Kind::missing) bytes = bytes.first(e - s);

  // In order, nothing held in the way: straight out of the caller's buffer.
  if (kind == Kind::data && !holding_ && s == next_offset_ &&
      (held_.empty() || held_.begin()->first >= e)) {
    if (!emit(bytes, sink)) stop_payload();
    return;
  }

  auto it = held_.lower_bound(s);
  if (it != held_.begin()) {
    auto before = std::prev(it);
    if (before->first + before->second.length > s) it = before;
  }
  std::vector<std::pair<std::uint64_t, Chunk>> pieces;  // placed after the walk
  const auto piece_of_new = [&](std::uint64_t from, std::uint64_t to) {
    Chunk chunk{kind, to - from, {}};
    if (kind != Kind::missing)
      chunk.bytes.assign(bytes.begin() + (from - s), bytes.begin() + (to - s));
    pieces.emplace_back(from, std::move(chunk));
  };
  const auto piece_of_old = [&](const Chunk& old, std::uint64_t old_start, std::uint64_t from,
                                std::uint64_t to) {
    Chunk chunk{old.kind, to - from, {}};
    if (!old.bytes.empty()) {
      chunk.bytes.assign(old.bytes.begin() + (from - old_start),
                         old.bytes.begin() + (to - old_start));
    }
    pieces.emplace_back(from, std::move(chunk));
  };

  std::uint64_t cursor = s;
  while (cursor < e && it != held_.end() && it->first < e) {
    const std::uint64_t held_start = it->first, held_end = held_start + it->second.length;
    if (cursor < held_start) {
      piece_of_new(cursor, held_start);
      cursor = held_start;
    }
    const std::uint64_t overlap_end = std::min(e, held_end);
    if (kind == Kind::data && it->second.kind != Kind::data) {
      // Real bytes replace a placeholder: a snaplen cut, or SYN data not yet confirmed.
      Chunk old = std::move(held_.extract(it++).mapped());
      held_bytes_ -= old.bytes.size();
      if (held_start < cursor) piece_of_old(old, held_start, held_start, cursor);
      piece_of_new(cursor, overlap_end);
      if (overlap_end < held_end) piece_of_old(old, held_start, overlap_end, held_end);
    } else {
      if (kind == Kind::data) {
        compare(it->second.bytes.data() + (cursor - held_start), bytes.data() + (cursor - s),
                overlap_end - cursor, cursor, conflict);
      }
      ++it;
    }
    cursor = overlap_end;
  }
  if (cursor < e) piece_of_new(cursor, e);
  for (auto& [at, chunk] : pieces) {
    held_bytes_ += chunk.bytes.size();
    held_.emplace(at, std::move(chunk));
  }
}

void StreamReassembly::check_delivered(std::int64_t start, tls::Bytes bytes,
                                       Conflict& conflict) const {
  if (!recent_) return;
  const std::size_t ring = limits_.overlap_check_bytes;
  const auto begin = std::max(start, static_cast<std::int64_t>(recent_begin_));
  const auto end = std::min(start + static_cast<std::int64_t>(bytes.size()),
                            static_cast<std::int64_t>(next_offset_));
  for (std::int64_t at = begin; at < end;) {
    // Contiguous runs of the ring: up to its wrap point.
    const auto ring_at = static_cast<std::size_t>(static_cast<std::uint64_t>(at) % ring);
    const auto n = std::min<std::int64_t>(end - at, static_cast<std::int64_t>(ring - ring_at));
    compare(recent_.get() + ring_at, bytes.data() + (at - start), static_cast<std::uint64_t>(n),
            static_cast<std::uint64_t>(at), conflict);
    at += n;
  }
}

bool StreamReassembly::emit(tls::Bytes bytes, Sink& sink) {
  report_gap(sink);
  const std::size_t window = limits_.overlap_check_bytes;
  if (window > 0) {
    const tls::Bytes kept = bytes.size() > window ? bytes.last(window) : bytes;
    const std::uint64_t kept_at = next_offset_ + (bytes.size() - kept.size());
    // The ring's two pieces, copied whole (a per-byte modulo was a replay's hottest loop).
    const std::size_t at = static_cast<std::size_t>(kept_at % window);
    const std::size_t first = std::min(kept.size(), window - at);
    grow_recent(first < kept.size() ? window : at + first);
    std::memcpy(recent_.get() + at, kept.data(), first);
    if (first < kept.size()) std::memcpy(recent_.get(), kept.data() + first, kept.size() - first);
    const std::uint64_t end = next_offset_ + bytes.size();
    recent_begin_ = std::max(recent_begin_, end > window ? end - window : 0);
  }
  next_offset_ += bytes.size();
  next_seq_ += static_cast<std::uint32_t>(bytes.size());
  return sink.bytes(bytes);
}

// The ring is as long as its bytes reach, up to the window: most streams hand over a few
// hundred bytes before the consumer stops them, and a ring of the whole window for each was a
// large allocation per connection and side. Positions stay offset % window, so the bytes it
// has keep their places when it grows.
void StreamReassembly::grow_recent(std::size_t reach) {
  if (reach <= recent_size_) return;
  constexpr std::size_t kSmallest = 512;
  const std::size_t size = std::min(limits_.overlap_check_bytes,
                                    std::bit_ceil(std::max({reach, 2 * recent_size_, kSmallest})));
  auto grown = std::make_unique_for_overwrite<std::uint8_t[]>(size);
  if (recent_size_ > 0) std::memcpy(grown.get(), recent_.get(), recent_size_);
  recent_ = std::move(grown);
  recent_size_ = size;
}

void StreamReassembly::skip(std::uint64_t missing) {
  pending_gap_ += missing;
  next_offset_ += missing;
  next_seq_ += static_cast<std::uint32_t>(missing);
  recent_begin_ = next_offset_;  // what was remembered no longer ends where the stream is
}

void StreamReassembly::report_gap(Sink& sink) {
  if (pending_gap_ == 0) return;
  const std::uint64_t missing = std::exchange(pending_gap_, 0);
  sink.gap(missing);
}

void StreamReassembly::drain(Sink& sink) {
  while (wanted_ && !held_.empty() && held_.begin()->first == next_offset_) {
    if (held_.begin()->second.kind == Kind::tentative) return;  // waits for the SYN-ACK
    Chunk chunk = std::move(held_.extract(held_.begin()).mapped());
    held_bytes_ -= chunk.bytes.size();
    if (chunk.kind == Kind::missing) {
      skip(chunk.length);
    } else if (!emit(chunk.bytes, sink)) {
      stop_payload();
      return;
    }
  }
}

void StreamReassembly::skip_first_hole() {
  if (held_.empty()) return;
  auto first = held_.begin();
  if (first->first > next_offset_) {
    skip(first->first - next_offset_);
  } else if (first->second.kind == Kind::tentative) {
    first->second.kind = Kind::data;  // no answer to the SYN came in time: take it as sent
  }
}

void StreamReassembly::deliver(Sink& sink) {
  if (holding_) return;
  if (wanted_) {
    drain(sink);
    while (wanted_ && over_limit()) {
      skip_first_hole();
      drain(sink);
    }
    if (wanted_) report_gap(sink);
  }
  if (fin_offset_ && (!wanted_ || next_offset_ >= *fin_offset_)) report_fin(sink);
}

void StreamReassembly::flush(Sink& sink) {
  holding_ = false;
  if (wanted_) {
    drain(sink);
    while (wanted_ && !held_.empty()) {
      skip_first_hole();
      drain(sink);
    }
    // The stream ends at the FIN (an ACK beyond it acknowledges the FIN itself), else at
    // what the peer acknowledged.
    const std::uint64_t end = fin_offset_ ? *fin_offset_ : acknowledged_end_;
    if (wanted_ && end > next_offset_) skip(end - next_offset_);
    if (wanted_) report_gap(sink);
  }
  if (fin_offset_) report_fin(sink);
}

void StreamReassembly::report_fin(Sink& sink) {
  if (fin_reported_) return;
  fin_reported_ = true;
  sink.fin();
}

void StreamReassembly::confirm_tentative() {
  for (auto& [at, chunk] : held_) {
    if (chunk.kind == Kind::tentative) chunk.kind = Kind::data;
  }
}

void StreamReassembly::drop_tentative() {
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.kind != Kind::tentative) {
      ++it;
      continue;
    }
    held_bytes_ -= it->second.bytes.size();
    it = held_.erase(it);
  }
}

void StreamReassembly::add_fin(std::uint32_t seq) {
  if (fin_offset_) return;  // a retransmitted FIN
  if (!anchored_) anchor(seq);
  const auto offset = offset_of(seq);
  if (!offset) return;
  // A FIN before bytes already delivered cannot move them back: it closes where we are.
  fin_offset_ = *offset < static_cast<std::int64_t>(next_offset_)
                    ? next_offset_
                    : static_cast<std::uint64_t>(*offset);
  trim_at(*fin_offset_);
}

// Nothing follows a FIN in its direction: drop what was held beyond it.
void StreamReassembly::trim_at(std::uint64_t at) {
  auto it = held_.lower_bound(at);
  if (it != held_.begin()) {
    Chunk& before = std::prev(it)->second;
    const std::uint64_t before_start = std::prev(it)->first;
    if (before_start + before.length > at) {
      const std::uint64_t keep = at - before_start;
      if (!before.bytes.empty()) {
        held_bytes_ -= before.bytes.size() - keep;
        before.bytes.resize(keep);
      }
      before.length = keep;
    }
  }
  while (it != held_.end()) {
    held_bytes_ -= it->second.bytes.size();
    it = held_.erase(it);
  }
}

void StreamReassembly::acknowledged(std::uint32_t ack) {
  if (!anchored_) return;
  const auto offset = offset_of(ack);
  if (offset && *offset > static_cast<std::int64_t>(acknowledged_end_)) {
    acknowledged_end_ = static_cast<std::uint64_t>(*offset);
  }
}

void StreamReassembly::stop_payload() {
  wanted_ = false;
  held_.clear();
  held_bytes_ = 0;
  pending_gap_ = 0;
  recent_.reset();
  recent_size_ = 0;
}

}  // namespace tlsglass::capture
