#!/usr/bin/env python3
"""The live proxy between real TLS programs: openssl s_server, nginx and gnutls-serv as servers;
curl, openssl s_client, gnutls-cli and Python's ssl module as clients; CONNECT mode (curl -x,
s_client -proxy, a CONNECT written by hand for Python) and forward mode (--upstream; curl
--connect-to, the others straight at the proxy's port).

Each case runs the client twice with the same options: straight to the server (the baseline) and
through the proxy. The client must succeed through the proxy exactly as it did without it (same
protocol, cipher, ALPN and body, as the client itself reports them). Between the proxy and the
server sits a byte-recording relay of the tests' own (support.Tap): the ClientHello the server
received and the ServerHello the client received are read from those bytes by the tests' own
parser, and they — with the client's own report — are what the proxy's record is compared with:
SNI, offered versions, ciphers (IANA names from `openssl ciphers -stdname`) and ALPN, JA4 (FoxIO's
specification, computed here), the selected version and cipher, the ALPN chosen, established,
cause ok.
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import support  # noqa: E402
from support import HOST, LOOPBACK, field  # noqa: E402

CLIENT_TIMEOUT = 60  # a hang guard
HTTP_GET = f"GET /hello.txt HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode()


def client_env():
    """The environment for client programs: no proxy variables of the caller's."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_COLOR"] = "1"
    return env


class Outcome:
    """What a client says about its own connection."""

    def __init__(self, ok, version=None, cipher=None, alpn=None, body=None, offered_alpn=None,
                 text=""):
        self.ok = ok
        self.version = version      # "1.3", "1.2"
        self.cipher = cipher        # IANA name
        self.alpn = alpn            # the protocol the client says the server accepted, or None
        self.body = body            # the HTTP body it got (bytes) or None
        self.offered_alpn = offered_alpn
        self.text = text

    def key(self):
        return (self.ok, self.version, self.cipher, self.alpn, self.body)

    def __repr__(self):
        return (f"Outcome(ok={self.ok}, version={self.version}, cipher={self.cipher}, "
                f"alpn={self.alpn}, body={self.body!r:.60})")


def tls_version(text):
    """'TLSv1.3' / 'TLS1.3' -> '1.3'."""
    m = re.match(r"TLS\s*v?(1\.[0-3])$", text.strip())
    return m[1] if m else text


def run(argv, stdin=b""):
    try:
        r = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True,
                           timeout=CLIENT_TIMEOUT, env=client_env())
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"client hung for {CLIENT_TIMEOUT} s: {' '.join(map(str, argv))}\n"
                             f"{(e.stderr or b'').decode(errors='replace')[-1500:]}")
    return r


# ------------------------------------------------------------------------------- the clients
# Each client takes `route`: ("direct", server_port), ("forward", proxy_port) or
# ("connect", proxy_port, target_port) and returns an Outcome.

def curl(route, *flags):
    support.need("curl")
    ca = support.pki().ca
    argv = ["curl", "-sS", "-v", "--max-time", "30", "--cacert", ca, "-o", "-"]
    kind = route[0]
    if kind == "direct" or kind == "forward":
        argv += ["--connect-to", f"{HOST}:443:{LOOPBACK}:{route[1]}"]
    else:
        # curl sends `CONNECT 127.0.0.1:TARGET` (the --connect-to destination) and the TLS
        # handshake inside the tunnel keeps SNI app.tlsglass.test.
        argv += ["-x", f"http://{LOOPBACK}:{route[1]}",
                 "--connect-to", f"{HOST}:443:{LOOPBACK}:{route[2]}"]
    argv += [*flags, f"https://{HOST}/hello.txt"]
    r = run(argv)
    err = r.stderr.decode(errors="replace")
    m = re.search(r"SSL connection using (\S+) / (\S+)", err)
    accepted = re.search(r"ALPN[:,] server accepted(?: to use)? (\S+)", err)
    offers = re.search(r"ALPN[:,] offers (\S+)", err)
    return Outcome(r.returncode == 0,
                   version=tls_version(m[1]) if m else None,
                   cipher=support.iana_cipher(m[2]) if m else None,
                   alpn=accepted[1] if accepted else None,
                   body=r.stdout if r.returncode == 0 else None,
                   offered_alpn=offers[1].split(",") if offers else None,
                   text=f"curl exit {r.returncode}\n{err[-3000:]}")


