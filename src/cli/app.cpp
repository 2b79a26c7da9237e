#include "tlsglass/cli/app.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "tlsglass/cli/analyze_command.hpp"
#include "tlsglass/cli/proxy_command.hpp"
#include "tlsglass/cli/replay_command.hpp"
#include "tlsglass/cli/tail_command.hpp"

namespace tlsglass::cli {

int run(int argc, char** argv) {
  CLI::App app{"tlsglass - a transparent TLS proxy and handshake tracer: it reads the handshake "
               "as it passes, without terminating TLS, and says why it failed."};
  app.set_version_flag("--version", std::string("tlsglass ") + TLSGLASS_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  AnalyzeOptions analyze;
  CLI::App* analyze_cmd = app.add_subcommand(
      "analyze", "Analyse raw stream bytes (client->server and server->client) and print the "
                 "handshake record");
  analyze_cmd->add_option("--client", analyze.client_file, "Bytes the client sent (binary, or hex with --hex)")
      ->required()
      ->check(CLI::ExistingFile);
  analyze_cmd->add_option("--server", analyze.server_file, "Bytes the server sent")
      ->check(CLI::ExistingFile);
  analyze_cmd->add_flag("--hex", analyze.hex,
                        "Inputs are hex dumps (plain, xxd, hexdump -C, tshark -x, openssl -msg)");
  analyze_cmd->add_flag("--json", analyze.json, "Print JSON even on a terminal");

  ProxyOptions proxy;
  CLI::App* proxy_cmd = add_proxy_command(app, proxy);

  ReplayOptions replay;
  CLI::App* replay_cmd = add_replay_command(app, replay);

  TailOptions tail;
  CLI::App* tail_cmd = add_tail_command(app, tail);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, exit code 2 (DESIGN.md "Command line").
    fmt::print(stderr, "tlsglass: {} (see tlsglass --help)\n", e.what());
    return 2;
  }

  if (analyze_cmd->parsed()) return run_analyze(analyze);
  if (proxy_cmd->parsed()) return run_proxy_command(proxy);
  if (replay_cmd->parsed()) return run_replay_command(replay);
  if (tail_cmd->parsed()) return run_tail_command(tail);
  return 2;
}

}  // namespace tlsglass::cli
