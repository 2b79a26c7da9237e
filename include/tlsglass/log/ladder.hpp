// `tlsglass.timeline` drawn as a ladder diagram: the client's column on the left, the server's on
// the right, one arrow per entry (-> client-sent, <- server-sent) with what was sent and when,
// and, for a failed handshake, the step it failed at marked with the cause:
//
//                 client                              server
//         0.0 ms  │─ ClientHello ─────────────────────────→│
//        11.8 ms  │←─ ServerHello,Certificate,ServerKeyE… ─│
//        12.9 ms  │─ Alert(fatal,certificate_expired) ────→│ ✗ cert_expired
//        13.0 ms  │─ FIN ─────────────────────────────────→│
//        13.1 ms  │←───────────────────────────────── RST ─│
//
// Pure: text in, lines out. Every `what` is made terminal-safe before it is measured, and cut
// with an ellipsis so that no row is wider than the style's width allows (counting a code point
// as one column: a wide CJK character in a hand-made log may overflow by its extra column).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tlsglass/log/console_line.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::log {

// Rows drawn at most; a longer timeline (only a hand-made log has one) is elided in the middle,
// keeping the failing step.
inline constexpr std::size_t kMaxLadderRows = 96;

// Columns the arrows' span between the two rails gets, whatever the width asks for.
inline constexpr std::size_t kMinLadderSpan = 24;
inline constexpr std::size_t kMaxLadderSpan = 72;

// The entry a failed handshake failed at: the first fatal or encrypted alert, RST, timeout or
// unreachable; else the last entry. nullopt for "ok" or an empty timeline.
std::optional<std::size_t> failing_step(std::span<const trace::TimelineEntry> timeline,
                                        std::string_view cause);

// The diagram, one string per row without newline: a header row naming the columns, then the
// entries. Nothing for an empty timeline. ASCII only unless style.utf8.
std::vector<std::string> ladder(std::span<const trace::TimelineEntry> timeline,
                                std::string_view cause, ConsoleStyle style);

}  // namespace tlsglass::log
