// `tlsglass tail [FILE] [-n N] [--no-follow] [--failed] [--sni GLOB] [--cause NAME] [--json]
// [--ladder]`: the handshake log as it grows (DESIGN.md "Command line"), one human line per
// record - and under a failure on a terminal, or with --ladder, the timeline as a ladder
// diagram. Follows the file like `tail -F`; exit 0 on SIGINT.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace tlsglass::cli {

struct TailOptions {
  std::string file = "handshakes.jsonl";
  std::size_t lines = 10;  // the last N matching records first
  bool no_follow = false;
  bool failed = false;               // only cause != ok
  std::optional<std::string> sni;    // fnmatch glob on tls.client.server_name
  std::optional<std::string> cause;  // a trace::cause_from_name name
  bool json = false;                 // the matching lines as they are in the file
  bool ladder = false;               // a ladder under every record, not only failures on a TTY
};

CLI::App* add_tail_command(CLI::App& app, TailOptions& options);

// Exit code: 0 done (or SIGINT), 1 runtime failure, 2 usage error (one line on stderr).
int run_tail_command(const TailOptions& options);

}  // namespace tlsglass::cli
