#!/usr/bin/env python3
"""End-to-end scenarios: one test per cause of DESIGN.md's table, through the live proxy.

Each scenario starts real programs on 127.0.0.1 (openssl s_server, nginx, peers of the test's own
for what no stock program does), runs a real client (curl, openssl s_client, gnutls-cli, Python's
ssl module, headless Chromium) through `tlsglass proxy` in both modes:
  - connect: the client uses the proxy by HTTP CONNECT (curl -x, s_client -proxy, a CONNECT
    written here for Python, Chromium --proxy-server, a CONNECT shim for gnutls-cli);
  - forward: the client connects to the proxy, which forwards to --upstream 127.0.0.1:PORT
    (curl --connect-to, the others straight at the proxy's port);
and checks the record's cause and the evidence behind it.

The expected values come from outside the code under test: the certificates the tests made (and
the dates they chose), the servers' configuration, the client's own words (exit code, error
message, exception), the bytes the server really got and sent (support.Tap, a recording relay
between the proxy and the server, read with the tests' own parser) and the RFCs.
"""
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import scenario_support as ss  # noqa: E402
from scenario_support import (BLOCKED_HOST, HOST, LOOPBACK, WRONG_HOST,  # noqa: E402
                              field, support)

MODES = ("connect", "forward")
HANDSHAKE_TIMEOUT_S = 1  # --handshake-timeout for the silent server (the flag takes seconds)


def first_line(data):
    return bytes(data).split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")


