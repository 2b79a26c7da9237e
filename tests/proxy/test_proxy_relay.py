#!/usr/bin/env python3
"""The proxy's relay, against TCP peers of the tests' own (Python sockets on 127.0.0.1):

  - byte-exactness: 16 MiB of random bytes each way (SHA-256 of what was sent == of what
    arrived), with and without a half-close in the middle, in both directions;
  - backpressure: a slow reader on either side while the other pushes 256 MiB; the proxy's RSS
    (/proc/PID/status) is printed while it runs and must stay within 64 MiB of its start;
  - RST passed on as RST (ECONNRESET at the other end) and a FIN as a FIN; the record of a reset
    after the ClientHello says reset_mid_handshake, closed_by server, close rst;
  - CONNECT: the 200 answer (RFC 9110 9.3.6), every host form, a ClientHello pipelined after the
    request head, and every error answer (400, 405, 403 with --allow-dest, 502 refused and DNS
    failure, 504 connect timeout) with an upstream_unreachable record for 502/504;
  - timeouts (handshake: a record, the relay goes on; idle: both sides closed) and SIGTERM with
    connections open (exit, every record flushed).
"""
import contextlib
import errno
import hashlib
import os
import random
import select
import signal
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
from support import HOST, LOOPBACK, field  # noqa: E402

MiB = 1 << 20
HANG = 120  # seconds: hang guard for one transfer


# ------------------------------------------------------------------------------ the peers
class PeerServer:
    """A TCP server on 127.0.0.1 (or ::1) running `handler(conn)` per connection in a thread;
    results() gives the handlers' return values (or raises what they raised)."""

    def __init__(self, handler, host=LOOPBACK, backlog=128):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self._results = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            result = ("ok", self.handler(conn))
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result = ("error", e)
        finally:
            with contextlib.suppress(OSError):
                conn.close()
        with self._cond:
            self._results.append(result)
            self._cond.notify_all()

    def results(self, n=1, timeout=HANG):
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._results) >= n, timeout):
                raise AssertionError(f"server handler(s) did not finish in {timeout} s "
                                     f"({len(self._results)}/{n})")
            out = []
            for kind, value in self._results[:n]:
                if kind == "error":
                    raise value
                out.append(value)
            return out

    def close(self):
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


def start_peer(testcase, handler, **kw):
    server = PeerServer(handler, **kw)
    testcase.addCleanup(server.close)
    return server


def stream(seed, total, chunk=MiB):
    """`total` pseudo-random bytes in chunks, reproducible from `seed`."""
    rng = random.Random(seed)
    left = total
    while left > 0:
        n = min(chunk, left)
        yield rng.randbytes(n)
        left -= n


def send_stream(sock, seed, total):
    h = hashlib.sha256()
    for block in stream(seed, total):
        sock.sendall(block)
        h.update(block)
    return h.hexdigest()


def recv_exact(sock, total, bufsize=256 * 1024):
    """SHA-256 of exactly `total` bytes read from sock; AssertionError on an early EOF."""
    h = hashlib.sha256()
    got = 0
    while got < total:
        data = sock.recv(min(bufsize, total - got))
        if not data:
            raise AssertionError(f"EOF after {got} of {total} bytes")
        h.update(data)
        got += len(data)
    return h.hexdigest()


def recv_to_eof(sock, bufsize=256 * 1024):
    """(bytes read, SHA-256) until EOF."""
    h = hashlib.sha256()
    got = 0
    while True:
        data = sock.recv(bufsize)
        if not data:
            return got, h.hexdigest()
        h.update(data)
        got += len(data)


def expected_sha(seed, total):
    h = hashlib.sha256()
    for block in stream(seed, total):
        h.update(block)
    return h.hexdigest()


