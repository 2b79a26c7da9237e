#include "tlsglass/cli/proxy_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "tlsglass/capture/capture_directory.hpp"
#include "tlsglass/log/async_writer.hpp"
#include "tlsglass/log/console_line.hpp"
#include "tlsglass/log/json_record.hpp"
#include "tlsglass/proxy/host_port.hpp"
#include "tlsglass/proxy/proxy.hpp"

namespace tlsglass::cli {

namespace {

constexpr unsigned kMaxWorkers = 1024;

int usage(const std::string& reason) {
  fmt::print(stderr, "tlsglass: proxy: {} (see tlsglass proxy --help)\n", reason);
  return 2;
}

bool valid_timeout(double seconds) { return std::isfinite(seconds) && seconds > 0; }

}  // namespace

CLI::App* add_proxy_command(CLI::App& app, ProxyOptions& options) {
  CLI::App* command = app.add_subcommand(
      "proxy",
      "Run the live proxy: relay TCP byte for byte and log every TLS handshake that passes "
      "(HTTP CONNECT proxy on 127.0.0.1:8080; with --upstream, a fixed forwarder on "
      "127.0.0.1:8443)");
  command
      ->add_option("--mode", options.mode,
                   "connect: HTTP CONNECT proxy; forward: every client to --upstream; sni: to "
                   "the server the ClientHello names; transparent: to the original destination "
                   "of a connection redirected by iptables/nft (REDIRECT or TPROXY); socks5: "
                   "SOCKS5 proxy (RFC 1928) [default: forward with --upstream, else connect]")
      ->check(CLI::IsMember({"connect", "forward", "sni", "transparent", "socks5"}));
  command
      ->add_option("--listen", options.listen,
                   "ADDR:PORT to listen on, IPv4 or [IPv6]; repeat for several; port 0 picks "
                   "one [default: 127.0.0.1:8080; forward, sni and transparent 127.0.0.1:8443; "
                   "socks5 127.0.0.1:1080]")
      ->type_name("ADDR:PORT");
  command->add_option("--upstream", options.upstream, "HOST:PORT every client is forwarded to")
      ->type_name("HOST:PORT");
  command
      ->add_option("--default-upstream", options.default_upstream,
                   "sni mode: where a ClientHello without SNI goes [default: reset it]")
      ->type_name("HOST:PORT");
  command
      ->add_option("--resolve", options.resolve,
                   "sni mode: send server name HOST to IP (and PORT) instead of asking DNS - "
                   "needed when DNS or /etc/hosts points HOST at the proxy itself (repeat)")
      ->type_name("HOST=IP[:PORT]");
  command
      ->add_option("--socks-auth", options.socks_auth,
                   "socks5 mode: require this username and password (RFC 1929) [default: no "
                   "authentication]")
      ->type_name("USER:PASSWORD");
  command
      ->add_option("--upstream-mark", options.upstream_mark,
                   "Set SO_MARK N on the proxy's connections to servers, so a redirect rule "
                   "can exempt them (iptables -m mark ! --mark N); needs CAP_NET_ADMIN")
      ->type_name("N");
  command->add_option("--log", options.log, "Append JSON records to FILE; - for stdout")
      ->type_name("FILE|-")
      ->capture_default_str();
  command
      ->add_option("--workers", options.workers,
                   fmt::format("Event loops, one thread each [default: one per core, {} here]",
                               std::max(1u, std::thread::hardware_concurrency())))
      ->type_name("N");
  command
      ->add_option("--connect-timeout", options.connect_timeout,
                   "Seconds to resolve and connect to the server (then 504, SOCKS5 X'06', or "
                   "an RST)")
      ->type_name("S")
      ->capture_default_str();
  command
      ->add_option("--handshake-timeout", options.handshake_timeout,
                   "Seconds from the client's connection to a finished TLS handshake (and "
                   "for a CONNECT head) before a `timeout` record; the relay goes on")
      ->type_name("S")
      ->capture_default_str();
  command
      ->add_option("--idle-timeout", options.idle_timeout,
                   "Seconds without a byte either way before both sides are closed")
      ->type_name("S")
      ->capture_default_str();
  command
      ->add_option("--allow-dest", options.allow_dest,
                   "Servers clients may reach (every mode but forward): HOST:PORT, HOST:*, "
                   "*.example.com:443, 10.0.0.0/8:*, [::1]:*, * (repeat; default: any)")
      ->type_name("RULE");
  command
      ->add_option("--probe-certs", options.probe_certs,
                   "When a TLS 1.3 client rejects the server's (encrypted) certificate, open a "
                   "connection of the proxy's own with the same SNI, fetch the chain and check "
                   "dates, names and trust (alone: =failed); =all probes every connection's "
                   "server")
      ->expected(0, 1)
      ->default_str("failed")
      ->type_name("[=all]")
      ->check(CLI::IsMember({"failed", "all"}));
  command
      ->add_option("--capture-dir", options.capture_dir,
                   "Write one pcap per kept connection to DIR (created, mode 0700; files 0600)")
      ->type_name("DIR");
  command
      ->add_option("--capture", options.capture,
                   "Which connections --capture-dir keeps [default: failed with --capture-dir]")
      ->check(CLI::IsMember({"failed", "all", "none"}));
  command
      ->add_option("--capture-max-bytes", options.capture_max_bytes,
                   "Budget for the whole capture directory; once spent, no more captures (each "
                   "connection keeps at most 1 MiB)")
      ->type_name("BYTES")
      ->capture_default_str();
  return command;
}

int run_proxy_command(const ProxyOptions& options) {
  proxy::ProxyConfig config;
  if (options.mode.empty()) {
    config.mode = options.upstream.empty() ? proxy::Mode::connect : proxy::Mode::forward;
  } else {
    for (auto mode : {proxy::Mode::connect, proxy::Mode::forward, proxy::Mode::sni,
                      proxy::Mode::transparent, proxy::Mode::socks5}) {
      if (options.mode == proxy::mode_name(mode)) config.mode = mode;
    }
  }
  const std::string mode_flag = fmt::format("--mode {}", proxy::mode_name(config.mode));
  if (config.mode == proxy::Mode::forward) {
    if (options.upstream.empty()) return usage("--mode forward needs --upstream HOST:PORT");
    config.upstream = proxy::parse_host_port(options.upstream);
    if (!config.upstream)
      return usage(fmt::format("--upstream: expected HOST:PORT, got \"{}\"", options.upstream));
  } else if (!options.upstream.empty()) {
    return usage(fmt::format("--upstream is for --mode forward; in {} the client's {} names "
                             "the server",
                             mode_flag, config.mode == proxy::Mode::sni ? "SNI"
                                        : config.mode == proxy::Mode::transparent
                                            ? "original destination"
                                            : "request"));
  }
  if (!options.default_upstream.empty()) {
    if (config.mode != proxy::Mode::sni)
      return usage("--default-upstream is for --mode sni (where a hello without SNI goes)");
    config.default_upstream = proxy::parse_host_port(options.default_upstream);
    if (!config.default_upstream)
      return usage(fmt::format("--default-upstream: expected HOST:PORT, got \"{}\"",
                               options.default_upstream));
  }
  for (const auto& text : options.resolve) {
    if (config.mode != proxy::Mode::sni)
      return usage("--resolve is for --mode sni (where a server name is looked up)");
    auto entry = proxy::parse_resolve_override(text);
    if (!entry)
      return usage(fmt::format("--resolve: expected HOST=IP or HOST=IP:PORT ([IPv6]:PORT), got "
                               "\"{}\"", text));
    config.resolve.push_back(*entry);
  }
  if (!options.socks_auth.empty()) {
    if (config.mode != proxy::Mode::socks5) return usage("--socks-auth is for --mode socks5");
    const auto colon = options.socks_auth.find(':');
    // RFC 1929 §2: each is 1 to 255 bytes.
    if (colon == std::string::npos || colon == 0 || colon > 255 ||
        colon + 1 >= options.socks_auth.size() || options.socks_auth.size() - colon - 1 > 255)
      return usage("--socks-auth: expected USER:PASSWORD, each 1 to 255 bytes");
    config.socks_credentials = proxy::SocksCredentials{options.socks_auth.substr(0, colon),
                                                       options.socks_auth.substr(colon + 1)};
  }
  config.upstream_mark = options.upstream_mark;
  for (const auto& text : options.listen) {
    auto address = proxy::parse_listen_address(text);
    if (!address)
      return usage(fmt::format("--listen: expected IP:PORT or [IPv6]:PORT, got \"{}\"", text));
    config.listen.push_back(*address);
  }
  for (const auto& text : options.allow_dest) {
    auto rule = proxy::parse_destination_rule(text);
    if (!rule)
      return usage(fmt::format(
          "--allow-dest: expected HOST:PORT, HOST:*, CIDR:PORT or *, got \"{}\"", text));
    config.allow_dest.push_back(*rule);
  }
  if (!config.allow_dest.empty() && config.mode == proxy::Mode::forward)
    return usage("--allow-dest is for the modes where clients choose the server; forward mode "
                 "has one destination");
  for (auto [name, value] : {std::pair{"--connect-timeout", options.connect_timeout},
                             {"--handshake-timeout", options.handshake_timeout},
                             {"--idle-timeout", options.idle_timeout}}) {
    if (!valid_timeout(value))
      return usage(fmt::format("{} must be a positive number of seconds", name));
  }
  if (options.workers > kMaxWorkers)
    return usage(fmt::format("--workers: at most {}", kMaxWorkers));
  config.workers =
      options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  config.connect_timeout_s = options.connect_timeout;
  config.handshake_timeout_s = options.handshake_timeout;
  config.idle_timeout_s = options.idle_timeout;
  if (options.probe_certs == "failed") config.probe_certs = proxy::ProbeCerts::failed;
  if (options.probe_certs == "all") config.probe_certs = proxy::ProbeCerts::all;
  // A probe gets the time a client would: connect plus handshake, bounded.
  config.probe_timeout_s =
      std::min(options.connect_timeout + options.handshake_timeout, config.probe_timeout_s);

  std::string error;
  if (!options.capture.empty() && options.capture != "none" && options.capture_dir.empty())
    return usage("--capture needs --capture-dir DIR");
  std::unique_ptr<capture::CaptureDirectory> captures;
  if (!options.capture_dir.empty()) {
    const auto mode = options.capture == "all"    ? capture::CaptureMode::all
                      : options.capture == "none" ? capture::CaptureMode::none
                                                  : capture::CaptureMode::failed;
    captures = capture::CaptureDirectory::open(options.capture_dir, mode,
                                               options.capture_max_bytes, error);
    if (!captures) {
      fmt::print(stderr, "tlsglass: {}\n", error);
      return 1;
    }
    if (mode != capture::CaptureMode::none) {
      config.capture_decision = [&captures](const trace::HandshakeRecord& record) {
        return captures->reserve(record);
      };
      config.capture_sink = [&captures](trace::Transcript transcript) {
        captures->submit(std::move(transcript));
      };
    }
  }
  auto records = log::AsyncWriter::open(options.log, error);
  if (!records) {
    fmt::print(stderr, "tlsglass: {}\n", error);
    return 1;
  }
  log::AsyncWriter console(STDERR_FILENO, false, "stderr");
  const log::ConsoleStyle style{log::wants_color(STDERR_FILENO)};

  // Called on the worker threads; both writers only queue.
  auto sink = [&](const trace::HandshakeRecord& record) {
    records->write_line(log::to_json_line(record));
    console.write_line(log::console_line(record, style));
  };
  const char* mode = proxy::mode_name(config.mode);
  auto on_listening = [&](const std::vector<proxy::HostPort>& bound) {
    std::string addresses;
    for (const auto& address : bound) {
      if (!addresses.empty()) addresses += ", ";
      addresses += proxy::format_host_port(address);
    }
    // Integration tests wait for exactly this line.
    fmt::print(stderr, "tlsglass: listening on {} ({} mode, {} workers)\n", addresses, mode,
               config.workers);
    std::fflush(stderr);
  };
  const int code = proxy::run_proxy(config, sink, on_listening);
  if (captures) captures->close();  // after the workers: every transcript is queued
  records->close();
  console.close();
  return code;
}

}  // namespace tlsglass::cli
