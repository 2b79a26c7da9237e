// `tlsglass proxy`: the live proxy (DESIGN.md "Command line"). Each record goes as a JSON line
// to --log (an asynchronous writer: the event loops never wait for the disk) and as a human
// line to stderr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tlsglass::cli {

struct ProxyOptions {
  std::string mode;  // empty: forward with --upstream, else connect
  std::vector<std::string> listen;
  std::string upstream;
  std::string default_upstream;
  std::vector<std::string> resolve;
  std::string socks_auth;
  std::uint32_t upstream_mark = 0;
  std::string log = "handshakes.jsonl";
  unsigned workers = 0;  // 0: one per core
  double connect_timeout = 10;
  double handshake_timeout = 10;
  double idle_timeout = 300;
  std::vector<std::string> allow_dest;
  std::string probe_certs;  // empty: off; "failed" or "all"
  std::string capture_dir;
  std::string capture;  // empty: "failed" with --capture-dir, else "none"
  std::uint64_t capture_max_bytes = 1ull << 30;
};

CLI::App* add_proxy_command(CLI::App& app, ProxyOptions& options);

// Exit code: 0 after a clean stop, 1 runtime failure, 2 usage error (one line on stderr).
int run_proxy_command(const ProxyOptions& options);

}  // namespace tlsglass::cli