def in_thread(fn, *args):
    """Run fn in a thread; the returned callable joins it and gives its result (or raises)."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=HANG):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError(f"{fn.__name__} did not finish in {timeout} s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    return join


def client_hello_bytes(sni=HOST, alpn=("h2", "http/1.1")):
    """A real ClientHello (Python's ssl module, through a MemoryBIO) and the SSLObject that made
    it, so that a handshake can be carried on by hand."""
    ctx = ssl.create_default_context(cafile=str(support.pki().ca))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read(), obj, incoming, outgoing


def read_tls_record(conn, timeout=30):
    """Read until one whole TLS record (header + length) has arrived."""
    conn.settimeout(timeout)
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def reset(sock):
    """Close with RST (SO_LINGER on, zero timeout: RFC 793 abort)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class RssMonitor:
    """Samples a process's VmRSS every 0.2 s in a thread, printing each sample."""

    def __init__(self, pid, label):
        self.pid, self.label = pid, label
        self.start = support.rss_kib(pid)
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        support.log(f"  [{label}] proxy RSS at start: {self.start / 1024:.1f} MiB")
        self._thread.start()

    def _run(self):
        n = 0
        while not self._stop.wait(0.2):
            try:
                rss = support.rss_kib(self.pid)
            except (OSError, AssertionError):
                return
            self.peak = max(self.peak, rss)
            n += 1
            if n % 5 == 0:
                support.log(f"  [{self.label}] proxy RSS {rss / 1024:.1f} MiB "
                            f"(peak {self.peak / 1024:.1f} MiB)")

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        support.log(f"  [{self.label}] proxy RSS peak {self.peak / 1024:.1f} MiB, "
                    f"{(self.peak - self.start) / 1024:.1f} MiB above the start")
        return self.peak - self.start


class RelayTest(unittest.TestCase):
    def setUp(self):
        support.need_tlsglass()
        self.tmp = support.make_tmp(self)

    def forward_proxy(self, port, *extra, **kw):
        return support.start_proxy(self, self.tmp, "--mode", "forward", "--upstream",
                                   f"{LOOPBACK}:{port}", *extra, **kw)

    def connect_proxy(self, *extra, **kw):
        return support.start_proxy(self, self.tmp, "--mode", "connect", *extra, **kw)

    def client(self, proxy, timeout=HANG):
        sock = socket.create_connection((LOOPBACK, proxy.port), timeout=timeout)
        self.addCleanup(sock.close)
        return sock

    def one_record(self, proxy):
        records = support.stop_and_read(self, proxy)
        self.assertEqual(len(records), 1, f"one record per connection: {records}")
        return records[0]


# ---------------------------------------------------------------------------- byte-exactness
class ByteExact(RelayTest):
    SIZE = 16 * MiB

    def test_16_mib_each_way_at_once(self):
        def handler(conn):
            conn.settimeout(HANG)
            sending = in_thread(send_stream, conn, 2, self.SIZE)
            got = recv_exact(conn, self.SIZE)
            sent = sending()
            return got, sent

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port)
        sock = self.client(proxy)
        sending = in_thread(send_stream, sock, 1, self.SIZE)
        client_got = recv_exact(sock, self.SIZE)
        client_sent = sending()
        server_got, server_sent = server.results()[0]
        self.assertEqual(server_got, client_sent, "client -> server bytes")
        self.assertEqual(client_got, server_sent, "server -> client bytes")
        self.assertEqual(client_sent, expected_sha(1, self.SIZE))
        sock.close()
        self.one_record(proxy)

    def test_16_mib_each_way_client_half_closes_in_the_middle(self):
        # The server sends half of its 16 MiB while the client sends; the client then shuts down
        # its write side; the server must see that FIN (EOF after exactly 16 MiB) and still be
        # able to send the other half, which the client must get, then EOF.
        def handler(conn):
            conn.settimeout(HANG)
            blocks = stream(20, self.SIZE)
            h = hashlib.sha256()
            first = [next(blocks) for _ in range(8)]

            def send_first():
                for b in first:
                    conn.sendall(b)

            sending = in_thread(send_first)
            got, digest = recv_to_eof(conn)
            sending()
            for b in first:
                h.update(b)
            for b in blocks:  # after the client's FIN
                conn.sendall(b)
                h.update(b)
            conn.shutdown(socket.SHUT_WR)
            return got, digest, h.hexdigest()

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port)
        sock = self.client(proxy)
        receiving = in_thread(recv_to_eof, sock)
        client_sent = send_stream(sock, 10, self.SIZE)
        sock.shutdown(socket.SHUT_WR)
        client_got, client_digest = receiving()
        server_got, server_digest, server_sent = server.results()[0]
        self.assertEqual((server_got, server_digest), (self.SIZE, client_sent),
                         "the server got all 16 MiB, then EOF (the client's FIN passed on)")
        self.assertEqual((client_got, client_digest), (self.SIZE, server_sent),
                         "the server's 16 MiB, half of it sent after the client's FIN")
        self.one_record(proxy)

    def test_16_mib_each_way_server_half_closes_first(self):
        # The other direction: the server sends its 16 MiB and shuts down its write side; the
        # client sees EOF, then sends its 16 MiB, which the server reads to EOF.
        def handler(conn):
            conn.settimeout(HANG)
            sent = send_stream(conn, 30, self.SIZE)
            conn.shutdown(socket.SHUT_WR)
            got, digest = recv_to_eof(conn)
            return sent, got, digest

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port)
        sock = self.client(proxy)
        got, digest = recv_to_eof(sock)
        client_sent = send_stream(sock, 40, self.SIZE)
        sock.shutdown(socket.SHUT_WR)
        server_sent, server_got, server_digest = server.results()[0]
        self.assertEqual((got, digest), (self.SIZE, server_sent))
        self.assertEqual((server_got, server_digest), (self.SIZE, client_sent))
        # Both sides closed with FIN: the client's socket reads EOF, not a reset.
        sock.settimeout(HANG)
        self.assertEqual(sock.recv(1), b"")
        self.one_record(proxy)

    def test_close_is_a_fin_not_a_reset(self):
        def handler(conn):
            conn.settimeout(HANG)
            data = conn.recv(100)
            conn.sendall(b"bye")
            conn.close()
            return data

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port)
        sock = self.client(proxy)
        sock.sendall(b"hello")
        self.assertEqual(server.results()[0], b"hello")
        self.assertEqual(recv_to_eof(sock)[0], 3)  # "bye", then a clean EOF (no ECONNRESET)
        sock.close()
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.close"), "fin", record)

    def test_two_listen_addresses_ipv4_and_ipv6(self):
        if not support.ipv6_loopback():
            self.skipTest("no IPv6 on lo")

        def handler(conn):
            conn.settimeout(HANG)
            data = conn.recv(100)
            conn.sendall(data.upper())

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port, "--listen", f"{LOOPBACK}:0", "--listen", "[::1]:0")
        hosts = sorted(h for h, _ in proxy.addresses)
        self.assertEqual(hosts, ["127.0.0.1", "::1"], proxy.stderr())
        for host, port in proxy.addresses:
            with socket.create_connection((host, port), timeout=HANG) as s:
                s.sendall(b"via " + host.encode())
                self.assertEqual(s.recv(100), b"VIA " + host.upper().encode())
        server.results(2)
        records = support.stop_and_read(self, proxy)
        self.assertEqual(sorted(field(r, "source.ip") for r in records), ["127.0.0.1", "::1"])


