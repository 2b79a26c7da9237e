// One direction of a TCP connection put back in order: segments in by sequence number (in
// any order, repeated, overlapping, cut short by the snaplen), each byte out once, in order,
// with the holes that never fill reported as gaps and the FIN after the last byte before it.
//
// Positions are 64-bit offsets into the direction's stream (0 = its first byte); a sequence
// number is turned into one relative to the next byte expected, with 32-bit wraparound, so a
// stream may run past 4 GiB and its numbers may wrap. Private to capture/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::capture {

class StreamReassembly {
 public:
  struct Limits {
    std::size_t max_held_bytes = 256 * 1024;  // held ahead of a hole
    std::size_t max_held_segments = 4096;
    std::size_t overlap_check_bytes = 4096;  // delivered bytes kept to check retransmissions
  };

  // Where the stream goes, in order.
  class Sink {
   public:
    virtual ~Sink() = default;
    // Contiguous bytes; false: no more payload is wanted (the stream stops keeping any).
    virtual bool bytes(tls::Bytes bytes) = 0;
    virtual void gap(std::uint64_t missing) = 0;
    virtual void fin() = 0;
    // A copy of bytes already held or delivered came with other content (the first copy
    // stays): the differing bytes span [offset, offset + length).
    virtual void conflict(std::uint64_t offset, std::uint64_t length) = 0;
  };

  explicit StreamReassembly(Limits limits) : limits_(limits) {}

  bool anchored() const { return anchored_; }
  // The sequence number of the stream's first byte: ISN + 1 after a SYN, else the first
  // sequence number seen. Again later only while nothing was delivered (a server that
  // answered with a second initial sequence number): what was held is then dropped.
  void anchor(std::uint32_t first_seq);
  bool started() const { return next_offset_ > 0; }
  std::uint32_t next_seq() const { return next_seq_; }

  // While holding (the flow's client is not known yet) nothing is delivered; held bytes
  // still count against the limits.
  void set_holding(bool holding) { holding_ = holding; }
  bool over_limit() const;
  // The first bytes of the stream, while nothing has been delivered: up to `want` bytes
  // contiguous from its start.
  std::vector<std::uint8_t> opening(std::size_t want) const;

  // `captured` bytes at `seq`, out of `length` the segment covers (the rest was cut by the
  // snaplen and will show as a gap). `tentative`: data on a SYN (TCP Fast Open) that the
  // peer may refuse; it waits for confirm_tentative() or drop_tentative().
  void add(std::uint32_t seq, tls::Bytes captured, std::uint32_t length, bool tentative,
           Sink& sink);
  void confirm_tentative();
  void drop_tentative();
  // The FIN's sequence number (after the segment's payload). Bytes past it are ignored.
  void add_fin(std::uint32_t seq);
  // The peer acknowledged everything before `ack`: bytes up to there were sent, whether or
  // not the capture has them (flush() reports the ones it never showed as a gap).
  void acknowledged(std::uint32_t ack);

  // Deliver what is contiguous; past the limits, report the first hole as a gap and go on.
  void deliver(Sink& sink);
  // Nothing more will come (end of the flow, or this side reset): every hole before held
  // bytes, before the FIN or before what the peer acknowledged is reported as a gap, and
  // everything held is delivered.
  void flush(Sink& sink);
  // The consumer wants no more bytes: drop what is held; a FIN is then reported at once.
  void stop_payload();

 private:
  enum class Kind : std::uint8_t { data, missing, tentative };
  struct Chunk {
    Kind kind = Kind::data;
    std::uint64_t length = 0;
    std::vector<std::uint8_t> bytes;  // `length` bytes for data and tentative, none if missing
  };

  // The differing bytes found while adding one segment: [lo, hi) in stream offsets.
  struct Conflict {
    std::uint64_t lo = 0, hi = 0;
    bool found() const { return hi > lo; }
  };
  static void compare(const std::uint8_t* kept, const std::uint8_t* arrived, std::uint64_t n,
                      std::uint64_t at, Conflict& conflict);

  // Signed: a retransmission may start before the stream's first byte.
  std::optional<std::int64_t> offset_of(std::uint32_t seq) const;
  void insert_range(std::int64_t start, tls::Bytes bytes, std::uint64_t length, Kind kind,
                    Conflict& conflict, Sink& sink);
  void check_delivered(std::int64_t start, tls::Bytes bytes, Conflict& conflict) const;
  bool emit(tls::Bytes bytes, Sink& sink);
  void grow_recent(std::size_t reach);
  void skip(std::uint64_t missing);
  void report_gap(Sink& sink);
  void drain(Sink& sink);
  void skip_first_hole();
  void report_fin(Sink& sink);
  void trim_at(std::uint64_t at);

  Limits limits_;
  bool anchored_ = false, holding_ = false, wanted_ = true;
  std::uint32_t next_seq_ = 0;           // sequence number of the next byte to deliver
  std::uint64_t next_offset_ = 0;        // its stream offset
  std::map<std::uint64_t, Chunk> held_;  // by stream offset; never overlapping
  std::size_t held_bytes_ = 0;
  std::optional<std::uint64_t> fin_offset_;
  bool fin_reported_ = false;
  std::uint64_t pending_gap_ = 0;
  std::uint64_t acknowledged_end_ = 0;  // stream offset the peer acknowledged up to  // skipped,
                                        // reported before the next bytes or at the end
  // The last delivered bytes (since the last gap): byte at offset o is recent_[o % window], the
  // window being limits_.overlap_check_bytes; recent_size_ bytes of it are allocated, as far as
  // emit() has written (grow_recent), and not zeroed: only what emit() wrote, from
  // recent_begin_ on, is ever read.
  std::unique_ptr<std::uint8_t[]> recent_;
  std::size_t recent_size_ = 0;
  std::uint64_t recent_begin_ = 0;
};

}  // namespace tlsglass::capture