class Causes(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        support.need_tlsglass()
        support.need("openssl")
        support.pki()
        ss.dated_pki()

    # ---------------------------------------------------------------------------- plumbing
    def tmp(self):
        return support.make_tmp(self, prefix="tlsglass-scen-")

    def server(self, server):
        return ss.start(self, server)

    def through(self, mode, server_port, client, *proxy_args, tap=True, records=1):
        """Client -> proxy (mode) -> [tap ->] server. Returns (the client's Run, the records
        for the server's port, the connection: `port` the proxy's upstream, and with the tap
        `c2s`/`s2c` the bytes that went by)."""
        tap_ = support.start_tap(self, server_port) if tap else None
        target = tap_.port if tap else server_port
        proxy, route = ss.start_route(self, self.tmp(), mode, target, *proxy_args)
        run = client(route)
        proxy.wait_records(records)
        all_records = support.stop_and_read(self, proxy)
        mine = ss.records_to(all_records, target)
        self.assertEqual(len(mine), records,
                         f"{records} record(s) for the server's port {target}: {all_records}\n"
                         f"{run!r}\nproxy stderr:\n{proxy.stderr()[-2000:]}")
        # The connection as the server saw it (the tap's bytes, and the port the records name).
        conn = dict(tap_.wait(1)[0], port=target) if tap else {"port": target}
        return run, mine, conn

    def check(self, record, cause, mode, port, sni=HOST):
        """What every record of a scenario says: the cause, the outcome, the mode, where the
        connection went, the SNI the client was told to send."""
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tlsglass.cause"), cause, ctx)
        self.assertEqual(field(record, "event.outcome"), "success" if cause == "ok" else "failure",
                         ctx)
        self.assertEqual(field(record, "tlsglass.mode"), mode, ctx)
        self.assertEqual(field(record, "source.ip"), LOOPBACK, ctx)
        self.assertEqual(field(record, "destination.ip"), LOOPBACK, ctx)
        self.assertEqual(field(record, "destination.port"), port, ctx)
        self.assertEqual(field(record, "tls.client.server_name"), sni, ctx)
        self.assertTrue(field(record, "tlsglass.explanation"), ctx)
        if cause != "ok":
            self.assertTrue(field(record, "tlsglass.next_step"), f"a next step to run{ctx}")
        return ctx

    def check_hello(self, record, conn):
        """The record's view of the ClientHello against the bytes the server got."""
        hello = support.parse_client_hello(conn["c2s"])
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tls.client.server_name"), hello["sni"], ctx)
        if hello["versions"]:
            self.assertEqual(field(record, "tls.client.supported_versions"),
                             [support.version_name(v) for v in hello["versions"]], ctx)
        else:
            self.assertIsNone(field(record, "tls.client.supported_versions"), ctx)
        self.assertEqual(field(record, "tls.client.legacy_version"),
                         support.version_name(hello["legacy_version"]), ctx)
        self.assertEqual(field(record, "tls.client.supported_ciphers"),
                         ["GREASE" if support.is_grease(c) else support.iana_cipher(c)
                          or f"0x{c:04x}" for c in hello["ciphers"]], ctx)
        self.assertEqual(field(record, "tls.client.alpn"), hello["alpn"] or None, ctx)
        self.assertRegex(field(record, "tls.client.ja4") or "", support.JA4_RE, ctx)
        self.assertEqual(field(record, "tls.client.ja4"), support.ja4(hello), ctx)
        return hello

    def assertSays(self, needle, text, what="explanation"):
        """`needle` is in the record's `text` (its explanation unless told)."""
        self.assertIn(needle, text or "", f"{what}: {text!r}")

    # ====================================================================================== ok
    def check_ok(self, record, conn, mode, port, sni=HOST, version=None, cipher=None,
                 alpn_chosen=None):
        ctx = self.check(record, "ok", mode, port, sni=sni)
        self.check_hello(record, conn)
        server_hello = support.parse_server_hello(conn["s2c"])
        self.assertIs(field(record, "tls.established"), True, ctx)
        self.assertEqual(field(record, "tls.version"),
                         support.version_name(server_hello["version"]), ctx)
        self.assertEqual(field(record, "tls.cipher"), support.iana_cipher(server_hello["cipher"]),
                         ctx)
        if version:  # the client's own report
            self.assertEqual(field(record, "tls.version"), version, ctx)
        if cipher:
            self.assertEqual(field(record, "tls.cipher"), cipher, ctx)
        if field(record, "tls.version") == "1.2":
            # A TLS 1.2 ServerHello shows the ALPN choice in clear; TLS 1.3 encrypts it.
            self.assertEqual(field(record, "tls.next_protocol"), server_hello["alpn"], ctx)
            if alpn_chosen is not None:
                self.assertEqual(field(record, "tls.next_protocol"), alpn_chosen, ctx)
        else:
            self.assertIsNone(field(record, "tls.next_protocol"), ctx)
        self.assertIn(field(record, "tls.version"), field(record, "tlsglass.explanation"), ctx)
        return ctx

    def test_ok_curl_tls12_and_tls13(self):
        srv = self.server(ss.SServer(self.tmp(), "-alpn", "http/1.1"))
        for mode in MODES:
            for version, flags in (("1.2", ("--tls-max", "1.2")), ("1.3", ("--tlsv1.3",))):
                with self.subTest(mode=mode, version=version):
                    run, (rec,), conn = self.through(mode, srv.port,
                                                     lambda r: ss.curl(r, *flags))
                    self.assertEqual(run.rc, 0, run)
                    self.assertEqual(run.stdout.encode(), srv.body, run)
                    m = re.search(r"SSL connection using TLSv(1\.[23]) / (\S+)", run.stderr)
                    self.assertIsNotNone(m, run)
                    self.assertEqual(m[1], version)
                    self.check_ok(rec, conn, mode, conn["port"], version=version,
                                  cipher=support.iana_cipher(m[2]), alpn_chosen="http/1.1")
                    self.assertEqual(field(rec, "tls.client.alpn"), ["h2", "http/1.1"])

    def test_ok_s_client_tls12_and_tls13(self):
        srv = self.server(ss.SServer(self.tmp(), "-alpn", "http/1.1"))
        for mode in MODES:
            for version, flag in (("1.2", "-tls1_2"), ("1.3", "-tls1_3")):
                with self.subTest(mode=mode, version=version):
                    run, (rec,), conn = self.through(
                        mode, srv.port, lambda r: ss.s_client(r, flag, "-alpn", "http/1.1"))
                    said = ss.s_client_summary(run)
                    self.assertEqual(run.rc, 0, run)
                    self.assertEqual(said["verify"], (0, "ok"), run)
                    self.assertEqual(said["protocol"], f"TLSv{version}", run)
                    self.check_ok(rec, conn, mode, conn["port"], version=version,
                                  cipher=support.iana_cipher(said["cipher"]),
                                  alpn_chosen="http/1.1")
                    self.assertEqual(field(rec, "tls.client.alpn"), ["http/1.1"])

    def test_ok_gnutls_cli_tls12_and_tls13(self):
        support.need("gnutls-cli")
        srv = self.server(ss.SServer(self.tmp(), "-alpn", "http/1.1"))
        priorities = (("1.2", "NORMAL:-VERS-ALL:+VERS-TLS1.2"),
                      ("1.3", "NORMAL:-VERS-ALL:+VERS-TLS1.3"))
        for mode in MODES:
            for version, priority in priorities:
                with self.subTest(mode=mode, version=version):
                    def client(route):
                        if route.mode == "connect":
                            # gnutls-cli has no proxy option: a shim of ours does the CONNECT.
                            shim = self.server(ss.ConnectShim(route.proxy_port, route.target_port))
                            route = ss.Route("forward", shim.port, route.target_port)
                        return ss.gnutls_cli(route, "--priority", priority)
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertEqual(run.rc, 0, run)
                    self.assertIn("Handshake was completed", run.text, run)
                    m = re.search(r"- Description: \(TLS(1\.\d)-", run.text)
                    self.assertIsNotNone(m, run)
                    self.assertEqual(m[1], version, run)
                    self.check_ok(rec, conn, mode, conn["port"], version=version,
                                  alpn_chosen="http/1.1")
                    self.assertEqual(field(rec, "tls.client.alpn"), ["http/1.1"])

    def test_ok_python_ssl_tls12_and_tls13(self):
        srv = self.server(ss.SServer(self.tmp(), "-alpn", "http/1.1"))
        for mode in MODES:
            for version in ("1.2", "1.3"):
                with self.subTest(mode=mode, version=version):
                    run, (rec,), conn = self.through(
                        mode, srv.port,
                        lambda r: ss.python_tls(r, minimum=version, maximum=version))
                    self.assertIsNone(run.error, run)
                    self.assertEqual(run.info["version"], f"TLSv{version}")
                    self.assertIn(srv.body, run.info["answer"])
                    self.check_ok(rec, conn, mode, conn["port"], version=version,
                                  cipher=support.iana_cipher(run.info["cipher"]),
                                  alpn_chosen=run.info["alpn"])

    def test_ok_chromium_tls12_and_tls13(self):
        support.need("chromium")
        leaf = ss.dated_pki().chromium
        spki = leaf.spki_sha256_b64()
        for version, flag in (("1.3", "-tls1_3"), ("1.2", "-tls1_2")):
            srv = self.server(ss.SServer(self.tmp(), flag, cert="chromium"))
            for mode in MODES:
                with self.subTest(mode=mode, version=version):
                    tmp = self.tmp()
                    tap = support.start_tap(self, srv.port)
                    # In connect mode Chromium asks the proxy for the URL's host name, and only
                    # `localhost` resolves here; --allow-dest keeps its background requests
                    # (to Google's servers) from leaving the machine.
                    url_host = "localhost" if mode == "connect" else HOST
                    extra = ("--allow-dest", f"localhost:{tap.port}") if mode == "connect" else ()
                    proxy, route = ss.start_route(self, tmp, mode, tap.port, *extra)
                    run = ss.chromium(route, tmp, url_host, spki)
                    proxy.wait_records(1)
                    records = ss.records_to(support.stop_and_read(self, proxy), tap.port)
                    self.assertEqual(run.rc, 0, run)
                    self.assertIn(srv.body.decode().splitlines()[1], run.stdout, run)
                    self.assertNotIn("ERR_", run.stderr, run)
                    # Chromium may open more than one connection (a preconnected one it never
                    # uses carries no ClientHello); each handshake it made must be a good one.
                    hellos = [r for r in records if field(r, "tls.client")]
                    self.assertGreaterEqual(len(hellos), 1, f"{run!r}\n{proxy.stderr()}")
                    conns = tap.wait(len(records))
                    # s_server serves one connection at a time: a second connection Chromium
                    # opened in parallel (for /favicon.ico, say) may wait unanswered until
                    # Chromium exits and closes it. The tap shows the server sent it nothing.
                    unserved = [r for r in hellos if field(r, "tlsglass.bytes.server") == 0]
                    for rec in unserved:
                        self.assertEqual(field(rec, "tlsglass.closed_by"), "client", rec)
                        self.assertEqual(field(rec, "tlsglass.stage"), "client_hello", rec)
                    hellos = [r for r in hellos if r not in unserved]
                    self.assertGreaterEqual(len(hellos), 1, f"no served handshake: {records}")
                    for rec in hellos:
                        # The tap's connection with this record's ClientHello (size and shape).
                        conn = next((dict(c, port=tap.port) for c in conns
                                     if same_hello(rec, c["c2s"])), None)
                        self.assertIsNotNone(conn, f"no tap connection carried {rec}")
                        self.check_ok(rec, conn, mode, tap.port, sni=url_host, version=version)
                        self.assertEqual(field(rec, "tls.client.alpn"), ["h2", "http/1.1"])
                        self.assertTrue(field(rec, "tls.client.ja4").startswith("t13d"),
                                        "Chromium offers TLS 1.3, with SNI")

    def test_ok_after_hello_retry_request(self):
        # RFC 8446 §4.1.4: the client's key share is for x25519 only; the server accepts P-256
        # only and asks again (HelloRetryRequest); the second ClientHello carries a P-256 share.
        srv = self.server(ss.SServer(self.tmp(), "-tls1_3", "-groups", "P-256"))
        clients = (("s_client", lambda r: ss.s_client(r, "-tls1_3", "-groups", "X25519:P-256")),
                   ("curl", lambda r: ss.curl(r, "--curves", "X25519:P-256")))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertEqual(run.rc, 0, run)
                    ctx = self.check_ok(rec, conn, mode, conn["port"], version="1.3")
                    self.assertIs(field(rec, "tls.server.hello_retry_request"), True, ctx)
                    self.assertEqual(field(rec, "tls.server.hello_retry_group"), "secp256r1", ctx)
                    self.assertEqual(field(rec, "tls.client.key_share_groups"), ["x25519"], ctx)
                    self.assertEqual(field(rec, "tls.curve"), "secp256r1", ctx)
                    self.assertIs(field(rec, "tls.client.second_hello"), True, ctx)

    # ================================================================================== no_sni
    def test_no_sni_refused_by_a_server_that_needs_one(self):
        # nginx: the default server rejects handshakes (ssl_reject_handshake on: an
        # unrecognized_name alert, RFC 6066 §3); app.tlsglass.test is served by name only.
        srv = self.server(ss.NginxSniOnly(self.tmp()))
        clients = (
            ("s_client -noservername", lambda r: ss.s_client(r, sni=None)),
            ("python server_hostname=None", lambda r: ss.python_tls(r, sni=None, verify=False)),
            # curl sends no SNI for an IP address (RFC 6066 §3 forbids literal addresses).
            ("curl https://127.0.0.1", lambda r: ss.curl(r, host=LOOPBACK)),
        )
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"(?i)unrecognized.name", run)
                    hello = support.parse_client_hello(conn["c2s"])
                    self.assertIsNone(hello["sni"], "the client sent no server_name")
                    ctx = self.check(rec, "no_sni", mode, conn["port"], sni=None)
                    self.check_hello(rec, conn)
                    self.assertEqual(ss.clear_alerts(rec), [("server", "unrecognized_name")], ctx)
                    self.assertEqual(field(rec, "tlsglass.stage"), "client_hello", ctx)
                    self.assertIs(field(rec, "tls.established"), False, ctx)
                    self.assertSays("no SNI", field(rec, "tlsglass.explanation"))
                    self.assertSays("unrecognized_name", field(rec, "tlsglass.explanation"))

    # ===================================================================== certificate dates
    def check_leaf(self, rec, leaf, ctx):
        """The record's leaf is the test's certificate, dates and names as the test made it."""
        self.assertEqual(field(rec, "tls.server.not_before"), ss.record_day(leaf.not_before), ctx)
        self.assertEqual(field(rec, "tls.server.not_after"), ss.record_day(leaf.not_after), ctx)
        self.assertEqual(field(rec, "tls.server.x509.alternative_names"), leaf.names, ctx)
        self.assertSays(leaf.issuer_cn, field(rec, "tls.server.issuer"), "issuer")

    def test_cert_expired_tls12_seen_on_the_wire(self):
        leaf = ss.dated_pki().expired
        srv = self.server(ss.SServer(self.tmp(), "-tls1_2", cert="expired"))
        clients = (("curl", ss.curl), ("python", ss.python_tls),
                   ("s_client", lambda r: ss.s_client(r)))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"certificate has expired", run)
                    if name == "curl":
                        self.assertEqual(ss.curl_verdict(run)[0], 60, run)
                    ctx = self.check(rec, "cert_expired", mode, conn["port"])
                    self.check_hello(rec, conn)
                    self.assertEqual(field(rec, "tls.version"), "1.2", ctx)
                    self.assertEqual(field(rec, "tlsglass.certificate_source"), "wire", ctx)
                    self.check_leaf(rec, leaf, ctx)
                    # RFC 5246 §7.2.2: certificate_expired, in clear before the client's keys.
                    self.assertEqual(ss.clear_alerts(rec), [("client", "certificate_expired")],
                                     ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays(leaf.not_after.strftime("%Y-%m-%d"), why)
                    self.assertSays("7 days", why)  # it ended 7.5 days before the test ran
                    self.assertSays("expired", why)

    def test_cert_not_yet_valid_tls12_seen_on_the_wire(self):
        leaf = ss.dated_pki().notyet
        srv = self.server(ss.SServer(self.tmp(), "-tls1_2", cert="notyet"))
        clients = (("curl", ss.curl), ("python", ss.python_tls))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"certificate is not yet valid", run)
                    ctx = self.check(rec, "cert_not_yet_valid", mode, conn["port"])
                    self.check_hello(rec, conn)
                    self.assertEqual(field(rec, "tlsglass.certificate_source"), "wire", ctx)
                    self.check_leaf(rec, leaf, ctx)
                    # OpenSSL says bad_certificate for a certificate not yet valid: the alert is
                    # not the cause, the dates are (DESIGN.md).
                    self.assertEqual(ss.clear_alerts(rec), [("client", "bad_certificate")], ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays(leaf.not_before.strftime("%Y-%m-%d"), why)
                    self.assertSays("30 days", why)  # it starts 30.5 days after the test ran

    def probe_case(self, cert, clients, cause, leaf, date, age):
        """TLS 1.3 encrypts the certificate: --probe-certs fetches it over a connection of the
        proxy's own and the record judges that chain."""
        srv = self.server(ss.SServer(self.tmp(), "-tls1_3", cert=cert))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    # No tap: the probe connects to the same upstream as the client.
                    run, (rec,), _ = self.through(mode, srv.port, client, "--probe-certs",
                                                  tap=False)
                    self.assertNotEqual(run.rc, 0, run)
                    ctx = self.check(rec, cause, mode, srv.port)
                    self.assertEqual(field(rec, "tls.version"), "1.3", ctx)
                    self.assertEqual(field(rec, "tlsglass.certificate_source"), "probe", ctx)
                    probe = field(rec, "tlsglass.probe")
                    self.assertIsInstance(probe, dict, ctx)
                    self.assertIs(probe.get("chain_used"), True, ctx)
                    self.assertEqual(probe.get("version"), "1.3", ctx)
                    self.assertIs(probe.get("covers_sni"), True, ctx)
                    self.assertNotIn("error", probe, ctx)
                    self.check_leaf(rec, leaf, ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays("--probe-certs", why)
                    self.assertSays(date, why)
                    self.assertSays(age, why)

    def test_cert_expired_tls13_via_probe_certs(self):
        leaf = ss.dated_pki().expired
        self.probe_case("expired", (
            # OpenSSL's TLS 1.3 client rejects the certificate with an alert in clear.
            ("curl", lambda r: self.expect_words(ss.curl(r), "certificate has expired")),
            # GnuTLS aborts with an encrypted alert.
            ("gnutls-cli", lambda r: self.expect_words(self.gnutls(r), "certificate"))),
            "cert_expired", leaf, leaf.not_after.strftime("%Y-%m-%d"), "7 days")

    def test_cert_not_yet_valid_tls13_via_probe_certs(self):
        leaf = ss.dated_pki().notyet
        self.probe_case("notyet", (
            ("curl", lambda r: self.expect_words(ss.curl(r), "certificate is not yet valid")),
            ("python", lambda r: self.expect_words(ss.python_tls(r), "not yet valid"))),
            "cert_not_yet_valid", leaf, leaf.not_before.strftime("%Y-%m-%d"), "30 days")

    def expect_words(self, run, words):
        self.assertIn(words, run.text, run)
        return run

    def gnutls(self, route):
        support.need("gnutls-cli")
        if route.mode == "connect":
            shim = self.server(ss.ConnectShim(route.proxy_port, route.target_port))
            route = ss.Route("forward", shim.port, route.target_port)
        return ss.gnutls_cli(route)

    # ====================================================================== hostname_mismatch
    def test_hostname_mismatch_tls12(self):
        # The server's certificate is for other.tlsglass.test; the client asks for
        # app.tlsglass.test (RFC 6125 §6.4). curl checks the name after the handshake and
        # closes without a request; OpenSSL-based s_client and Python check it during it.
        srv = self.server(ss.SServer(self.tmp(), "-tls1_2", cert="wrong"))
        clients = (
            ("curl", ss.curl, r"no alternative certificate subject name matches target host "
                              r"name 'app\.tlsglass\.test'"),
            ("python", ss.python_tls, r"Hostname mismatch, certificate is not valid for "
                                      r"'app\.tlsglass\.test'"),
            ("s_client", lambda r: ss.s_client(r), r"hostname mismatch"),
        )
        for mode in MODES:
            for name, client, words in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, words, run)
                    if name == "curl":
                        self.assertEqual(ss.curl_verdict(run)[0], 60, run)
                    ctx = self.check(rec, "hostname_mismatch", mode, conn["port"])
                    self.check_hello(rec, conn)
                    self.assertEqual(field(rec, "tls.version"), "1.2", ctx)
                    self.assertEqual(field(rec, "tls.server.x509.alternative_names"),
                                     [WRONG_HOST], ctx)
                    self.assertEqual(field(rec, "tls.server.subject"), f"CN={WRONG_HOST}", ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays(WRONG_HOST, why)
                    self.assertSays(HOST, why)
                    if name == "curl":
                        # The handshake completed; the client ended it without a request.
                        self.assertIs(field(rec, "tls.established"), True, ctx)
                        self.assertEqual(field(rec, "tlsglass.stage"), "established", ctx)
                    else:
                        self.assertEqual(ss.clear_alerts(rec, "client"),
                                         [("client", "bad_certificate")], ctx)

    # ========================================================================= untrusted_cert
    def test_untrusted_cert_tls12(self):
        # The leaf is for the right name and in date, but signed by a CA the clients are not
        # given (they trust the test CA only): RFC 5246 §7.2.2 unknown_ca.
        leaf = ss.dated_pki().rogue
        srv = self.server(ss.SServer(self.tmp(), "-tls1_2", cert="rogue"))
        clients = (("curl", ss.curl, r"unable to get local issuer certificate"),
                   ("python", ss.python_tls, r"unable to get local issuer certificate"),
                   ("s_client", lambda r: ss.s_client(r), r"unable to get local issuer"))
        for mode in MODES:
            for name, client, words in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, words, run)
                    ctx = self.check(rec, "untrusted_cert", mode, conn["port"])
                    self.check_hello(rec, conn)
                    self.check_leaf(rec, leaf, ctx)
                    self.assertEqual(ss.clear_alerts(rec), [("client", "unknown_ca")], ctx)
                    self.assertSays("tlsglass rogue CA", field(rec, "tlsglass.explanation"))

    # ======================================================================== cipher_mismatch
    def test_cipher_mismatch_tls12(self):
        # TLS 1.2 both ends: the server has AES128-SHA only; the client offers
        # ECDHE-RSA-CHACHA20-POLY1305 only (and the renegotiation SCSV, RFC 5746).
        srv = self.server(ss.SServer(self.tmp(), "-tls1_2", "-cipher", "AES128-SHA"))
        chacha = "ECDHE-RSA-CHACHA20-POLY1305"
        clients = (
            ("s_client", lambda r: ss.s_client(r, "-no_tls1_3", "-cipher", chacha)),
            ("curl", lambda r: ss.curl(r, "--tls-max", "1.2", "--ciphers", chacha)),
            ("python", lambda r: ss.python_tls(r, maximum="1.2", ciphers=chacha)),
        )
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"(?i)alert handshake.failure", run)
                    ctx = self.check(rec, "cipher_mismatch", mode, conn["port"])
                    hello = self.check_hello(rec, conn)
                    self.assertEqual([support.iana_cipher(c) for c in hello["ciphers"]],
                                     [support.iana_cipher(chacha),
                                      "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"])
                    # RFC 5246 §7.4.1.3: no acceptable suite -> handshake_failure.
                    self.assertEqual(ss.clear_alerts(rec), [("server", "handshake_failure")], ctx)
                    self.assertEqual(field(rec, "tlsglass.stage"), "client_hello", ctx)
                    self.assertIsNone(field(rec, "tls.cipher"), ctx)
                    self.assertSays(support.iana_cipher(chacha), field(rec, "tlsglass.explanation"))

    # ======================================================================= version_mismatch
    def test_version_mismatch_server_too_new(self):
        # The server speaks TLS 1.3 only; the clients at most TLS 1.2 (their ClientHello has
        # no supported_versions: legacy_version 1.2 is their maximum, RFC 8446 §4.2.1).
        srv = self.server(ss.SServer(self.tmp(), "-tls1_3"))
        clients = (("s_client -tls1_2", lambda r: ss.s_client(r, "-tls1_2")),
                   ("curl --tls-max 1.2", lambda r: ss.curl(r, "--tls-max", "1.2")),
                   ("python maximum 1.2", lambda r: ss.python_tls(r, maximum="1.2")))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"(?i)alert protocol.version", run)
                    ctx = self.check(rec, "version_mismatch", mode, conn["port"])
                    hello = self.check_hello(rec, conn)
                    self.assertEqual((hello["legacy_version"], hello["versions"]), (0x0303, []))
                    # RFC 8446 §4.2.1: a TLS 1.3-only server answers protocol_version.
                    self.assertEqual(ss.clear_alerts(rec), [("server", "protocol_version")], ctx)
                    self.assertEqual(field(rec, "tlsglass.stage"), "client_hello", ctx)
                    self.assertIsNone(field(rec, "tls.version"), ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays("TLS1.2", why)  # what the client had
                    self.assertSays("TLS1.3", why)  # what a server refusing it needs

    def test_version_mismatch_server_too_old(self):
        # The server speaks TLS 1.1 only (OpenSSL 3 needs security level 0 for it, RFC 8996
        # deprecated it); the clients want TLS 1.2 or better.
        srv = self.server(ss.SServer(self.tmp(), "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"))
        clients = (
            # legacy_version 1.2, no supported_versions: the server answers TLS 1.1 (its best,
            # RFC 5246 E.1) and the client refuses it with protocol_version.
            ("s_client -tls1_2", lambda r: ss.s_client(r, "-tls1_2"),
             r"unsupported protocol", ("client", "protocol_version"), "1.1"),
            # curl offers TLS 1.3 down to 1.0, takes the TLS 1.1 ServerHello, then its OpenSSL
            # refuses TLS 1.1's SHA-1 signature with internal_error: the alert is not the cause,
            # the versions are (DESIGN.md).
            ("curl", ss.curl, r"legacy sigalg disallowed or unsupported",
             ("client", "internal_error"), "1.1"),
            # supported_versions 1.3 and 1.2 only: the server has neither (RFC 8446 §4.2.1).
            ("python minimum 1.2", lambda r: ss.python_tls(r, minimum="1.2"),
             r"(?i)alert protocol.version", ("server", "protocol_version"), None),
        )
        for mode in MODES:
            for name, client, words, alert, chosen in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, words, run)
                    ctx = self.check(rec, "version_mismatch", mode, conn["port"])
                    hello = self.check_hello(rec, conn)
                    self.assertEqual(ss.clear_alerts(rec), [alert], ctx)
                    self.assertEqual(field(rec, "tls.version"), chosen, ctx)
                    why = field(rec, "tlsglass.explanation")
                    # What the client offered, at both ends (supported_versions, else the
                    # legacy_version alone) ...
                    offered = sorted(hello["versions"] or [hello["legacy_version"]])
                    for version in (offered[0], offered[-1]):
                        self.assertSays(f"TLS{support.version_name(version)}", why)
                    # ... and what the server had: its ServerHello's choice, or by its refusal.
                    if chosen:
                        self.assertEqual(support.parse_server_hello(conn["s2c"])["version"],
                                         0x0302)
                        self.assertSays("server chose TLS1.1", why)
                    else:
                        self.assertSays("TLS1.1 or older", why)

    # ==================================================================== reset_mid_handshake
    def test_reset_right_after_the_client_hello(self):
        # A peer of ours reads the ClientHello's record, then resets (SO_LINGER 0): a
        # firewall, an IDS or a crashing server.
        srv = self.server(ss.ResetAfterHello())
        clients = (("curl", ss.curl, lambda run: self.assertRegex(
                        run.text, r"Connection reset by peer", run)),
                   ("python", ss.python_tls, lambda run: self.assertTrue(
                        ss.is_reset(run.error), f"ECONNRESET expected: {run!r}")))
        served = 0
        for mode in MODES:
            for name, client, saw_reset in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), _ = self.through(mode, srv.port, client, tap=False)
                    served += 1
                    conn = srv.wait(served)[-1]
                    self.assertNotEqual(run.rc, 0, run)
                    saw_reset(run)  # the proxy passed the reset on as a reset
                    ctx = self.check(rec, "reset_mid_handshake", mode, srv.port)
                    self.check_hello(rec, {"c2s": conn["read"]})
                    self.assertEqual(field(rec, "tlsglass.closed_by"), "server", ctx)
                    self.assertEqual(field(rec, "tlsglass.close"), "rst", ctx)
                    self.assertEqual(field(rec, "tlsglass.stage"), "client_hello", ctx)
                    self.assertIs(field(rec, "tls.established"), False, ctx)
                    self.assertIsNone(field(rec, "tlsglass.alerts"), ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays("server reset", why)
                    self.assertRegex(why, r"reset the connection \d+(\.\d+)? m?s after the "
                                          r"ClientHello")

    def test_reset_by_a_middlebox_filtering_on_sni(self):
        # A relay of ours passes connections to a real TLS server, unless the SNI is
        # blocked.tlsglass.test: that hello gets an RST. The same client (same ClientHello
        # shape) first reaches the server with app.tlsglass.test, then is reset with the
        # blocked name: only the SNI differs.
        upstream = self.server(ss.SServer(self.tmp(), "-tls1_3"))
        srv = self.server(ss.SniFilter(upstream.port))
        served = 0
        for mode in MODES:
            with self.subTest(mode=mode):
                runs = []

                def client(route):
                    runs.append(ss.python_tls(route))
                    runs.append(ss.python_tls(route, sni=BLOCKED_HOST))
                    return runs[-1]
                _, records, _ = self.through(mode, srv.port, client, tap=False, records=2)
                served += 2
                conns = srv.wait(served)[-2:]
                self.assertEqual([c["verdict"] for c in conns], ["relayed", "reset"])
                self.assertIsNone(runs[0].error, runs[0])
                self.assertTrue(ss.is_reset(runs[1].error), f"ECONNRESET expected: {runs[1]!r}")
                good, blocked = sorted(records, key=lambda r: field(r, "tlsglass.conn"))
                self.check(good, "ok", mode, srv.port)
                ctx = self.check(blocked, "reset_mid_handshake", mode, srv.port, sni=BLOCKED_HOST)
                self.assertEqual(field(good, "tls.client.ja4"), field(blocked, "tls.client.ja4"),
                                 "the same client, the same hello shape")
                self.assertEqual(field(blocked, "tlsglass.closed_by"), "server", ctx)
                self.assertEqual(field(blocked, "tlsglass.close"), "rst", ctx)
                self.assertEqual(field(blocked, "tlsglass.stage"), "client_hello", ctx)
                why = field(blocked, "tlsglass.explanation")
                self.assertSays("only the SNI differs", why)
                self.assertSays(HOST, why)  # the SNI that worked
                self.assertSays(BLOCKED_HOST, field(blocked, "tlsglass.next_step"), "next_step")

    # ================================================================================ timeout
    def test_timeout_from_a_server_that_never_answers(self):
        srv = self.server(ss.Silent())
        served = 0
        for mode in MODES:
            with self.subTest(mode=mode):
                tmp = self.tmp()
                proxy, route = ss.start_route(self, tmp, mode, srv.port, "--handshake-timeout",
                                              str(HANDSHAKE_TIMEOUT_S))
                # The client waits far longer than the proxy: the record comes from the proxy's
                # timer while the client still waits; the client is stopped afterwards.
                client = support.Process(ss.curl_argv(route, "--max-time", "120"), tmp,
                                         "curl.log", env=ss.client_env())
                self.addCleanup(client.stop, signal.SIGKILL)
                proxy.wait_records(1, timeout=60)
                self.assertTrue(client.running(), "the client still waits for the server")
                client.stop(signal.SIGKILL)
                records = ss.records_to(support.stop_and_read(self, proxy), srv.port)
                served += 1
                conn = srv.wait(served)[-1]
                self.assertEqual(len(records), 1, records)
                rec = records[0]
                ctx = self.check(rec, "timeout", mode, srv.port)
                self.check_hello(rec, {"c2s": conn["read"]})
                self.assertEqual(field(rec, "tlsglass.stage"), "client_hello", ctx)
                self.assertIs(field(rec, "tls.established"), False, ctx)
                why = field(rec, "tlsglass.explanation")
                m = re.search(r"sent nothing in (\d+(?:\.\d+)?) (ms|s)\b", why or "")
                self.assertIsNotNone(m, ctx)
                waited = float(m[1]) / (1000 if m[2] == "ms" else 1)
                self.assertGreaterEqual(waited, HANDSHAKE_TIMEOUT_S * 0.99, ctx)

    # ================================================================================ not_tls
    def not_tls_from_the_server(self, mode):
        servers = (("nginx", lambda: ss.NginxPlain(self.tmp())),
                   ("python -m http.server", lambda: ss.PythonHttpServer(self.tmp())))
        for sname, make in servers:
            srv = self.server(make())
            with self.subTest(mode=mode, server=sname):
                run, (rec,), conn = self.through(mode, srv.port, ss.curl)
                self.assertEqual(ss.curl_verdict(run)[0], 35, run)
                self.assertIn("wrong version number", run.stderr, run)
                ctx = self.check(rec, "not_tls", mode, conn["port"])
                self.check_hello(rec, conn)
                answer = first_line(conn["s2c"])  # what the server really said first
                self.assertTrue(answer, "the server answered something")
                self.assertEqual(field(rec, "tlsglass.not_tls.from"), "server", ctx)
                self.assertEqual(field(rec, "tlsglass.not_tls.quote"), answer, ctx)
                self.assertSays(answer, field(rec, "tlsglass.explanation"))
                if answer.startswith("HTTP/"):
                    self.assertSays("plain HTTP", field(rec, "tlsglass.explanation"))

    def not_tls_from_the_client(self, mode):
        srv = self.server(ss.SServer(self.tmp(), "-tls1_2"))
        run, (rec,), conn = self.through(mode, srv.port, lambda r: ss.curl(r, scheme="http"))
        self.assertNotEqual(run.rc, 0, run)
        request = first_line(conn["c2s"])  # what the client really sent
        self.assertTrue(request.startswith("GET /hello.txt HTTP/1."), request)
        ctx = self.check(rec, "not_tls", mode, conn["port"], sni=None)
        self.assertEqual(field(rec, "tlsglass.not_tls.from"), "client", ctx)
        self.assertEqual(field(rec, "tlsglass.not_tls.quote"), request, ctx)
        self.assertIsNone(field(rec, "tls.client"), ctx)
        self.assertSays(request, field(rec, "tlsglass.explanation"))
        self.assertSays("plain HTTP", field(rec, "tlsglass.explanation"))

    def test_not_tls_a_plain_http_server_on_the_tls_port_forward(self):
        self.not_tls_from_the_server("forward")

    # In connect mode the session also sees the CONNECT head and the proxy's 200 answer: what
    # follows each head is the tunnel, and it is TLS or not_tls (no further prelude search).
    def test_not_tls_a_plain_http_server_on_the_tls_port_connect(self):
        self.not_tls_from_the_server("connect")

    def test_not_tls_a_client_speaking_http_to_a_tls_port_forward(self):
        self.not_tls_from_the_client("forward")

    def test_not_tls_a_client_speaking_http_to_a_tls_port_connect(self):
        self.not_tls_from_the_client("connect")

    # ============================================================================ alert_other
    def test_alert_other_no_application_protocol(self):
        # RFC 7301 §3.2: a server that supports none of the client's protocols answers
        # no_application_protocol. The server has h2 only; the clients offer http/1.1 only.
        srv = self.server(ss.SServer(self.tmp(), "-alpn", "h2"))
        clients = (("s_client", lambda r: ss.s_client(r, "-alpn", "http/1.1")),
                   ("curl --http1.1", lambda r: ss.curl(r, "--http1.1")))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"(?i)alert no application protocol", run)
                    ctx = self.check(rec, "alert_other", mode, conn["port"])
                    hello = self.check_hello(rec, conn)
                    self.assertEqual(hello["alpn"], ["http/1.1"])
                    self.assertEqual(ss.clear_alerts(rec),
                                     [("server", "no_application_protocol")], ctx)
                    self.assertEqual(field(rec, "tlsglass.alerts")[0]["code"], 120, ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays("no_application_protocol", why)
                    self.assertSays("http/1.1", why)

    def test_alert_other_client_certificate_required(self):
        # s_server -Verify 1: a client certificate is required (the CertificateRequest is in
        # clear in TLS 1.2); the clients have none, so they send an empty Certificate and the
        # server fails the handshake (RFC 5246 §7.4.6: handshake_failure).
        srv = self.server(ss.SServer(self.tmp(), "-tls1_2", "-Verify", "1"))
        clients = (("s_client", lambda r: ss.s_client(r, "-tls1_2")),
                   ("curl", lambda r: ss.curl(r, "--tls-max", "1.2")))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"(?i)alert handshake.failure", run)
                    self.assertIn("peer did not return a certificate", srv.output())
                    ctx = self.check(rec, "alert_other", mode, conn["port"])
                    self.check_hello(rec, conn)
                    self.assertIs(field(rec, "tlsglass.client_certificate_requested"), True, ctx)
                    self.assertEqual(ss.clear_alerts(rec, "server"),
                                     [("server", "handshake_failure")], ctx)
                    why = field(rec, "tlsglass.explanation")
                    self.assertSays("handshake_failure", why)
                    self.assertSays("client certificate", why)

    def test_alert_other_client_certificate_required_tls13(self):
        # TLS 1.3 encrypts the CertificateRequest, and the server checks the client's (empty)
        # Certificate after the client's Finished, when the wire already shows both flights:
        # it answers with an encrypted certificate_required alert (RFC 8446 §4.4.2.4) and
        # closes, where a good server sends tickets or its response.
        srv = self.server(ss.SServer(self.tmp(), "-tls1_3", "-Verify", "1"))
        clients = (("s_client", lambda r: ss.s_client(r, "-tls1_3")),
                   ("curl", lambda r: ss.curl(r, "--tlsv1.3")))
        for mode in MODES:
            for name, client in clients:
                with self.subTest(mode=mode, client=name):
                    run, (rec,), conn = self.through(mode, srv.port, client)
                    self.assertNotEqual(run.rc, 0, run)
                    self.assertRegex(run.text, r"(?i)alert certificate required", run)
                    ctx = self.check(rec, "alert_other", mode, conn["port"])
                    self.check_hello(rec, conn)
                    self.assertEqual(field(rec, "tls.version"), "1.3", ctx)
                    self.assertIs(field(rec, "tlsglass.inferred"), True, ctx)
                    self.assertSays("client certificate", field(rec, "tlsglass.explanation"))


def same_hello(record, c2s):
    """Whether the ClientHello at the start of `c2s` is the record's (size and JA4)."""
    try:
        hello = support.parse_client_hello(c2s)
    except (AssertionError, IndexError):
        return False
    return (field(record, "tls.client.hello_bytes") == hello["bytes"] and
            field(record, "tls.client.ja4") == support.ja4(hello))


if __name__ == "__main__":
    unittest.main(verbosity=2)
