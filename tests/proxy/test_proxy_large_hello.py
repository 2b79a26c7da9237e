#!/usr/bin/env python3
"""Large-hello intolerance, live: a ClientHello that reaches the proxy in several TCP segments
and is answered with a reset gets a record that says so and points at `replay --split single`;
the same hello in one segment, reset the same way, does not.

The ClientHello is a real one, made by Python's ssl module (OpenSSL) on memory BIOs with a
padded SNI so that it is large; the test sends it in two segments 100 ms apart (TCP_NODELAY), as
a path with a small MSS would deliver it. The server is the tests' own: it reads one whole TLS
record and resets (SO_LINGER 0), like the servers and middleboxes that break on big hellos.
"""
import os
import socket
import ssl
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import support  # noqa: E402
from support import LOOPBACK, field  # noqa: E402

LONG_NAME = ("a" * 60 + ".") * 3 + "tlsglass.test"  # a legal DNS name of 196 bytes


def client_hello(server_name):
    """The first flight of a real OpenSSL client for `server_name`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class ResettingServer:
    """Reads one whole TLS record (the ClientHello), then resets the connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.segments = []  # per connection: how many recv() calls the hello took
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            data, reads = b"", 0
            while len(data) < 5 or len(data) < 5 + struct.unpack("!H", data[3:5])[0]:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                reads += 1
            self.segments.append(reads)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self):
        self.sock.close()


class LargeHello(unittest.TestCase):
    def setUp(self):
        support.need_tlsglass()
        self.tmp = support.make_tmp(self)
        self.server = ResettingServer()
        self.addCleanup(self.server.close)
        self.proxy = support.start_proxy(self, self.tmp, "--mode", "forward", "--upstream",
                                         f"{LOOPBACK}:{self.server.port}")

    def send(self, hello, pieces):
        with socket.create_connection((LOOPBACK, self.proxy.port), timeout=20) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            cut = len(hello) // pieces
            for i in range(pieces):
                sock.sendall(hello[i * cut:] if i == pieces - 1 else hello[i * cut:(i + 1) * cut])
                if i < pieces - 1:
                    time.sleep(0.1)  # a separate segment, read separately by the proxy
            sock.settimeout(20)
            try:
                answer = sock.recv(65536)
            except ConnectionResetError:
                return "reset"
            return "eof" if not answer else "data"

    def test_a_split_hello_met_with_a_reset_points_at_the_framing(self):
        hello = client_hello(LONG_NAME)
        self.assertGreater(len(hello), 400)
        self.assertEqual(self.send(hello, 2), "reset")  # the reset reached the client as one
        self.assertEqual(self.send(hello, 1), "reset")
        records = sorted(support.stop_and_read(self, self.proxy), key=lambda r: r["tlsglass"]["conn"])
        self.assertEqual(len(records), 2, records)
        split, whole = records
        for record in records:
            self.assertEqual(field(record, "tlsglass.cause"), "reset_mid_handshake", record)
            self.assertEqual(field(record, "tlsglass.closed_by"), "server")
            self.assertEqual(field(record, "tlsglass.close"), "rst")
            self.assertEqual(field(record, "tls.client.server_name"), LONG_NAME)
            self.assertEqual(field(record, "tls.client.hello_bytes"), len(hello) - 5)
        self.assertEqual(field(split, "tls.client.hello_reads"), 2)
        self.assertIn("spanned 2 TCP reads", field(split, "tlsglass.explanation"))
        self.assertIn("--split single", field(split, "tlsglass.next_step"))
        self.assertNotIn("spanned", field(whole, "tlsglass.explanation"))
        self.assertNotIn("--split", field(whole, "tlsglass.next_step"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
