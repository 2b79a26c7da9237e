#!/usr/bin/env python3
"""sni and socks5 modes between real programs on loopback.

sni: the proxy reads the ClientHello and connects to the server its SNI names - through
--resolve overrides (several names to several openssl s_servers, each with its own
certificate, so the page and the certificate the client verified say where it went), to the
listening port when the override gives none, to --default-upstream or an RST (with a no_sni
record) when there is no SNI, and never to itself.

socks5: curl --socks5-hostname (the proxy resolves the name), curl --socks5 (curl resolves, sends
an IPv4 address), curl --proxy-user against --socks-auth (RFC 1929), headless Chromium with
--proxy-server=socks5://. The clients' own exit codes and messages say whether they got through.
"""
import base64
import datetime
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import support  # noqa: E402
from support import HOST, LOOPBACK, WRONG_HOST, field  # noqa: E402

UTC = datetime.timezone.utc
CLIENT_TIMEOUT = 60


def curl(*args):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(["curl", "-sS", "--max-time", "20", *[str(a) for a in args]],
                          capture_output=True, text=True, env=env, timeout=CLIENT_TIMEOUT)


def spki_sha256_b64(pem):
    pub = support.sh(["openssl", "x509", "-in", str(pem), "-noout", "-pubkey"])
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.encode(),
                         capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def served_by(pem):
    """The leaf's subject CN, as `openssl x509` prints it."""
    return support.sh(["openssl", "x509", "-in", str(pem), "-noout", "-subject", "-nameopt",
                       "RFC2253"]).strip()