# ----------------------------------------------------------------------------- backpressure
class SlowReader(RelayTest):
    TOTAL = 256 * MiB
    SLOW_SECONDS = 6.0
    BOUND_KIB = 64 * 1024

    def assert_bounded(self, growth):
        if support.sanitized():
            support.log("  sanitizer build: its RSS is not the proxy's own memory; bound not checked")
            return
        self.assertLess(growth, self.BOUND_KIB,
                        f"proxy RSS grew by {growth / 1024:.1f} MiB with a slow reader")

    def slow_read(self, sock, total):
        """Read slowly (16 KiB, then 5 ms pause) for SLOW_SECONDS, then at full speed."""
        h = hashlib.sha256()
        got = 0
        until = time.monotonic() + self.SLOW_SECONDS
        while got < total:
            slow = time.monotonic() < until
            data = sock.recv(16 * 1024 if slow else 1 * MiB)
            if not data:
                raise AssertionError(f"EOF after {got} of {total} bytes")
            h.update(data)
            got += len(data)
            if slow:
                time.sleep(0.005)
        return h.hexdigest()

    def test_slow_client_memory_stays_bounded(self):
        def handler(conn):
            conn.settimeout(HANG)
            return send_stream(conn, 50, self.TOTAL)

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port)
        sock = self.client(proxy)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        monitor = RssMonitor(proxy.pid, "slow client")
        try:
            digest = self.slow_read(sock, self.TOTAL)
        finally:
            growth = monitor.stop()
        self.assertEqual(digest, server.results()[0], "the 256 MiB arrived intact")
        self.assert_bounded(growth)

    def test_slow_server_memory_stays_bounded(self):
        def handler(conn):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            conn.settimeout(HANG)
            return self.slow_read(conn, self.TOTAL)

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port)
        sock = self.client(proxy)
        monitor = RssMonitor(proxy.pid, "slow server")
        try:
            sent = send_stream(sock, 60, self.TOTAL)
            got = server.results()[0]
        finally:
            growth = monitor.stop()
        self.assertEqual(got, sent, "the 256 MiB arrived intact")
        self.assert_bounded(growth)


