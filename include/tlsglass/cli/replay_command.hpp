// `tlsglass replay FILE|DIR... [--log FILE|-] [--json] [--ladder] [--handshake-timeout S]
// [--to HOST:PORT [--sni NAME] [--split single|records:N|segments:N]]`: every TCP connection of
// saved captures through the same trace::Session as the live proxy (DESIGN.md "Captures"), the
// records as JSON lines - or, on a terminal, a line per handshake, the ladder of each failure
// and a table of causes.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tlsglass::cli {

struct ReplayOptions {
  std::vector<std::string> paths;   // files, or directories searched for *.pcap, *.pcapng, *.cap
  std::optional<std::string> log;   // JSON records to FILE ("-": stdout)
  bool json = false;                // JSON on stdout even on a terminal
  bool ladder = false;              // a ladder under every record, not only failures
  double handshake_timeout = 10;    // as the proxy's --handshake-timeout
  // Re-sending each captured ClientHello to a live server.
  std::optional<std::string> to;    // HOST:PORT
  std::optional<std::string> sni;   // replace (or, with "", remove) the hello's server_name
  std::optional<std::string> split; // single | records:N | segments:N
  double answer_timeout = 5;        // how long a re-sent hello waits for the server
};

CLI::App* add_replay_command(CLI::App& app, ReplayOptions& options);

// Exit code: 0 every file read, 1 a file could not be read (or a re-send found no server), 2
// usage error. One line on stderr per file that failed; the other files are still replayed.
int run_replay_command(const ReplayOptions& options);

}  // namespace tlsglass::cli
