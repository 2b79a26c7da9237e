#include "tlsglass/log/ladder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tlsglass/log/safe_text.hpp"

namespace tlsglass::log {

namespace {

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kBoldRed = "\x1b[1;31m";
constexpr const char* kDim = "\x1b[2m";

// The characters the diagram is drawn with: box drawing and arrows in a UTF-8 locale, their
// nearest ASCII where the terminal may not show anything else.
struct Glyphs {
  std::string_view rail, line, to_server, to_client, failed, ellipsis, elided;
};
constexpr Glyphs kUtf8{"│", "─", "→", "←", "✗", "…", "⋮"};
constexpr Glyphs kAscii{"|", "-", ">", "<", "X", "...", ":"};

// "    123.4 ms  " in front of each row.
constexpr std::size_t kTimeColumns = 14;
// " ✗ " and the cause after the right rail of the failing row.
constexpr std::size_t kMaxCauseColumns = 21;
constexpr std::size_t kMarkColumns = 3 + kMaxCauseColumns;
// Columns around `what` inside an arrow: "─ " and " " and the head, at least one "─" of shaft.
constexpr std::size_t kArrowFrame = 5;

std::size_t columns(std::string_view text) {
  // One column per code point: count the bytes that do not continue a UTF-8 sequence.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

// `text` cut to at most `limit` columns, ending in the ellipsis when anything was cut. Cuts fall
// between code points, never inside one.
std::string fit(std::string_view text, std::size_t limit, std::string_view ellipsis) {
  if (columns(text) <= limit) return std::string(text);
  const std::size_t keep = limit > columns(ellipsis) ? limit - columns(ellipsis) : 0;
  std::size_t end = 0, kept = 0;
  while (end < text.size()) {
    std::size_t next = end + 1;
    while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xc0) == 0x80) ++next;
    if (kept == keep) break;
    ++kept;
    end = next;
  }
  return std::string(text.substr(0, end)) + std::string(ellipsis);
}

std::string repeat(std::string_view glyph, std::size_t count) {
  std::string out;
  out.reserve(glyph.size() * count);
  for (std::size_t i = 0; i < count; ++i) out += glyph;
  return out;
}

std::string paint(const ConsoleStyle& style, const char* color, std::string_view text) {
  if (!style.color) return std::string(text);
  return fmt::format("{}{}{}", color, text, kReset);
}

std::string time_column(double ms) {
  // A hand-made log can say anything; keep the column its width.
  if (!std::isfinite(ms) || ms >= 1e7 || ms <= -1e6) return fmt::format("{:>9} ms  ", "?");
  return fmt::format("{:>9.1f} ms  ", ms);
}

bool is_fatal_step(std::string_view what) {
  return what.starts_with("Alert(fatal") || what.starts_with("Alert(encrypted") || what == "RST" ||
         what == "timeout" || what == "unreachable";
}

// The timeline rows to draw: all of them, or when there are too many the first ones, an
// elision, and the failing step (or the last entry) so that the end of the story stays in view.
std::vector<std::optional<std::size_t>> rows_to_draw(std::size_t entries,
                                                     std::optional<std::size_t> failing) {
  std::vector<std::optional<std::size_t>> rows;
  if (entries <= kMaxLadderRows) {
    for (std::size_t i = 0; i < entries; ++i) rows.emplace_back(i);
    return rows;
  }
  const std::size_t head = kMaxLadderRows - 2;
  for (std::size_t i = 0; i < head; ++i) rows.emplace_back(i);
  rows.emplace_back(std::nullopt);
  rows.emplace_back(failing && *failing >= head ? *failing : entries - 1);
  return rows;
}

}  // namespace

std::optional<std::size_t> failing_step(std::span<const trace::TimelineEntry> timeline,
                                        std::string_view cause) {
  if (cause == "ok" || timeline.empty()) return std::nullopt;
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    if (is_fatal_step(timeline[i].what)) return i;
  }
  return timeline.size() - 1;
}

std::vector<std::string> ladder(std::span<const trace::TimelineEntry> timeline,
                                std::string_view cause, ConsoleStyle style) {
  std::vector<std::string> out;
  if (timeline.empty()) return out;
  const Glyphs& g = style.utf8 ? kUtf8 : kAscii;
  const std::size_t room = style.width > kTimeColumns + 2 + kMarkColumns
                               ? style.width - kTimeColumns - 2 - kMarkColumns
                               : 0;
  const std::size_t span = std::clamp(room, kMinLadderSpan, kMaxLadderSpan);
  const std::optional<std::size_t> failing = failing_step(timeline, cause);

  // The column names, over the rails.
  out.push_back(std::string(kTimeColumns, ' ') + "client" + std::string(span + 2 - 12, ' ') +
                "server");
  for (const auto& row : rows_to_draw(timeline.size(), failing)) {
    if (!row) {
      const std::size_t elided = timeline.size() - (kMaxLadderRows - 1);  // all but the rows drawn
      const std::string note = fmt::format(" {} {} more ", g.elided, elided);
      out.push_back(std::string(kTimeColumns, ' ') + std::string(g.rail) + note +
                    std::string(span - columns(note), ' ') + std::string(g.rail));
      continue;
    }
    const trace::TimelineEntry& entry = timeline[*row];
    const std::string what = fit(terminal_safe(entry.what), span - kArrowFrame, g.ellipsis);
    const std::string shaft = repeat(g.line, span - kArrowFrame + 1 - columns(what));
    const std::string arrow = entry.from == trace::Side::client
                                  ? fmt::format("{} {} {}{}", g.line, what, shaft, g.to_server)
                                  : fmt::format("{}{} {} {}", g.to_client, shaft, what, g.line);
    const bool failed_here = failing && *failing == *row;
    std::string line = paint(style, kDim, time_column(entry.ms)) + std::string(g.rail);
    line += failed_here ? paint(style, kRed, arrow) : arrow;
    line += g.rail;
    if (failed_here) {
      line += " " + paint(style, kBoldRed,
                          fmt::format("{} {}", g.failed,
                                      fit(terminal_safe(cause), kMaxCauseColumns, g.ellipsis)));
    }
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace tlsglass::log