# ------------------------------------------------------------------------------------ resets
class Resets(RelayTest):
    def reset_after_hello_server(self):
        def handler(conn):
            data = read_tls_record(conn)
            reset(conn)
            return data

        return start_peer(self, handler)

    def test_server_reset_after_client_hello_reaches_the_client_as_a_reset(self):
        hello, *_ = client_hello_bytes()
        # Without the proxy: what a client sees from such a server.
        direct = self.reset_after_hello_server()
        with socket.create_connection((LOOPBACK, direct.port), timeout=HANG) as s:
            s.sendall(hello)
            with self.assertRaises(ConnectionResetError, msg="baseline: no proxy"):
                s.recv(65536)
        # Through the proxy: the same.
        server = self.reset_after_hello_server()
        proxy = self.forward_proxy(server.port)
        sock = self.client(proxy)
        sock.sendall(hello)
        try:
            data = sock.recv(65536)
        except ConnectionResetError as e:
            self.assertEqual(e.errno, errno.ECONNRESET)
        else:
            self.fail(f"the client got {data!r} instead of a reset")
        self.assertEqual(server.results()[0], hello, "the server got the ClientHello as sent")
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.cause"), "reset_mid_handshake", record)
        self.assertEqual(field(record, "tlsglass.closed_by"), "server", record)
        self.assertEqual(field(record, "tlsglass.close"), "rst", record)
        self.assertEqual(field(record, "tlsglass.stage"), "client_hello", record)
        self.assertEqual(field(record, "tls.client.server_name"), HOST, record)
        self.assertIs(field(record, "tls.established"), False, record)

    def test_python_ssl_client_sees_the_reset_as_without_proxy(self):
        def handshake(port):
            ctx = ssl.create_default_context(cafile=str(support.pki().ca))
            try:
                with socket.create_connection((LOOPBACK, port), timeout=HANG) as raw:
                    with ctx.wrap_socket(raw, server_hostname=HOST):
                        return "handshake completed"
            except OSError as e:  # ssl.SSLError is an OSError too
                return f"{type(e).__name__} errno={e.errno}"

        baseline = handshake(self.reset_after_hello_server().port)
        self.assertEqual(baseline, f"ConnectionResetError errno={errno.ECONNRESET}")
        server = self.reset_after_hello_server()
        proxy = self.forward_proxy(server.port)
        self.assertEqual(handshake(proxy.port), baseline)
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.cause"), "reset_mid_handshake", record)

    def test_client_reset_reaches_the_server_as_a_reset(self):
        got_hello = threading.Event()

        def handler(conn):
            data = read_tls_record(conn)
            got_hello.set()
            conn.settimeout(HANG)
            try:
                more = conn.recv(65536)  # blocks until the proxy passes something on
            except ConnectionResetError as e:
                return data, f"reset errno={e.errno}"
            return data, f"no reset: {more!r}"

        hello, *_ = client_hello_bytes()
        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port)
        sock = socket.create_connection((LOOPBACK, proxy.port), timeout=HANG)
        sock.sendall(hello)
        self.assertTrue(got_hello.wait(HANG))
        reset(sock)
        data, outcome = server.results()[0]
        self.assertEqual(data, hello)
        self.assertEqual(outcome, f"reset errno={errno.ECONNRESET}",
                         "the client's RST reaches the server as an RST")
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.cause"), "reset_mid_handshake", record)
        self.assertEqual(field(record, "tlsglass.closed_by"), "client", record)
        self.assertEqual(field(record, "tlsglass.close"), "rst", record)


