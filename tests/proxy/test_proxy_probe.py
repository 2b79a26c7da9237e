#!/usr/bin/env python3
"""--probe-certs: the proxy's own TLS connection to the server, with the client's SNI, for the
certificate that TLS 1.3 encrypts on the wire.

Real peers only: openssl s_server with certificates this test makes (expired 7 days ago, valid
only from 2099, for another name, and a good one), curl and gnutls-cli as the clients that
reject them. What the records must say comes from outside tlsglass: the certificate's dates as
`openssl x509` prints them, the client's own verdict (curl's exit code 60 and message), and
whether the test CA is in the system trust store (it never is: it was made a moment ago).
"""
import contextlib
import datetime
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import support  # noqa: E402
from support import HOST, LOOPBACK, WRONG_HOST, field  # noqa: E402

UTC = datetime.timezone.utc
CLIENT_TIMEOUT = 60


def x509_dates(pem):
    """notBefore/notAfter as openssl prints them, in the record's form (2026-11-18T05:31:22Z)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-dates", "-dateopt", "iso_8601",
                          "-in", str(pem)], capture_output=True, text=True, check=True).stdout
    dates = dict(line.split("=", 1) for line in out.split("\n") if "=" in line)
    to_record = lambda s: s.strip().replace(" ", "T")
    return to_record(dates["notBefore"]), to_record(dates["notAfter"])


def curl_through(proxy, server, host=HOST, port=None):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    port = port or server.port
    return subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", "20", "--cacert", str(support.pki().ca),
         # curl sends `CONNECT 127.0.0.1:PORT` (the --connect-to destination), SNI `host`.
         "-x", f"http://{LOOPBACK}:{proxy.port}", "--connect-to", f"{host}:443:{LOOPBACK}:{port}",
         f"https://{host}/hello.txt"],
        capture_output=True, text=True, env=env, timeout=CLIENT_TIMEOUT)


class ProbeCerts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.need_tlsglass()
        support.need("openssl", "curl")
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        day = datetime.timedelta(days=1)
        p = support.pki()
        cls.expired = p.dated_leaf("probe-expired", now - 397 * day, now - 7 * day)
        cls.notyet = p.dated_leaf("probe-notyet", datetime.datetime(2099, 1, 1, tzinfo=UTC),
                                  datetime.datetime(2099, 12, 31, tzinfo=UTC))

    def setUp(self):
        self.tmp = support.make_tmp(self)

    def proxy(self, *args, workers=2):
        mode = () if "--mode" in args else ("--mode", "connect")
        return support.start_proxy(self, self.tmp, *mode, *args, workers=workers)

    def only_record(self, records):
        self.assertEqual(len(records), 1, records)
        return records[0]

    def records_of(self, proxy, n=1):
        """The records once written - a record waits for its probe (at most 5 s), and a proxy
        stopped before that writes it unprobed - then the proxy stopped."""
        proxy.wait_records(n, timeout=30)
        return support.stop_and_read(self, proxy)

    def test_expired_tls13_certificate_is_probed(self):
        server = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3",
                                      cert=self.expired)
        proxy = self.proxy("--probe-certs")
        result = curl_through(proxy, server)
        self.assertEqual(result.returncode, 60, result.stderr)
        self.assertIn("expired", result.stderr)
        record = self.only_record(self.records_of(proxy))
        _, not_after = x509_dates(self.expired[0])
        self.assertEqual(field(record, "tls.version"), "1.3")
        self.assertEqual(field(record, "tlsglass.cause"), "cert_expired", record)
        self.assertEqual(field(record, "tlsglass.certificate_source"), "probe")
        self.assertEqual(field(record, "tls.server.not_after"), not_after)
        self.assertEqual(field(record, "tlsglass.probe.version"), "1.3")
        self.assertIs(field(record, "tlsglass.probe.covers_sni"), True)
        self.assertIs(field(record, "tlsglass.probe.chain_used"), True)
        why = field(record, "tlsglass.explanation")
        self.assertIn("--probe-certs fetched the chain", why)
        self.assertIn(f"expired {not_after[:10]}", why)
        self.assertIn("7 days", why)

    def test_not_yet_valid_behind_a_gnutls_client(self):
        support.need("gnutls-cli")
        server = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3",
                                      cert=self.notyet)
        proxy = self.proxy("--mode", "forward", "--upstream", f"{LOOPBACK}:{server.port}",
                           "--probe-certs")
        # gnutls-cli encrypts its alert: on the wire, only its length and the close show.
        result = subprocess.run(
            ["gnutls-cli", "--x509cafile", str(support.pki().ca), "--sni-hostname", HOST,
             "--verify-hostname", HOST, "-p", str(proxy.port), LOOPBACK],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        self.assertNotEqual(result.returncode, 0, result.stdout + result.stderr)
        record = self.only_record(self.records_of(proxy))
        not_before, _ = x509_dates(self.notyet[0])
        self.assertEqual(field(record, "tlsglass.cause"), "cert_not_yet_valid", record)
        self.assertEqual(field(record, "tlsglass.certificate_source"), "probe")
        self.assertEqual(field(record, "tls.server.not_before"), not_before)
        self.assertIs(field(record, "tlsglass.inferred"), True)
        self.assertIn(f"not valid until {not_before[:10]}", field(record, "tlsglass.explanation"))

    def test_wrong_name_after_a_completed_tls13_handshake(self):
        # curl checks the name after the handshake: on the wire the handshake "succeeds".
        server = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3",
                                      cert="wrong")
        proxy = self.proxy("--probe-certs")
        result = curl_through(proxy, server)
        self.assertEqual(result.returncode, 60, result.stderr)
        self.assertIn(HOST, result.stderr)
        record = self.only_record(self.records_of(proxy))
        self.assertEqual(field(record, "tlsglass.cause"), "hostname_mismatch", record)
        self.assertIs(field(record, "tlsglass.probe.covers_sni"), False)
        self.assertIn(WRONG_HOST, field(record, "tlsglass.explanation"))

    def test_probe_all_on_a_good_connection_adds_trust_but_keeps_ok(self):
        server = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3")
        tap = support.start_tap(self, server.port)  # counts the connections the server gets
        proxy = self.proxy("--probe-certs=all", workers=1)  # the answer cache is per worker
        for _ in range(3):
            result = curl_through(proxy, server, port=tap.port)
            self.assertEqual(result.returncode, 0, result.stderr)
        records = self.records_of(proxy, 3)
        self.assertEqual(len(records), 3, records)
        for record in records:
            self.assertEqual(field(record, "tlsglass.cause"), "ok", record)
            # The test CA was made a moment ago: the system trust store cannot know it.
            self.assertIs(field(record, "tlsglass.probe.trusted"), False, record)
            self.assertTrue(field(record, "tlsglass.probe.verify_error"))
            self.assertIs(field(record, "tlsglass.probe.covers_sni"), True)
        # One probe answered all three (the answer is cached per server and SNI): the server saw
        # curl's three connections and one of the proxy's own.
        self.assertEqual(len(tap.wait(4)), 4)
        self.assertEqual(len(tap.conns), 4)

    def test_probe_that_cannot_connect_is_recorded_and_the_record_still_comes(self):
        server = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3",
                                      "-naccept", "1", cert=self.expired)
        proxy = self.proxy("--probe-certs")
        result = curl_through(proxy, server)
        self.assertEqual(result.returncode, 60, result.stderr)
        # s_server -naccept 1 has exited after curl's connection: the probe finds no server.
        record = self.only_record(self.records_of(proxy))
        self.assertIn("connect", field(record, "tlsglass.probe.error", ""), record)
        self.assertIs(field(record, "tlsglass.probe.chain_used"), False)
        self.assertNotIn("certificate_source", record["tlsglass"])
        self.assertEqual(field(record, "tlsglass.cause"), "cert_expired")  # curl's clear alert
        self.assertIn("got no chain", field(record, "tlsglass.explanation"))

    def test_a_probe_in_flight_does_not_hold_up_shutdown(self):
        # The first connection goes to the real server; every later one (the probe) is accepted
        # and never answered, so the probe is still waiting when SIGTERM comes.
        real = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3",
                                    cert=self.expired)
        front = socket.socket()
        front.bind((LOOPBACK, 0))
        front.listen(8)
        self.addCleanup(front.close)
        held = []

        def serve():
            first = True
            while True:
                try:
                    conn, _ = front.accept()
                except OSError:
                    return
                if not first:
                    held.append(conn)  # silent
                    continue
                first = False
                upstream = socket.create_connection((LOOPBACK, real.port))
                for a, b in ((conn, upstream), (upstream, conn)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

        def pipe(src, dst):
            with contextlib.suppress(OSError):
                while (data := src.recv(65536)):
                    dst.sendall(data)
                dst.shutdown(socket.SHUT_WR)

        threading.Thread(target=serve, daemon=True).start()
        proxy = self.proxy("--probe-certs")
        result = curl_through(proxy, real, port=front.getsockname()[1])
        self.assertEqual(result.returncode, 60, result.stderr)
        support.wait_until(lambda: held, 20, "the probe's connection")
        started = time.monotonic()
        record = self.only_record(support.stop_and_read(self, proxy))  # the probe still runs
        self.assertLess(time.monotonic() - started, 2.5, "DESIGN.md: exit within 2 s")
        self.assertEqual(field(record, "tlsglass.probe.error"),
                         "the proxy stopped before the probe finished", record)
        for conn in held:
            conn.close()

    def test_without_the_flag_nothing_is_probed(self):
        server = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3",
                                      cert=self.expired)
        proxy = self.proxy()
        curl_through(proxy, server)
        record = self.only_record(self.records_of(proxy))
        self.assertNotIn("probe", record["tlsglass"])
        self.assertIn("--probe-certs", field(record, "tlsglass.explanation"))

    def test_bad_value_is_a_usage_error(self):
        result = subprocess.run([support.BIN, "proxy", "--probe-certs=sometimes"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--probe-certs", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
