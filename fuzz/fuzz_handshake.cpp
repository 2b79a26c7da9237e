// libFuzzer target: the record layer, every handshake parser, the fingerprints and the whole
// trace::Session, on hostile bytes. Input layout (so seeds can be real streams):
//   byte 0 = 0: the rest is a client stream, 1: a server stream, 2: a connection: bytes 1-2 are
//   a big-endian split point, before it the client's bytes, after it the server's.
#include <cstddef>
#include <cstdint>

#include "tlsglass/tls/certificate.hpp"
#include "tlsglass/tls/fingerprint.hpp"
#include "tlsglass/tls/handshake_messages.hpp"
#include "tlsglass/tls/hello.hpp"
#include "tlsglass/tls/record_reader.hpp"
#include "tlsglass/trace/session.hpp"

namespace {

using namespace tlsglass;

class ParseEverything : public tls::RecordObserver {
 public:
  void on_handshake(const tls::HandshakeMessage& message) override {
    if (message.sslv2) {
      if (message.type == 1) (void)tls::ja3(tls::parse_sslv2_client_hello(message.body));
      if (message.type == 4) (void)tls::ja3s(tls::parse_sslv2_server_hello(message.body));
      return;
    }
    switch (message.type) {
      case 1: {
        const tls::ClientHello hello = tls::parse_client_hello(message.body);
        (void)tls::ja3(hello);
        (void)tls::ja4(hello);
        break;
      }
      case 2: (void)tls::ja3s(tls::parse_server_hello(message.body)); break;
      case 4: (void)tls::parse_new_session_ticket(message.body); break;
      case 11: (void)tls::parse_certificate_message(message.body, message.body.size() % 2, 4); break;
      case 12: (void)tls::parse_server_key_exchange(message.body, message.body.size() % 2); break;
      case 13: (void)tls::parse_certificate_request(message.body, message.body.size() % 2); break;
      default: break;
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const tls::Bytes input(data + 1, size - 1);
  const std::uint8_t mode = data[0] % 3;
  if (mode < 2) {
    // Whole, then in small pieces: the reader must not care how bytes arrive.
    ParseEverything observer;
    tls::RecordReader whole;
    whole.feed(input, observer);
    tls::RecordReader pieces;
    for (std::size_t pos = 0; pos < input.size(); pos += 7)
      pieces.feed(input.subspan(pos, std::min<std::size_t>(7, input.size() - pos)), observer);
    return 0;
  }
  if (input.size() < 2) return 0;
  const std::size_t split = std::min<std::size_t>(input[0] << 8 | input[1], input.size() - 2);
  const tls::Bytes streams = input.subspan(2);
  trace::Session session({});
  session.on_bytes(trace::Side::client, streams.subspan(0, split), trace::Timestamp{});
  session.on_bytes(trace::Side::server, streams.subspan(split), trace::Timestamp{});
  session.on_close(trace::Side::server, trace::CloseKind::rst, trace::Timestamp{});
  (void)session.record();
  return 0;
}