def s_client(route, *flags, alpn="h2,http/1.1"):
    support.need("openssl")
    ca = support.pki().ca
    argv = ["openssl", "s_client"]
    kind = route[0]
    if kind in ("direct", "forward"):
        argv += ["-connect", f"{LOOPBACK}:{route[1]}"]
    else:
        argv += ["-proxy", f"{LOOPBACK}:{route[1]}", "-connect", f"{LOOPBACK}:{route[2]}"]
    argv += ["-servername", HOST, "-CAfile", ca, "-verify_return_error", "-verify_hostname", HOST,
             "-ign_eof", *flags]
    if alpn:
        argv += ["-alpn", alpn]
    r = run(argv, HTTP_GET)
    out = r.stdout.decode(errors="replace")
    proto = re.search(r"^\s*Protocol\s*: (\S+)", out, re.M)
    cipher = re.search(r"^\s*Cipher\s*: (\S+)", out, re.M)
    chosen = re.search(r"^ALPN protocol: (\S+)", out, re.M)
    verified = re.search(r"Verify return code: 0 \(ok\)", out)
    body = None
    if b"\r\n\r\n" in r.stdout:
        # s_client prints its own lines after the data (session tickets, "closed").
        body = re.split(rb"(?m)^(?:closed$|read R BLOCK$|---$|Post-Handshake New Session Ticket)",
                        r.stdout.split(b"\r\n\r\n", 1)[1])[0]
    ok = r.returncode == 0 and bool(verified) and cipher is not None and cipher[1] != "0000"
    return Outcome(ok,
                   version=tls_version(proto[1]) if proto else None,
                   cipher=support.iana_cipher(cipher[1]) if cipher and cipher[1] != "0000" else None,
                   alpn=chosen[1] if chosen else None,
                   body=body if ok else None,
                   offered_alpn=alpn.split(",") if alpn else [],
                   text=f"s_client exit {r.returncode}\n{out[-2500:]}\n"
                        f"{r.stderr.decode(errors='replace')[-1500:]}")


GNUTLS_CIPHERS_13 = {"AES-128-GCM": "TLS_AES_128_GCM_SHA256",
                     "AES-256-GCM": "TLS_AES_256_GCM_SHA384",
                     "CHACHA20-POLY1305": "TLS_CHACHA20_POLY1305_SHA256"}  # RFC 8446 B.4


def gnutls_cli(route, *flags, alpn=("http/1.1",)):
    """gnutls-cli has no HTTP proxy support: direct or forward routes only."""
    support.need("gnutls-cli")
    if route[0] == "connect":
        raise ValueError("gnutls-cli cannot use a CONNECT proxy")
    ca = support.pki().ca
    argv = ["gnutls-cli", "--x509cafile", ca, "--port", str(route[1]), "--sni-hostname", HOST,
            "--verify-hostname", HOST, *flags]
    for proto in alpn:
        argv += ["--alpn", proto]
    argv.append(LOOPBACK)
    r = run(argv, HTTP_GET)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    # - Description: (TLS1.3-X.509)-(ECDHE-SECP256R1)-(RSA-PSS-RSAE-SHA256)-(AES-256-GCM)
    desc = re.search(r"- Description: \((TLS1\.\d)-[^)]*\)-.*-\(([A-Z0-9-]+)\)\s*$", out, re.M)
    chosen = re.search(r"- Application protocol: (\S+)", out)
    completed = "Handshake was completed" in out
    version = tls_version(desc[1]) if desc else None
    cipher = None
    if desc:
        # TLS 1.3 suites are named by their AEAD (RFC 8446 B.4); for TLS 1.2 keep GnuTLS's
        # AEAD name, which the IANA name of the suite must contain (checked in the test).
        cipher = GNUTLS_CIPHERS_13.get(desc[2]) if version == "1.3" else desc[2]
    body = None
    if b"\r\n\r\n" in r.stdout:
        # gnutls-cli prints its own status lines ("- Peer has closed ...") after the data.
        body = re.split(rb"(?m)^(?:- Peer has closed|\*\*\* )", r.stdout.split(b"\r\n\r\n", 1)[1])[0]
    ok = r.returncode == 0 and completed
    return Outcome(ok, version=version, cipher=cipher, alpn=chosen[1] if chosen else None,
                   body=body if ok else None, offered_alpn=list(alpn),
                   text=f"gnutls-cli exit {r.returncode}\n{out[-3000:]}")


