// A connection's transcript as a pcap file (libpcap's dump API, Ethernet link type) that
// Wireshark's "Follow TCP stream" and its TLS dissector read as a real capture: synthetic but
// consistent Ethernet + IPv4/IPv6 + TCP headers with the real addresses and ports, a 3-way
// handshake, sequence and acknowledgement numbers that add up, correct checksums, one segment
// per read (so a replay sees the reads the proxy saw), and the FIN or RST each side sent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tlsglass/trace/transcript.hpp"

namespace tlsglass::capture {

struct Frame {
  trace::Timestamp at{};
  std::vector<std::uint8_t> bytes;  // from the Ethernet header on
};

// The frames of the whole conversation, in order.
std::vector<Frame> synthesize_frames(const trace::Transcript& transcript);

// Writes the frames to `path` (created, mode 0600; an existing file is an error). False with
// `error` set when it cannot.
bool write_pcap(const trace::Transcript& transcript, const std::string& path, std::string& error);

}  // namespace tlsglass::capture
