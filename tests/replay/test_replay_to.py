#!/usr/bin/env python3
"""`tlsglass replay --to HOST:PORT [--sni NAME] [--split ...]` against live servers on 127.0.0.1.

The captured hellos are the fixtures' real ones (tests/data/fixtures/*/capture.pcap: Chromium's
1984-byte post-quantum ClientHello, curl's 512-byte one). The servers: `openssl s_server`, and
in front of it a test middlebox that resets any connection whose first read does not hold a whole
TLS record - the large-hello intolerance the --split option is there to find. What the server
side really received (reads, their sizes, the SNI) is recorded by the middlebox and parsed with
the tests' own ClientHello parser: the expected values come from there and from the RFCs.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scenarios"))
sys.dont_write_bytecode = True
import scenario_support as ss  # noqa: E402
from scenario_support import LOOPBACK, field, support  # noqa: E402

FIXTURES = os.path.join(os.environ.get("TLSGLASS_TEST_DATA", "tests/data"), "fixtures")
CHROMIUM = os.path.join(FIXTURES, "chromium-tls13", "capture.pcap")
CURL = os.path.join(FIXTURES, "curl-tls13", "capture.pcap")


class WholeRecordOrReset(ss._ThreadServer):
    """Resets a connection whose first read is not a whole TLS record (a middlebox that looks
    at one segment only); otherwise relays it to the real server. Keeps every read's size."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        super().__init__()

    def serve(self, conn, info):
        conn.settimeout(10)
        first = conn.recv(65536)
        info["reads"] = [len(first)]
        info["read"] = first
        whole = len(first) >= 5 and len(first) >= 5 + int.from_bytes(first[3:5], "big")
        if not whole:
            ss.reset(conn)
            return
        upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=10)
        upstream.sendall(first)

        def pump(src, dst, keep):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if keep:
                        info["reads"].append(len(data))
                        info["read"] += data
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        back = threading.Thread(target=pump, args=(upstream, conn, False), daemon=True)
        back.start()
        pump(conn, upstream, True)
        back.join(10)
        upstream.close()
        conn.close()


class ReplayTo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.need_tlsglass()
        support.need("openssl")
        if not os.path.exists(CHROMIUM):
            raise unittest.SkipTest(f"{CHROMIUM} missing")

    def replay(self, pcap, *args):
        r = subprocess.run([support.BIN, "replay", "--json", pcap, *args], capture_output=True,
                           text=True, timeout=120)
        records = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        return r, records

    def start_servers(self):
        tmp = support.make_tmp(self, prefix="tlsglass-replay-to-")
        server = ss.start(self, ss.SServer(tmp, "-tls1_3"))
        box = ss.start(self, WholeRecordOrReset(server.port))
        return server, box

    def test_a_large_hello_in_two_segments_is_reset_and_in_one_accepted(self):
        _, box = self.start_servers()
        # (the captured hello is 1984 bytes: tests/data/fixtures/README.md)
        # One segment: the middlebox lets it through, the real server answers.
        r, (single,) = self.replay(CHROMIUM, "--to", f"{LOOPBACK}:{box.port}", "--split", "single")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(field(single, "tlsglass.mode"), "resend")
        self.assertEqual(field(single, "tlsglass.cause"), "ok", single)
        self.assertEqual(field(single, "tls.version"), "1.3", single)
        self.assertEqual(field(single, "tlsglass.resend.framing"), "single")
        (conn,) = box.wait(1)
        hello = support.parse_client_hello(conn["read"])
        self.assertEqual(conn["reads"][0], 5 + 1984, "the whole 1984-byte hello in the first read")
        self.assertEqual(hello["sni"], field(single, "tls.client.server_name"))
        self.assertEqual(support.ja4(hello), field(single, "tls.client.ja4"))
        # Two segments: the middlebox resets; the record names the framing and the reset.
        r, (split,) = self.replay(CHROMIUM, "--to", f"{LOOPBACK}:{box.port}", "--split", "segments:2")
        self.assertEqual(r.returncode, 0, r.stderr)
        conn = box.wait(2)[1]
        self.assertLess(conn["reads"][0], 5 + 1984, "the middlebox saw part of the hello first")
        self.assertEqual(field(split, "tlsglass.cause"), "reset_mid_handshake", split)
        self.assertEqual(field(split, "tlsglass.closed_by"), "server", split)
        self.assertEqual(field(split, "tlsglass.close"), "rst", split)
        self.assertEqual(field(split, "tlsglass.resend.framing"), "segments:2")
        why = field(split, "tlsglass.explanation")
        # What the middlebox read before it reset is what the client had sent of the hello.
        # (less the 5-byte record header: RFC 8446 §5.1)
        self.assertIn(f"when {conn['reads'][0] - 5} of its 1984 bytes had been sent", why)
        self.assertIn("--split single", field(split, "tlsglass.next_step"))
        print(f"\n  segments:2 -> {field(split, 'tlsglass.explanation')}")

    def test_a_hello_reframed_into_records_is_still_one_hello_to_the_server(self):
        server, _ = self.start_servers()
        tap = support.start_tap(self, server.port)
        r, (rec,) = self.replay(CURL, "--to", f"{LOOPBACK}:{tap.port}", "--split", "records:4")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(field(rec, "tlsglass.cause"), "ok", rec)
        self.assertEqual(field(rec, "tls.client.hello_records"), 4, rec)
        (conn,) = tap.wait(1)
        # RFC 8446 §5.1: four handshake records whose payloads concatenate to the one hello.
        data, offset, payload, records = conn["c2s"], 0, b"", 0
        while offset + 5 <= len(data) and data[offset] == 22 and len(payload) < 4 + 508:
            length = int.from_bytes(data[offset + 3:offset + 5], "big")
            payload += data[offset + 5:offset + 5 + length]
            offset += 5 + length
            records += 1
        self.assertEqual(records, 4)
        self.assertEqual(payload[0], 1, "a ClientHello")
        self.assertEqual(len(payload), 4 + int.from_bytes(payload[1:4], "big"))

    def test_the_sni_is_replaced(self):
        server, _ = self.start_servers()
        tap = support.start_tap(self, server.port)
        r, (rec,) = self.replay(CURL, "--to", f"{LOOPBACK}:{tap.port}", "--sni", "other.tlsglass.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        (conn,) = tap.wait(1)
        self.assertEqual(support.parse_client_hello(conn["c2s"])["sni"], "other.tlsglass.test")
        self.assertEqual(field(rec, "tls.client.server_name"), "other.tlsglass.test")
        self.assertEqual(field(rec, "tlsglass.cause"), "ok", rec)

    def test_a_refused_port_is_upstream_unreachable_and_exit_1(self):
        port = support.free_port()
        r, (rec,) = self.replay(CURL, "--to", f"{LOOPBACK}:{port}")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(field(rec, "tlsglass.cause"), "upstream_unreachable")
        self.assertIn("ECONNREFUSED", field(rec, "tlsglass.explanation"))

    def test_bad_split_values_are_usage_errors(self):
        for bad in ("records:0", "segments:x", "pieces:2", "records:99999"):
            r = subprocess.run([support.BIN, "replay", CURL, "--to", f"{LOOPBACK}:1", "--split", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = subprocess.run([support.BIN, "replay", CURL, "--split", "single"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, "--split needs --to")


if __name__ == "__main__":
    unittest.main(verbosity=2)