def python_ssl(route, minimum=None, maximum=None, alpn=("http/1.1",), ciphers=None):
    ctx = ssl.create_default_context(cafile=str(support.pki().ca))
    versions = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if minimum:
        ctx.minimum_version = versions[minimum]
    if maximum:
        ctx.maximum_version = versions[maximum]
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    try:
        if route[0] == "connect":
            sock, status, reason, headers, rest = support.proxy_connect(
                route[1], support.format_target(LOOPBACK, route[2]))
            if status != 200:
                sock.close()
                return Outcome(False, text=f"CONNECT answered {status} {reason}")
            if rest:
                sock.close()
                return Outcome(False, text=f"{len(rest)} bytes after the 200 head")
        else:
            sock = socket.create_connection((LOOPBACK, route[1]), timeout=30)
        with sock, ctx.wrap_socket(sock, server_hostname=HOST) as tls:
            tls.sendall(HTTP_GET)
            answer = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                answer += chunk
            body = answer.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in answer else None
            return Outcome(True, version=tls_version(tls.version()),
                           cipher=support.iana_cipher(tls.cipher()[0]),
                           alpn=tls.selected_alpn_protocol(), body=body,
                           offered_alpn=list(alpn) if alpn else [],
                           text=f"python {tls.version()} {tls.cipher()}")
    except (ssl.SSLError, OSError) as e:
        return Outcome(False, text=f"python ssl: {type(e).__name__}: {e}")


