// Feeding a Session from two byte streams that carry no timing (raw files, a customer's
// ClientHello dump): the streams are cut into TLS records (and plaintext runs) and handed
// over in the order the protocol dictates - the client's flight, then the server's, and so on.
#pragma once

#include "tlsglass/tls/byte_reader.hpp"
#include "tlsglass/trace/session.hpp"

namespace tlsglass::trace {

// Feeds both streams completely, then reports the end of the data. `at` stamps every event.
void feed_unsynchronised(Session& session, tls::Bytes client, tls::Bytes server, Timestamp at);

}  // namespace tlsglass::trace