class _Case(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        support.need_tlsglass()
        support.need("openssl", "curl")
        self.tmp = support.make_tmp(self)

    def server(self, cert="rsa", host=LOOPBACK, port=None):
        if host == LOOPBACK:
            # Each server its own www/: each page is its own, so the page says who answered.
            self.servers = getattr(self, "servers", 0) + 1
            directory = self.tmp / f"server-{self.servers}"
            directory.mkdir()
            server = support.OpensslServer(directory, cert=cert, port=port)
            self.addCleanup(server.stop)
            return server
        # openssl s_server on another loopback address (127.0.0.2): OpensslServer is 127.0.0.1.
        p = support.pki()
        certfile, keyfile = {"rsa": (p.rsa, p.rsa_key), "wrong": (p.wrong, p.wrong_key)}[cert]
        www = self.tmp / f"www-{host}"
        www.mkdir(exist_ok=True)
        body = support.write_hello(www)
        accept = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        proc = support.Process(["openssl", "s_server", "-accept", accept, "-cert",
                                certfile, "-key", keyfile, "-WWW"], www, f"s_server-{host}.log")
        self.addCleanup(proc.stop)
        support.wait_until(lambda: support.listening(port), 20, f"s_server on {host}:{port}")
        proc.body = body
        return proc

    def record_for(self, records, client_port=None, sni=None):
        for r in records:
            if sni is not None and field(r, "tls.client.server_name") == sni:
                return r
        self.fail(f"no record with SNI {sni}: {[field(r, 'tls.client.server_name') for r in records]}")


class SniMode(_Case):
    def test_several_names_to_several_servers_through_resolve(self):
        good = self.server("rsa")      # app.tlsglass.test
        other = self.server("wrong")   # other.tlsglass.test
        proxy = support.start_proxy(self, self.tmp, "--mode", "sni",
                                    "--resolve", f"{HOST}={LOOPBACK}:{good.port}",
                                    "--resolve", f"{WRONG_HOST.upper()}={LOOPBACK}:{other.port}")
        ca = support.pki().ca
        for name, server in ((HOST, good), (WRONG_HOST, other)):
            run = curl("--cacert", ca, "--resolve", f"{name}:{proxy.port}:{LOOPBACK}",
                       f"https://{name}:{proxy.port}/hello.txt")
            # curl verified a certificate for `name` from the test CA: the right server answered.
            self.assertEqual(run.returncode, 0, f"curl to {name} through sni mode: {run.stderr}")
            self.assertEqual(run.stdout, server.body.decode())
        records = proxy.wait_records(2)
        for name, server in ((HOST, good), (WRONG_HOST, other)):
            rec = self.record_for(records, sni=name)
            self.assertEqual(field(rec, "tlsglass.mode"), "sni")
            self.assertEqual(field(rec, "tlsglass.cause"), "ok", rec)
            self.assertEqual(field(rec, "destination.port"), server.port)
            self.assertEqual(field(rec, "destination.ip"), LOOPBACK)
            self.assertEqual(field(rec, "destination.domain"), name)
            self.assertIsNone(field(rec, "tlsglass.prelude"), "no bytes before the ClientHello")

    def test_the_port_defaults_to_the_one_the_client_connected_to(self):
        port = support.free_port()
        server = self.server("rsa", host="127.0.0.2", port=port)
        proxy = support.start_proxy(self, self.tmp, "--mode", "sni", "--listen",
                                    f"{LOOPBACK}:{port}", "--resolve", f"{HOST}=127.0.0.2")
        run = curl("--cacert", support.pki().ca, "--resolve", f"{HOST}:{port}:{LOOPBACK}",
                   f"https://{HOST}:{port}/hello.txt")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, server.body.decode())
        rec = proxy.wait_records(1)[0]
        self.assertEqual((field(rec, "destination.ip"), field(rec, "destination.port")),
                         ("127.0.0.2", port))

    def test_no_sni_without_a_default_is_reset_with_a_no_sni_record(self):
        server = self.server("rsa")
        proxy = support.start_proxy(self, self.tmp, "--mode", "sni",
                                    "--resolve", f"{HOST}={LOOPBACK}:{server.port}")
        # Python's ssl sends no server_name when it is given none (RFC 6066 §3 is optional).
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((LOOPBACK, proxy.port), timeout=20) as sock:
            with self.assertRaises((ConnectionResetError, ssl.SSLError, OSError)) as caught:
                with ctx.wrap_socket(sock, server_hostname=None):
                    pass
        self.assertTrue(isinstance(caught.exception, ConnectionResetError) or
                        "reset" in str(caught.exception).lower() or
                        "EOF" in str(caught.exception), caught.exception)
        rec = proxy.wait_records(1)[0]
        self.assertEqual(field(rec, "tlsglass.cause"), "no_sni", rec)
        self.assertIn("--default-upstream", field(rec, "tlsglass.explanation"))
        self.assertTrue(field(rec, "tlsglass.client_hello_seen", True))
        self.assertIsNone(field(rec, "tls.client.server_name"))
        self.assertIsNotNone(field(rec, "tls.client.ja4"), "the hello was parsed")

    def test_no_sni_goes_to_the_default_upstream(self):
        server = self.server("rsa")
        proxy = support.start_proxy(self, self.tmp, "--mode", "sni",
                                    "--default-upstream", f"{LOOPBACK}:{server.port}")
        # curl sends no SNI to an IP literal (RFC 6066 §3: literal addresses are not allowed).
        run = curl("-k", f"https://{LOOPBACK}:{proxy.port}/hello.txt")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, server.body.decode())
        rec = proxy.wait_records(1)[0]
        self.assertIsNone(field(rec, "tls.client.server_name"))
        self.assertEqual(field(rec, "destination.port"), server.port)
        self.assertTrue(field(rec, "tls.established"), rec)
        # Whatever the verdict, the record says how the server was chosen.
        self.assertIn(f"client sent no SNI: sni mode sent it to --default-upstream "
                      f"{LOOPBACK}:{server.port}", field(rec, "tlsglass.explanation"))

    def test_a_name_that_resolves_to_the_proxy_is_not_a_loop(self):
        server = self.server("rsa")
        port = support.free_port()
        proxy = support.start_proxy(self, self.tmp, "--mode", "sni", "--listen",
                                    f"{LOOPBACK}:{port}",
                                    "--resolve", f"{WRONG_HOST}={LOOPBACK}:{port}",
                                    "--resolve", f"{HOST}={LOOPBACK}:{server.port}")
        looped = curl("-k", "--resolve", f"{WRONG_HOST}:{port}:{LOOPBACK}",
                      f"https://{WRONG_HOST}:{port}/hello.txt")
        self.assertNotEqual(looped.returncode, 0)
        good = curl("--cacert", support.pki().ca, "--resolve", f"{HOST}:{port}:{LOOPBACK}",
                    f"https://{HOST}:{port}/hello.txt")
        self.assertEqual(good.returncode, 0, good.stderr)
        records = proxy.wait_records(2)
        self.assertEqual(len(records), 2, "one record each: the loop did not feed itself")
        rec = self.record_for(records, sni=WRONG_HOST)
        self.assertEqual(field(rec, "tlsglass.cause"), "upstream_unreachable")
        self.assertIn("the proxy itself", field(rec, "tlsglass.explanation"))

    def test_a_name_dns_does_not_know_is_upstream_unreachable(self):
        proxy = support.start_proxy(self, self.tmp, "--mode", "sni")
        name = "no-such-name.invalid"  # RFC 6761 §6.4: never resolves
        run = curl("-k", "--resolve", f"{name}:{proxy.port}:{LOOPBACK}",
                   f"https://{name}:{proxy.port}/")
        self.assertNotEqual(run.returncode, 0)
        rec = proxy.wait_records(1)[0]
        self.assertEqual(field(rec, "tlsglass.cause"), "upstream_unreachable")
        self.assertIn(f"cannot resolve {name}", field(rec, "tlsglass.explanation"))


