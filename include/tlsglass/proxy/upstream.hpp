// Reaching the server: an asynchronous DNS lookup (uv_getaddrinfo, on libuv's thread pool;
// IP literals skip it), then a TCP connect to each address in turn until one answers.
//
// The dialer never blocks and never outlives its owner's interest: cancel() detaches every
// request still in flight, and those clean up after themselves in their own callbacks.
#pragma once

#include <uv.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "tlsglass/proxy/proxy.hpp"
#include "tlsglass/trace/handshake_record.hpp"

namespace tlsglass::proxy {

class Dialer;
class SelfAddresses;

// A connected socket. Whoever receives it in on_dialed() owns it: it sets tcp.data, closes
// tcp exactly once, and deletes the DialedSocket in that close callback.
struct DialedSocket {
  DialedSocket() = default;
  ~DialedSocket();
  DialedSocket(const DialedSocket&) = delete;
  DialedSocket& operator=(const DialedSocket&) = delete;

  uv_tcp_t tcp;
  uv_connect_t connect;
  Dialer* dialer = nullptr;  // null once handed over or abandoned
  std::string own_key;       // its local address, while listed as the proxy's own connection
};

// Whether `peer` (an accepted connection's source) is the local address of a connection the
// proxy itself is making or holds: a redirect rule that also catches the proxy's own
// connections sends them back to it (transparent mode refuses those instead of looping).
bool is_own_connection(const sockaddr_storage& peer);
// The connection from `peer` (one of ours) was refused as a loop where it arrived; the
// Connection that made it asks looped_back() when that refusal's reset reaches it, so that its
// own record says why instead of blaming the server.
void mark_looped_back(const sockaddr_storage& peer);
bool looped_back(const DialedSocket& socket);
// What the record says of such a connection to `target`.
std::string loop_words(const HostPort& target);

struct DialFailure {
  enum class Kind : std::uint8_t {
    dns,      // the name did not resolve (502)
    connect,  // every address refused or failed (502)
    denied,   // every address is outside the --allow-dest CIDR rules (403)
    loop,     // every address is the proxy itself (SelfAddresses): connecting would loop
  };
  Kind kind = Kind::connect;
  std::string reason;  // one line, for the answer body and the record's explanation
  int last_status = 0;  // connect: the libuv error of the last attempt (UV_ECONNREFUSED, ...)
};

class Dialer {
 public:
  class Events {
   public:
    virtual void on_dialed(DialedSocket* socket, const trace::Endpoint& peer) = 0;
    virtual void on_dial_failed(DialFailure failure) = 0;

   protected:
    ~Events() = default;
  };

  Dialer(uv_loop_t* loop, Events& events) : loop_(loop), events_(events) {}
  ~Dialer() { cancel(); }
  Dialer(const Dialer&) = delete;
  Dialer& operator=(const Dialer&) = delete;

  // Starts dialing. `address_rules`: when not null, only addresses these CIDR rules allow are
  // tried (a name that --allow-dest allows only by address). Either event may come before
  // dial() returns (an IP literal whose connect fails at once).
  void dial(const HostPort& target, const std::vector<DestinationRule>* address_rules);
  // Connects to `addresses` in turn: what dial() does once the name is resolved.
  void dial_addresses(const HostPort& target, std::vector<sockaddr_storage> addresses);
  // Addresses in `self` are never dialed (sni and transparent modes: the proxy would connect
  // to itself, again and again). Null: no check.
  void set_loop_guard(const SelfAddresses* self) { self_ = self; }
  // Lists its sockets' local addresses for is_own_connection() (transparent mode).
  void set_track_own(bool track) { track_own_ = track; }
  // SO_MARK for the sockets it makes (0: none), so that a redirect rule can exempt them.
  void set_mark(std::uint32_t mark) { mark_ = mark; }
  // No event after this. Idempotent.
  void cancel();
  bool resolving() const { return lookup_ != nullptr; }

  // "127.0.0.1:1 ECONNREFUSED (connection refused); [::1]:1 ..." - what was tried so far.
  std::string attempts() const { return attempts_; }
  // The address of the last connect attempt, for the record.
  std::optional<trace::Endpoint> last_tried() const { return last_tried_; }
  // Why dialing `target` did not finish within `timeout_s`, in the words of the record's
  // upstream_unreachable reasons: the DNS lookup still running, or the connects tried.
  std::string timeout_reason(const HostPort& target, double timeout_s) const;

 private:
  struct Lookup;
  static void on_resolved(uv_getaddrinfo_t* request, int status, addrinfo* result);
  static void on_connected(uv_connect_t* request, int status);
  void try_next();
  void note_attempt(const sockaddr_storage& address, int status);
  void fail(DialFailure::Kind kind, std::string reason);

  uv_loop_t* loop_;
  Events& events_;
  HostPort target_;
  std::vector<sockaddr_storage> addresses_;
  std::size_t next_ = 0;
  Lookup* lookup_ = nullptr;         // the DNS request in flight
  DialedSocket* attempt_ = nullptr;  // the connect in flight
  std::string attempts_;
  std::optional<trace::Endpoint> last_tried_;
  const std::vector<DestinationRule>* rules_ = nullptr;
  const SelfAddresses* self_ = nullptr;
  std::uint32_t mark_ = 0;
  bool track_own_ = false;
  int last_status_ = 0;
};

// "ECONNREFUSED (connection refused)": libuv's name for an error and its words.
std::string uv_error_words(int status);

}  // namespace tlsglass::proxy