# --------------------------------------------------------------------------------- the tests
class RealPeers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.need_tlsglass()
        support.need("openssl")
        cls.tmp = support.make_tmp()
        support.pki()
        cls.servers = {}

    @classmethod
    def server(cls, name):
        """The class's servers, started on first use and stopped at the end of the class."""
        if name not in cls.servers:
            d = cls.tmp / name
            d.mkdir()
            if name == "s_server-1.3":
                srv = support.OpensslServer(d, "-tls1_3", "-alpn", "http/1.1")
            elif name == "s_server-1.2":
                srv = support.OpensslServer(d, "-tls1_2", "-alpn", "http/1.1")
            elif name == "s_server":  # TLS 1.2 and 1.3
                srv = support.OpensslServer(d, "-alpn", "http/1.1")
            elif name == "nginx":
                srv = support.Nginx(d, [{"protocols": "TLSv1.3"}, {"protocols": "TLSv1.2"}])
            elif name == "gnutls-serv":
                srv = support.GnutlsServer(d)
            else:
                raise KeyError(name)
            cls.addClassCleanup(srv.stop)
            cls.servers[name] = srv
        return cls.servers[name]

    def server_port(self, name):
        if name == "nginx-1.3":
            return self.server("nginx").ports[0]
        if name == "nginx-1.2":
            return self.server("nginx").ports[1]
        return self.server(name).port

    def expected_body(self, name):
        return self.server(name.split("-1.")[0] if name.startswith("nginx") else name).body

    # ---------------------------------------------------------------------------- one case
    def through_proxy(self, client, server, mode, **client_kw):
        """Baseline (client -> server), then client -> proxy -> tap -> server. Returns
        (baseline, outcome, record, tap connection)."""
        port = self.server_port(server)
        baseline = client(("direct", port), **client_kw)
        self.assertTrue(baseline.ok, f"the client fails even without the proxy: {baseline.text}")

        tmp = support.make_tmp(self)
        tap = support.start_tap(self, port)
        if mode == "forward":
            proxy = support.start_proxy(self, tmp, "--upstream", f"{LOOPBACK}:{tap.port}")
            route = ("forward", proxy.port)
        else:
            proxy = support.start_proxy(self, tmp, "--mode", "connect")
            route = ("connect", proxy.port, tap.port)
        self.assertEqual(proxy.mode, mode, "the mode in the listening line")
        outcome = client(route, **client_kw)
        conns = tap.wait(1)
        records = support.stop_and_read(self, proxy)
        self.assertEqual(len(tap.conns), 1, "connections that reached the server")

        # The client: the same result as without the proxy.
        self.assertTrue(outcome.ok, f"the client failed through the proxy:\n{outcome.text}\n"
                                    f"proxy stderr:\n{proxy.stderr()[-1500:]}")
        self.assertEqual(outcome.key(), baseline.key(),
                         f"the client saw something else through the proxy:\n{outcome.text}")
        self.assertEqual(outcome.body, self.expected_body(server), "the body the client got")

        self.assertEqual(len(records), 1, f"one record per connection: {records}")
        record = records[0]
        self.check_record(record, conns[0], outcome, mode, tap.port)
        return baseline, outcome, record, conns[0]

    def check_record(self, record, conn, outcome, mode, dest_port):
        hello = support.parse_client_hello(conn["c2s"])
        server_hello = support.parse_server_hello(conn["s2c"])
        client = field(record, "tls.client")
        self.assertIsInstance(client, dict, f"no tls.client in {record}")
        ctx = f"record: {record}"

        # SNI: what the client was told to send, and what the server got.
        self.assertEqual(hello["sni"], HOST)
        self.assertEqual(client.get("server_name"), HOST, ctx)
        self.assertEqual(field(record, "destination.domain"), HOST, ctx)

        # Offered versions, in wire order ("1.3", "1.2"; absent when the hello has none).
        if hello["versions"]:
            self.assertEqual(client.get("supported_versions"),
                             [support.version_name(v) for v in hello["versions"]], ctx)
        else:
            self.assertNotIn("supported_versions", client, ctx)

        # Offered cipher suites, in wire order, by IANA name.
        offered = client.get("supported_ciphers")
        self.assertIsInstance(offered, list, ctx)
        self.assertEqual(len(offered), len(hello["ciphers"]), ctx)
        for code, name in zip(hello["ciphers"], offered):
            expected = "GREASE" if support.is_grease(code) else support.iana_cipher(code)
            if expected:
                self.assertEqual(name, expected, f"cipher 0x{code:04x}")
            else:
                self.assertEqual(name, f"0x{code:04x}", f"cipher 0x{code:04x} unknown to openssl")

        # Offered ALPN: what the client was configured with, in order.
        self.assertEqual(hello["alpn"], outcome.offered_alpn or [],
                         "the ALPN list the server got vs the client's own")
        if hello["alpn"]:
            self.assertEqual(client.get("alpn"), hello["alpn"], ctx)
        else:
            self.assertNotIn("alpn", client, ctx)

        # JA4, computed here from the bytes the server got.
        ja4 = client.get("ja4")
        self.assertIsNotNone(ja4, ctx)
        self.assertRegex(ja4, support.JA4_RE)
        self.assertEqual(ja4, support.ja4(hello), "JA4 per FoxIO's JA4.md")

        # What the server selected: the ServerHello the client got, and the client's own words.
        self.assertEqual(field(record, "tls.version"), support.version_name(server_hello["version"]),
                         ctx)
        self.assertEqual(field(record, "tls.version"), outcome.version, ctx)
        self.assertEqual(field(record, "tls.version_protocol"), "tls", ctx)
        self.assertEqual(field(record, "tls.cipher"), support.iana_cipher(server_hello["cipher"]),
                         ctx)
        if outcome.cipher and outcome.cipher.startswith("TLS_"):
            self.assertEqual(field(record, "tls.cipher"), outcome.cipher, ctx)
        elif outcome.cipher:  # gnutls-cli, TLS 1.2: its AEAD name is part of the IANA name
            self.assertIn(outcome.cipher.replace("-", "_"), field(record, "tls.cipher"), ctx)

        # ALPN chosen: visible in a TLS 1.2 ServerHello; in TLS 1.3 it is encrypted
        # (EncryptedExtensions), so the record must not claim to know it.
        if outcome.version == "1.2":
            self.assertEqual(server_hello["alpn"], outcome.alpn)
            self.assertEqual(field(record, "tls.next_protocol"), outcome.alpn, ctx)
        else:
            self.assertIsNone(server_hello["alpn"])
            self.assertIsNone(field(record, "tls.next_protocol"),
                              f"TLS 1.3 hides the ALPN choice; the record invented one: {ctx}")

        self.assertIs(field(record, "tls.established"), True, ctx)
        self.assertEqual(field(record, "tlsglass.cause"), "ok", ctx)
        self.assertEqual(field(record, "event.outcome"), "success", ctx)
        self.assertEqual(field(record, "tlsglass.mode"), mode, ctx)
        self.assertEqual(field(record, "source.ip"), LOOPBACK, ctx)
        self.assertEqual(field(record, "destination.ip"), LOOPBACK, ctx)
        self.assertEqual(field(record, "destination.port"), dest_port, ctx)

    # ------------------------------------------------------------------------------- curl
    def test_curl_connect_nginx_tls13(self):
        _, outcome, _, _ = self.through_proxy(curl, "nginx-1.3", "connect")
        self.assertEqual((outcome.version, outcome.alpn), ("1.3", "h2"))

    def test_curl_connect_nginx_tls12(self):
        _, outcome, record, _ = self.through_proxy(curl, "nginx-1.2", "connect")
        self.assertEqual((outcome.version, outcome.alpn), ("1.2", "h2"))

    def test_curl_forward_nginx_tls13(self):
        self.through_proxy(curl, "nginx-1.3", "forward")

    def test_curl_forward_s_server_tls12(self):
        _, outcome, record, _ = self.through_proxy(
            lambda route: curl(route, "--tls-max", "1.2"), "s_server", "forward")
        self.assertEqual((outcome.version, outcome.alpn), ("1.2", "http/1.1"))

    def test_curl_connect_s_server_tls13(self):
        self.through_proxy(curl, "s_server-1.3", "connect")

    # --------------------------------------------------------------------------- s_client
    def test_s_client_connect_s_server_tls13(self):
        _, outcome, record, _ = self.through_proxy(
            lambda route: s_client(route, "-tls1_3"), "s_server-1.3", "connect")
        self.assertEqual(field(record, "tls.client.supported_versions"), ["1.3"])

    def test_s_client_forward_s_server_tls12(self):
        _, outcome, record, _ = self.through_proxy(
            lambda route: s_client(route, "-tls1_2"), "s_server-1.2", "forward")
        self.assertEqual((outcome.version, outcome.alpn), ("1.2", "http/1.1"))

    def test_s_client_forward_nginx_tls12_one_cipher(self):
        # A client that offers one TLS 1.2 suite (plus the renegotiation SCSV OpenSSL adds).
        _, outcome, record, conn = self.through_proxy(
            lambda route: s_client(route, "-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305",
                                   alpn="http/1.1"), "nginx-1.2", "forward")
        self.assertEqual(outcome.cipher, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
        self.assertEqual(field(record, "tls.client.supported_ciphers"),
                         ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                          "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"])

    def test_s_client_connect_nginx_tls13(self):
        self.through_proxy(lambda route: s_client(route, "-tls1_3", alpn="http/1.1"),
                           "nginx-1.3", "connect")

    # ------------------------------------------------------------------------- gnutls-cli
    def test_gnutls_cli_forward_nginx_tls13(self):
        self.through_proxy(gnutls_cli, "nginx-1.3", "forward")

    def test_gnutls_cli_forward_s_server_tls12(self):
        _, outcome, _, _ = self.through_proxy(
            lambda route: gnutls_cli(route, "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"),
            "s_server", "forward")
        self.assertEqual(outcome.version, "1.2")

    def test_gnutls_cli_forward_gnutls_serv_tls13(self):
        self.through_proxy(lambda route: gnutls_cli(route, alpn=()), "gnutls-serv", "forward")

    # ------------------------------------------------------------------------- Python ssl
    def test_python_connect_nginx_tls13(self):
        self.through_proxy(python_ssl, "nginx-1.3", "connect")

    def test_python_connect_s_server_tls12(self):
        _, outcome, _, _ = self.through_proxy(
            lambda route: python_ssl(route, maximum="1.2", alpn=("h2", "http/1.1")),
            "s_server", "connect")
        self.assertEqual((outcome.version, outcome.alpn), ("1.2", "http/1.1"))

    def test_python_forward_nginx_tls12(self):
        self.through_proxy(lambda route: python_ssl(route, maximum="1.2"), "nginx-1.2", "forward")

    def test_python_forward_s_server_tls13_no_alpn(self):
        _, _, record, _ = self.through_proxy(lambda route: python_ssl(route, alpn=None),
                                             "s_server-1.3", "forward")
        self.assertEqual(field(record, "tls.client.ja4")[8:10], "00", "JA4 without ALPN")

    def test_python_connect_gnutls_serv(self):
        self.through_proxy(lambda route: python_ssl(route, alpn=None), "gnutls-serv", "connect")

    # ------------------------------------------------------------------ failures, faithful
    def failing_case(self, client, server, mode):
        """A client that fails without the proxy fails the same way through it; returns the
        record."""
        port = self.server_port(server)
        baseline = client(("direct", port))
        self.assertFalse(baseline.ok, f"meant to fail without the proxy: {baseline.text}")
        tmp = support.make_tmp(self)
        if mode == "forward":
            proxy = support.start_proxy(self, tmp, "--upstream", f"{LOOPBACK}:{port}")
            route = ("forward", proxy.port)
        else:
            proxy = support.start_proxy(self, tmp)
            route = ("connect", proxy.port, port)
        outcome = client(route)
        records = support.stop_and_read(self, proxy)
        self.assertEqual(outcome.key(), baseline.key(), outcome.text)
        self.assertEqual(len(records), 1, records)
        record = records[0]
        self.assertIs(field(record, "tls.established"), False, record)
        self.assertEqual(field(record, "event.outcome"), "failure", record)
        return record

    def test_version_mismatch_is_faithful_and_named(self):
        # s_client offers TLS 1.3 only; the server speaks TLS 1.2 only.
        record = self.failing_case(lambda route: s_client(route, "-tls1_3"), "s_server-1.2",
                                   "forward")
        self.assertEqual(field(record, "tls.client.supported_versions"), ["1.3"], record)
        self.assertEqual(field(record, "tlsglass.cause"), "version_mismatch", record)

    def test_cipher_mismatch_is_faithful_and_named(self):
        # TLS 1.2 both ends; the client offers only an ECDSA suite, the server has an RSA key.
        record = self.failing_case(
            lambda route: s_client(route, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256",
                                   alpn=None),
            "nginx-1.2", "connect")
        self.assertEqual(field(record, "tls.client.supported_ciphers"),
                         ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                          "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"])
        self.assertEqual(field(record, "tlsglass.cause"), "cipher_mismatch", record)

    # ---------------------------------------------------------------- the proxy's stderr
    def test_listening_line_once_then_a_human_line_per_handshake(self):
        tmp = support.make_tmp(self)
        port = self.server_port("nginx-1.3")
        proxy = support.start_proxy(self, tmp, "--upstream", f"{LOOPBACK}:{port}")
        for _ in range(2):
            self.assertTrue(python_ssl(("forward", proxy.port)).ok)
        proxy.wait_records(2)
        support.stop_and_read(self, proxy)
        lines = proxy.stderr_lines()
        listening = [l for l in lines if support.LISTENING_RE.match(l)]
        self.assertEqual(len(listening), 1, lines)
        self.assertEqual(lines[0], listening[0], "the listening line comes first")
        human = [l for l in lines[1:] if HOST in l]
        self.assertEqual(len(human), 2, f"one line per handshake naming the SNI: {lines}")
        self.assertFalse(any("\x1b" in l for l in lines), "NO_COLOR and not a TTY: no colour")


if __name__ == "__main__":
    unittest.main(verbosity=2)