class Socks5Mode(_Case):
    @classmethod
    def setUpClass(cls):
        now = datetime.datetime.now(UTC)
        day = datetime.timedelta(days=1)
        # --socks5-hostname makes the proxy resolve the name: "localhost" is one it can.
        cls.localhost = support.pki().dated_leaf("socks-localhost", now - day, now + 30 * day,
                                                  cn="localhost")

    def test_curl_socks5_hostname_the_proxy_resolves_the_name(self):
        server = self.server(self.localhost)
        proxy = support.start_proxy(self, self.tmp, "--mode", "socks5")
        run = curl("--cacert", support.pki().ca, "--socks5-hostname", proxy.address(),
                   f"https://localhost:{server.port}/hello.txt")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, server.body.decode())
        rec = proxy.wait_records(1)[0]
        self.assertEqual(field(rec, "tlsglass.mode"), "socks5")
        self.assertEqual(field(rec, "tlsglass.cause"), "ok", rec)
        self.assertEqual(field(rec, "tls.client.server_name"), "localhost")
        self.assertEqual(field(rec, "destination.domain"), "localhost")
        self.assertEqual(field(rec, "destination.port"), server.port)
        self.assertEqual(field(rec, "tlsglass.prelude.kind"), "socks5")

    def test_curl_socks5_sends_an_address(self):
        server = self.server("rsa")
        proxy = support.start_proxy(self, self.tmp, "--mode", "socks5")
        run = curl("--cacert", support.pki().ca, "--socks5", proxy.address(),
                   "--resolve", f"{HOST}:{server.port}:{LOOPBACK}",
                   f"https://{HOST}:{server.port}/hello.txt")
        self.assertEqual(run.returncode, 0, run.stderr)
        rec = proxy.wait_records(1)[0]
        self.assertEqual(field(rec, "tlsglass.cause"), "ok", rec)
        self.assertEqual(field(rec, "destination.ip"), LOOPBACK)
        self.assertEqual(field(rec, "tls.client.server_name"), HOST)

    def test_an_ipv6_target(self):
        if not support.ipv6_loopback():
            self.skipTest("no IPv6 on loopback here")
        port = support.free_port()
        server = self.server("rsa", host="::1", port=port)
        proxy = support.start_proxy(self, self.tmp, "--mode", "socks5")
        # curl resolves the name (--resolve) and sends the IPv6 address: ATYP X'04'.
        run = curl("--cacert", support.pki().ca, "--socks5", proxy.address(),
                   "--resolve", f"{HOST}:{port}:[::1]", f"https://{HOST}:{port}/hello.txt")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, server.body.decode())
        rec = proxy.wait_records(1)[0]
        self.assertEqual(field(rec, "tlsglass.cause"), "ok", rec)
        self.assertEqual((field(rec, "destination.ip"), field(rec, "destination.port")),
                         ("::1", port))

    def test_username_and_password(self):
        server = self.server(self.localhost)
        proxy = support.start_proxy(self, self.tmp, "--mode", "socks5",
                                    "--socks-auth", "alice:s3cret")
        url = f"https://localhost:{server.port}/hello.txt"
        good = curl("--cacert", support.pki().ca, "--socks5-hostname", proxy.address(),
                    "--proxy-user", "alice:s3cret", url)
        self.assertEqual(good.returncode, 0, good.stderr)
        bad = curl("--cacert", support.pki().ca, "--socks5-hostname", proxy.address(),
                   "--proxy-user", "alice:wrong", url)
        self.assertEqual(bad.returncode, 97, f"curl: proxy handshake error\n{bad.stderr}")
        none = curl("--cacert", support.pki().ca, "--socks5-hostname", proxy.address(), url)
        self.assertEqual(none.returncode, 97, none.stderr)
        records = proxy.wait_records(3)
        causes = sorted(field(r, "tlsglass.cause") for r in records)
        self.assertEqual(causes, ["ok", "upstream_unreachable", "upstream_unreachable"], records)
        explanations = " | ".join(field(r, "tlsglass.explanation") for r in records)
        self.assertIn("username/password refused", explanations)
        self.assertIn("offers no username/password", explanations)

    def test_a_refused_server_is_told_to_curl(self):
        proxy = support.start_proxy(self, self.tmp, "--mode", "socks5")
        port = support.free_port()
        run = curl("--socks5-hostname", proxy.address(), f"https://localhost:{port}/")
        self.assertEqual(run.returncode, 97, run.stderr)
        # curl names the REP code it got: X'05' is "connection refused" (RFC 1928 §6).
        self.assertIn("(5)", run.stderr)
        rec = proxy.wait_records(1)[0]
        self.assertEqual(field(rec, "tlsglass.cause"), "upstream_unreachable")
        self.assertIn("SOCKS5 reply: connection refused", field(rec, "tlsglass.explanation"))

    def test_a_replay_of_the_captures_gives_the_live_causes(self):
        """The capture holds the SOCKS5 exchange as the client saw it: its replay must read the
        tunnel after it, and a failure reply as the reason the tunnel never opened."""
        server = self.server(self.localhost)
        captures = self.tmp / "captures"
        proxy = support.start_proxy(self, self.tmp, "--mode", "socks5", "--capture-dir",
                                    captures, "--capture", "all")
        good = curl("--cacert", support.pki().ca, "--socks5-hostname", proxy.address(),
                    f"https://localhost:{server.port}/hello.txt")
        self.assertEqual(good.returncode, 0, good.stderr)
        refused = curl("--socks5", proxy.address(), f"https://{LOOPBACK}:{support.free_port()}/")
        self.assertEqual(refused.returncode, 97, refused.stderr)
        live = {field(r, "tlsglass.conn"): r for r in support.stop_and_read(self, proxy)}
        self.assertEqual(sorted(field(r, "tlsglass.cause") for r in live.values()),
                         ["ok", "upstream_unreachable"])
        for rec in live.values():
            pcap = field(rec, "tlsglass.capture")
            self.assertTrue(pcap, f"a capture for {rec}")
            run = subprocess.run([support.BIN, "replay", "--json", pcap], capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            replayed = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
            self.assertEqual(len(replayed), 1, run.stdout)
            for name in ("tlsglass.cause", "tls.client.server_name", "tls.cipher",
                         "destination.port", "tlsglass.prelude.kind"):
                self.assertEqual(field(replayed[0], name), field(rec, name), name)
            if field(rec, "tlsglass.cause") != "ok":
                self.assertIn("X'05' (connection refused)", field(replayed[0], "tlsglass.explanation"))

    def test_chromium(self):
        support.need("chromium")
        server = self.server(self.localhost)
        proxy = support.start_proxy(self, self.tmp, "--mode", "socks5")
        profile = self.tmp / "chromium-profile"
        profile.mkdir()
        argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", f"--explicitly-allowed-ports={server.port}",
                f"--proxy-server=socks5://{proxy.address()}", "--proxy-bypass-list=<-loopback>",
                f"--ignore-certificate-errors-spki-list={spki_sha256_b64(self.localhost[0])}",
                "--dump-dom", f"https://localhost:{server.port}/hello.txt"]
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["HOME"] = str(self.tmp)
        run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=90,
                             start_new_session=True)
        self.assertIn(server.body.decode().strip(), run.stdout, run.stderr[-2000:])
        records = [r for r in proxy.wait_records(1)
                   if field(r, "destination.port") == server.port]
        self.assertTrue(records, proxy.records())
        rec = records[0]
        self.assertEqual(field(rec, "tlsglass.cause"), "ok", rec)
        self.assertEqual(field(rec, "tls.client.server_name"), "localhost")
        self.assertEqual(field(rec, "tlsglass.prelude.kind"), "socks5")


if __name__ == "__main__":
    unittest.main(verbosity=2)
