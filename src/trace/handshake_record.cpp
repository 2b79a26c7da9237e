#include "tlsglass/trace/handshake_record.hpp"

#include <array>
#include <utility>

namespace tlsglass::trace {

namespace {

constexpr std::array<std::pair<Cause, std::string_view>, 14> kCauseNames{{
    {Cause::ok, "ok"},
    {Cause::no_sni, "no_sni"},
    {Cause::cert_expired, "cert_expired"},
    {Cause::cert_not_yet_valid, "cert_not_yet_valid"},
    {Cause::hostname_mismatch, "hostname_mismatch"},
    {Cause::untrusted_cert, "untrusted_cert"},
    {Cause::cipher_mismatch, "cipher_mismatch"},
    {Cause::version_mismatch, "version_mismatch"},
    {Cause::reset_mid_handshake, "reset_mid_handshake"},
    {Cause::timeout, "timeout"},
    {Cause::not_tls, "not_tls"},
    {Cause::upstream_unreachable, "upstream_unreachable"},
    {Cause::alert_other, "alert_other"},
    {Cause::incomplete, "incomplete"},
}};

constexpr std::array<std::string_view, 9> kStageNames{
    "connect",        "client_hello",    "hello_retry_request",
    "server_hello",   "server_certificate", "client_finished",
    "server_finished", "established",    "application_data",
};

}  // namespace

std::string_view side_name(Side side) { return side == Side::client ? "client" : "server"; }

std::string_view cause_name(Cause cause) {
  for (const auto& [value, name] : kCauseNames) {
    if (value == cause) return name;
  }
  return "incomplete";
}

std::optional<Cause> cause_from_name(std::string_view name) {
  for (const auto& [value, text] : kCauseNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

std::string_view stage_name(Stage stage) { return kStageNames[static_cast<std::size_t>(stage)]; }

}  // namespace tlsglass::trace
