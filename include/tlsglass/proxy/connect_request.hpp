// The HTTP CONNECT request head a client sends before its tunnel (RFC 9110 §9.3.6), read
// incrementally with llhttp, and the answers the proxy gives to it.
//
// The head may arrive in pieces, and the client may send its first tunnel bytes (the
// ClientHello) right behind the head in the same read: those bytes belong to the tunnel and
// must be relayed, so the reader says where the head ended.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tlsglass/proxy/proxy.hpp"
#include "tlsglass/tls/byte_reader.hpp"

namespace tlsglass::proxy {

// The answers this proxy gives to a request head (RFC 9110 §15).
enum class Answer : std::uint16_t {
  established = 200,
  bad_request = 400,
  forbidden = 403,
  method_not_allowed = 405,
  request_timeout = 408,
  bad_gateway = 502,
  gateway_timeout = 504,
};

// The bytes of an answer: the status line, and for errors a text/plain body with `reason`
// and "Connection: close". 200 has no body (RFC 9110 §9.3.6: a 2xx answer to CONNECT starts
// the tunnel right after the head).
std::string answer_bytes(Answer answer, std::string_view reason = {});

struct ConnectHead {
  enum class State : std::uint8_t {
    need_more,  // the head is not complete yet
    complete,   // a CONNECT to `target`; the tunnel starts at `tunnel_offset` of the last chunk
    refused,    // answer `answer` with `reason` and close
  };
  State state = State::need_more;
  HostPort target;
  std::size_t tunnel_offset = 0;
  Answer answer = Answer::bad_request;
  std::string reason;
};

class ConnectRequestReader {
 public:
  // `max_head`: bytes accepted before the head must be complete (then 400).
  explicit ConnectRequestReader(std::size_t max_head);
  ~ConnectRequestReader();
  ConnectRequestReader(const ConnectRequestReader&) = delete;
  ConnectRequestReader& operator=(const ConnectRequestReader&) = delete;

  // Feeds the next bytes the client sent. Once the result is complete or refused, the reader
  // is done: feed nothing more.
  ConnectHead feed(tls::Bytes chunk);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsglass::proxy