# ----------------------------------------------------------------------------------- CONNECT
def echo_handler(conn):
    conn.settimeout(HANG)
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class Connect(RelayTest):
    def assert_tunnel_answer(self, status, reason, headers, rest):
        self.assertEqual(status, 200, f"{status} {reason}")
        # RFC 9110 9.3.6: no Content-Length or Transfer-Encoding in a 2xx answer to CONNECT.
        self.assertNotIn("content-length", headers)
        self.assertNotIn("transfer-encoding", headers)
        self.assertEqual(rest, b"", "bytes after the 200 head before the server said anything")

    def test_200_and_relay_for_every_host_form(self):
        server4 = start_peer(self, echo_handler)
        targets = [f"127.0.0.1:{server4.port}",
                   f"localhost:{server4.port}"]  # /etc/hosts: localhost is 127.0.0.1 here
        if support.ipv6_loopback():
            server6 = start_peer(self, echo_handler, host="::1")
            targets.append(f"[::1]:{server6.port}")
        proxy = self.connect_proxy()
        for target in targets:
            with self.subTest(target=target):
                sock, status, reason, headers, rest = support.proxy_connect(proxy.port, target)
                with sock:
                    self.assert_tunnel_answer(status, reason, headers, rest)
                    payload = os.urandom(100_000)
                    sock.sendall(payload)
                    sock.shutdown(socket.SHUT_WR)
                    got = b""
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                    self.assertEqual(got, payload)
        records = support.stop_and_read(self, proxy)
        self.assertEqual(len(records), len(targets), records)
        for r in records:
            self.assertEqual(field(r, "tlsglass.mode"), "connect", r)

    def test_pipelined_client_hello_is_relayed_and_the_handshake_completes(self):
        s_server = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3")
        tap = support.start_tap(self, s_server.port)
        proxy = self.connect_proxy()
        hello, obj, incoming, outgoing = client_hello_bytes(alpn=None)
        # The request head and the ClientHello in one write, as clients that do not wait for
        # the 200 send them.
        sock, status, reason, headers, rest = support.proxy_connect(
            proxy.port, f"127.0.0.1:{tap.port}", pipelined=hello)
        self.addCleanup(sock.close)
        self.assertEqual(status, 200, f"{status} {reason}")
        # Carry on with the handshake by hand: whatever came after the head is the server's.
        incoming.write(rest)
        sock.settimeout(HANG)
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                out = outgoing.read()
                if out:
                    sock.sendall(out)
                data = sock.recv(65536)
                if not data:
                    self.fail("the server closed during the handshake")
                incoming.write(data)
        obj.write(f"GET /hello.txt HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        sock.sendall(outgoing.read())
        answer = b""
        while True:
            try:
                chunk = obj.read(65536)
                if not chunk:
                    break  # close_notify
                answer += chunk
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            data = sock.recv(65536)  # the SSLObject needs more bytes
            if not data:
                break
            incoming.write(data)
        self.assertTrue(answer.endswith(s_server.body), answer[-200:])
        self.assertEqual(obj.version(), "TLSv1.3")
        sock.close()
        conn = tap.wait(1)[0]
        self.assertEqual(bytes(conn["c2s"][:len(hello)]), hello,
                         "the server got the pipelined ClientHello, byte for byte, first")
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tls.client.server_name"), HOST, record)
        self.assertEqual(field(record, "tls.client.ja4"),
                         support.ja4(support.parse_client_hello(hello)), record)
        self.assertIs(field(record, "tls.established"), True, record)
        self.assertEqual(field(record, "tlsglass.cause"), "ok", record)

    def test_pipelined_bytes_reach_the_server_first(self):
        def handler(conn):
            conn.settimeout(HANG)
            got = b""
            while len(got) < 3 + 1000:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += chunk
            return got

        server = start_peer(self, handler)
        proxy = self.connect_proxy()
        early = bytes(range(256)) * 4 + b"end"
        sock, status, *_ = support.proxy_connect(proxy.port, f"127.0.0.1:{server.port}",
                                                 pipelined=early[:1000])
        self.addCleanup(sock.close)
        self.assertEqual(status, 200)
        sock.sendall(early[1000:])
        self.assertEqual(server.results()[0], early)

    def answer(self, proxy_port, request, timeout=HANG, proxy_host=LOOPBACK, sock=None):
        """Send a raw request; (status, reason, headers, body)."""
        sock = sock or socket.create_connection((proxy_host, proxy_port), timeout=timeout)
        with sock:
            sock.sendall(request)
            status, reason, headers, _, rest = support.read_http_head(sock, timeout)
            body = support.read_body(sock, headers, rest, timeout) if status else b""
        return status, reason, headers, body

    def test_400_for_malformed_requests(self):
        proxy = self.connect_proxy()
        for request in (b"CONNECT\r\n\r\n",
                        b"CONNECT app.tlsglass.test HTTP/1.1\r\nHost: x\r\n\r\n",      # no port
                        b"CONNECT 127.0.0.1:99999 HTTP/1.1\r\nHost: x\r\n\r\n",        # bad port
                        b"CONNECT 127.0.0.1:0 HTTP/1.1\r\nHost: x\r\n\r\n",            # port 0
                        b"CONNECT [::1 HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40
                        + b"\r\n\r\n",                                                 # TLS
                        b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost x\r\n\r\n"):          # header
            with self.subTest(request=request[:40]):
                status, reason, headers, body = self.answer(proxy.port, request)
                self.assertEqual(status, 400, f"{status} {reason} {body!r}")
                self.assertTrue(body.strip(), "a 400 says why")

    def test_400_for_an_oversized_request_head(self):
        proxy = self.connect_proxy()
        request = (b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n"
                   + b"X-Filler: " + b"a" * (64 * 1024) + b"\r\n\r\n")
        sock = socket.create_connection((LOOPBACK, proxy.port), timeout=HANG)
        with sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(request)
            status, reason, headers, _, rest = support.read_http_head(sock)
        self.assertIn(status, (400, 431), f"{status} {reason}")
        self.assertTrue(proxy.running())

    def test_405_for_other_methods(self):
        proxy = self.connect_proxy()
        for request in (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                        b"PUT /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
                        b"DELETE /x HTTP/1.0\r\n\r\n"):
            with self.subTest(request=request[:20]):
                status, reason, headers, body = self.answer(proxy.port, request)
                self.assertEqual(status, 405, f"{status} {reason} {body!r}")
                # RFC 9110 15.5.6: a 405 MUST carry Allow with the methods that are supported.
                self.assertIn("CONNECT", headers.get("allow", ""), headers)

    def test_403_when_allow_dest_denies(self):
        # IP literals only: a name target could make the proxy ask the system's resolver (see
        # the namespace test below for names).
        allowed = start_peer(self, echo_handler)
        denied = PeerServer(echo_handler)
        self.addCleanup(denied.close)
        proxy = self.connect_proxy("--allow-dest", f"127.0.0.1:{allowed.port}")
        for target in (f"127.0.0.1:{denied.port}", f"127.0.0.2:{allowed.port}"):
            with self.subTest(target=target):
                status, reason, headers, body = self.answer(
                    proxy.port, support.connect_request(target))
                self.assertEqual(status, 403, f"{status} {reason} {body!r}")
        # Nothing reached the denied server.
        readable, _, _ = select.select([denied.sock], [], [], 0.5)
        self.assertEqual((readable, denied.accepted), ([], 0), "a denied target was connected to")
        # The allowed one works.
        sock, status, reason, headers, rest = support.proxy_connect(
            proxy.port, f"127.0.0.1:{allowed.port}")
        with sock:
            self.assertEqual(status, 200, f"{status} {reason}")
            sock.sendall(b"ping")
            self.assertEqual(sock.recv(10), b"ping")

    def netns_proxy(self, *extra):
        """A CONNECT proxy in a private network namespace of the test's own, and a function
        that opens a client socket to it from inside: name lookups made there cannot leave the
        namespace (the system's resolver is not on loopback)."""
        netns = support.NetNs(self.tmp)
        self.addCleanup(netns.stop)
        proxy = support.start_proxy(self, self.tmp, "--mode", "connect", *extra, netns=netns)

        def client():
            sock = netns.socket()
            sock.settimeout(HANG)
            sock.connect((LOOPBACK, proxy.port))
            return sock

        return proxy, client

    def test_allow_dest_host_glob(self):
        proxy, client = self.netns_proxy("--allow-dest", "*.tlsglass.test:443")
        for target, expected in (("app.tlsglass.test:80", 403), ("other.example:443", 403),
                                 ("tlsglass.test.example:443", 403),
                                 # allowed, then the lookup fails inside the namespace
                                 ("app.tlsglass.test:443", 502)):
            with self.subTest(target=target):
                status, reason, headers, body = self.answer(
                    proxy.port, support.connect_request(target), sock=client())
                self.assertEqual(status, expected, f"{status} {reason} {body!r}")

    def test_allow_dest_cidr_and_any_port(self):
        server = start_peer(self, echo_handler)
        proxy = self.connect_proxy("--allow-dest", "127.0.0.0/8:*")
        sock, status, *_ = support.proxy_connect(proxy.port, f"127.0.0.1:{server.port}")
        sock.close()
        self.assertEqual(status, 200)
        if support.ipv6_loopback():
            status, reason, _, body = self.answer(proxy.port,
                                                  support.connect_request(f"[::1]:{server.port}"))
            self.assertEqual(status, 403, f"{status} {reason} {body!r}")

    def test_502_for_a_refused_connection(self):
        port = support.free_port()  # nothing listens there: the kernel answers RST
        proxy = self.connect_proxy()
        status, reason, headers, body = self.answer(proxy.port,
                                                    support.connect_request(f"127.0.0.1:{port}"))
        self.assertEqual(status, 502, f"{status} {reason} {body!r}")
        self.assertIn(b"refused", body.lower(), "the reason is in the body")
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.cause"), "upstream_unreachable", record)
        self.assertEqual(field(record, "tlsglass.mode"), "connect", record)
        self.assertEqual(field(record, "destination.port"), port, record)

    def test_502_for_a_name_that_does_not_resolve(self):
        # RFC 6761: .invalid never resolves. The proxy runs in a namespace of the test's own so
        # that the query cannot leave the host.
        proxy, client = self.netns_proxy()
        status, reason, headers, body = self.answer(
            proxy.port, support.connect_request("no-such-host.invalid:443"), sock=client())
        self.assertEqual(status, 502, f"{status} {reason} {body!r}")
        self.assertTrue(body.strip(), "the reason is in the body")
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.cause"), "upstream_unreachable", record)
        self.assertEqual(field(record, "destination.domain"), "no-such-host.invalid", record)

    def blackhole(self):
        """A listening socket whose accept queue is full (backlog 0, one connection queued and
        another pending): the kernel drops further SYNs, so a connect to it hangs — a connect
        timeout on loopback without iptables. SkipTest if the kernel does not behave so."""
        lsock = socket.socket()
        self.addCleanup(lsock.close)
        lsock.bind((LOOPBACK, 0))
        lsock.listen(0)
        port = lsock.getsockname()[1]
        for _ in range(3):
            s = socket.socket()
            self.addCleanup(s.close)
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect((LOOPBACK, port))
        probe = socket.socket()
        probe.settimeout(2)
        try:
            probe.connect((LOOPBACK, port))
        except socket.timeout:
            return port
        except OSError as e:
            self.skipTest(f"cannot make a blackhole on loopback: connect gave {e}")
        finally:
            probe.close()
        self.skipTest("cannot make a blackhole on loopback: a connect to a full accept queue "
                      "succeeded (tcp_abort_on_overflow or a kernel that queues more)")

    def test_504_for_a_connect_timeout(self):
        port = self.blackhole()
        proxy = self.connect_proxy("--connect-timeout", "1")
        status, reason, headers, body = self.answer(proxy.port,
                                                    support.connect_request(f"127.0.0.1:{port}"))
        self.assertEqual(status, 504, f"{status} {reason} {body!r}")
        self.assertTrue(any(w in body.lower() for w in (b"timed out", b"timeout")), body)
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.cause"), "upstream_unreachable", record)
        self.assertEqual(field(record, "destination.port"), port, record)

    def test_forward_mode_connect_failure_is_a_reset_and_a_record(self):
        port = support.free_port()
        proxy = self.forward_proxy(port)
        hello, *_ = client_hello_bytes()
        seen = None
        try:
            # On loopback the RST may come before connect() has even returned.
            sock = self.client(proxy)
            sock.sendall(hello)
            data = sock.recv(100)
            seen = f"got {data!r}"
        except ConnectionResetError:
            seen = "reset"
        except BrokenPipeError:
            seen = "reset"  # the RST came before our write: EPIPE on the write
        self.assertEqual(seen, "reset", "the client sees its connection reset")
        record = self.one_record(proxy)
        self.assertEqual(field(record, "tlsglass.cause"), "upstream_unreachable", record)


# ---------------------------------------------------------------------------------- timeouts
class Timeouts(RelayTest):
    def test_handshake_timeout_writes_a_record_and_the_relay_goes_on(self):
        hello_seen = threading.Event()
        answer = threading.Event()

        def handler(conn):
            data = read_tls_record(conn)
            hello_seen.set()
            answer.wait(HANG)
            conn.sendall(b"late but relayed")
            conn.settimeout(HANG)
            return data, conn.recv(100)

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port, "--handshake-timeout", "1")
        sock = self.client(proxy)
        hello, *_ = client_hello_bytes()
        sock.sendall(hello)
        self.assertTrue(hello_seen.wait(HANG))
        records = proxy.wait_records(1)
        self.assertEqual(field(records[0], "tlsglass.cause"), "timeout", records[0])
        self.assertEqual(field(records[0], "tls.client.server_name"), HOST, records[0])
        answer.set()
        got = b""
        while len(got) < 16:
            chunk = sock.recv(100)
            if not chunk:
                break
            got += chunk
        self.assertEqual(got, b"late but relayed", "the relay goes on after the timeout record")
        sock.sendall(b"still here")
        data, more = server.results()[0]
        self.assertEqual((data, more), (hello, b"still here"))
        sock.close()
        records = support.stop_and_read(self, proxy)
        self.assertEqual(len(records), 1, f"still one record for the connection: {records}")

    def test_idle_timeout_closes_both_sides(self):
        def handler(conn):
            conn.settimeout(HANG)
            first = conn.recv(100)
            rest = conn.recv(100)  # nothing more is sent: EOF when the proxy closes us
            return first, rest

        server = start_peer(self, handler)
        proxy = self.forward_proxy(server.port, "--idle-timeout", "1")
        sock = self.client(proxy)
        sock.sendall(b"then silence")
        self.assertEqual(server.results()[0], (b"then silence", b""),
                         "the server side was closed (FIN) by the idle timeout")
        self.assertEqual(sock.recv(100), b"", "the client side was closed (FIN) too")
        records = support.stop_and_read(self, proxy)
        self.assertEqual(len(records), 1, records)


# ---------------------------------------------------------------------------------- signals
class Shutdown(RelayTest):
    def test_sigterm_with_open_connections_exits_and_flushes_every_record(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                tmp = support.make_tmp(self)
                server = start_peer(self, echo_handler)
                proxy = support.start_proxy(self, tmp, "--upstream", f"{LOOPBACK}:{server.port}")
                socks = []
                for i in range(5):
                    s = socket.create_connection((LOOPBACK, proxy.port), timeout=HANG)
                    self.addCleanup(s.close)
                    s.sendall(b"open %d" % i)
                    self.assertEqual(s.recv(100), b"open %d" % i)
                    socks.append(s)
                t0 = time.monotonic()
                rc = proxy.stop(sig)
                support.log(f"  {sig.name} with 5 connections open: exited after "
                            f"{time.monotonic() - t0:.2f} s (contract: within 2 s; not asserted)")
                self.assertEqual(rc, 0, proxy.stderr()[-1000:])
                self.assertEqual(len(proxy.records()), 5,
                                 "a record for each connection open at the signal")
                for s in socks:
                    s.settimeout(HANG)
                    with contextlib.suppress(ConnectionResetError):
                        self.assertEqual(s.recv(100), b"", "closed when the proxy exits")


if __name__ == "__main__":
    unittest.main(verbosity=2)
