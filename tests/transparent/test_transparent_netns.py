#!/usr/bin/env python3
"""`tlsglass proxy --mode transparent` on a router, between a real client and a real server in
network namespaces of the test's own (client, router, server; replay_support.Topology's layout,
here with IPv6 too):

    client c0 10.78.1.2 fd78:1::2 <-> r0 10.78.1.1 fd78:1::1  router  r1 10.78.2.1 fd78:2::1
                                                               <-> s0 10.78.2.2 fd78:2::2 server

curl runs in the client namespace and asks for https://app.tlsglass.test/hello.txt at the
server's address; nginx serves it in the server namespace; the proxy runs in the router, where
the kernel hands it the connection:
  - REDIRECT (NAT; the original destination from SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST):
        iptables  -t nat -A PREROUTING -i r0 -p tcp -m multiport --dports 443,444,8443,9443 \
                  -j REDIRECT --to-ports 15001
        ip6tables -t nat -A PREROUTING -i r0 -p tcp --dport 443 -j REDIRECT --to-ports 15001
        tlsglass proxy --mode transparent --listen 0.0.0.0:15001   (--listen [::]:15001)
  - TPROXY (no rewrite; the original destination is the accepted socket's local address, the
    listener has IP_TRANSPARENT):
        iptables  -t mangle -A PREROUTING -i r0 -p tcp --dport 443 \
                  -j TPROXY --on-port 15001 --tproxy-mark 0x1/0x1
        ip rule add fwmark 0x1/0x1 lookup 100;  ip route add local 0.0.0.0/0 dev lo table 100
        (and the same with ip6tables, ip -6 rule, ip -6 route add local ::/0 dev lo table 100)
        tlsglass proxy --mode transparent --listen 0.0.0.0:15001 --listen [::]:15001
  - a middlebox: the proxy's connection to the server starts in the router (OUTPUT, not
    FORWARD), so a reset keyed on the SNI goes there:
        iptables -A OUTPUT -p tcp -d 10.78.2.2 --dport 443 -m string --string \
                 blocked.tlsglass.test --algo bm -j REJECT --reject-with tcp-reset
  - loops: a client that connects to the proxy's own address, and a local (OUTPUT) redirect
    that catches the proxy's own connection; --upstream-mark exempts it:
        iptables -t nat -A OUTPUT -p tcp -d 10.78.2.2 --dport 443 -m mark ! --mark 0x2 \
                 -j REDIRECT --to-ports 15002
        tlsglass proxy --mode transparent --listen 0.0.0.0:15002 --upstream-mark 0x2

The expected values come from outside tlsglass: curl's exit code, its message and its
write-out (the address it believes it reached: the server's, the kernel hid the proxy), the
local port it was told to bind (the record's source port), the page nginx serves, nginx's
access log (which address the server saw: the router's, since the proxy made that connection),
the iptables rule counters, the certificate dates the test chose, and the addresses the test
gave the namespaces. The run needs root (CI runs as root); without it, it skips.
"""
import contextlib
import datetime
import json
import os
import pathlib
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "replay"))
sys.dont_write_bytecode = True
import replay_support as rs  # noqa: E402
from replay_support import field, sh, support  # noqa: E402

HOST = support.HOST  # app.tlsglass.test: the leaf the good site serves
BLOCKED = "blocked.tlsglass.test"  # the SNI the middlebox resets
TLS_PORT = 443  # nginx, a good certificate
MISMATCH_PORT = 8443  # nginx, TLS 1.2 only, a certificate for other.tlsglass.test
EXPIRED_PORT = 9443  # nginx, TLS 1.3 only, a certificate that expired on 2021-01-01
EXPIRED = (datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
           datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc))
CLOSED_PORT = 444  # nothing listens there
PROXY_PORT = 15001
MARKED_PROXY_PORT = 15002
SINGLE_WORKER_PROXY_PORT = 15003
UPSTREAM_MARK = "0x2"
CURL_MAX_TIME = 15

# The servers in support.nginx_conf()'s config (one worker, temp paths in the temp dir), with
# an access log of who connected: the address and port the server saw, the SNI, the request.
NGINX_LOG = """\
log_format tgtp '$remote_addr|$remote_port|$server_addr|$server_port|$ssl_server_name|'
                    '$ssl_protocol|$request|$status';
    access_log {access_log} tgtp;"""
NGINX_SERVERS = """\
    server {{
        listen {ip4}:{tls_port} ssl;
        listen [{ip6}]:{tls_port} ssl;
        server_name {host};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        root {www};
    }}
    server {{
        listen {ip4}:{mismatch_port} ssl;
        server_name {host};
        ssl_certificate {wrong_cert};
        ssl_certificate_key {wrong_key};
        ssl_protocols TLSv1.2;
        ssl_session_tickets off;
        root {www};
    }}
    server {{
        listen {ip4}:{expired_port} ssl;
        server_name {host};
        ssl_certificate {expired_cert};
        ssl_certificate_key {expired_key};
        ssl_protocols TLSv1.3;
        ssl_session_tickets off;
        root {www};
    }}"""


# ---------------------------------------------------------------------- the namespaces
class Namespaces(rs.Topology):
    """replay_support.Topology's three namespaces (its exec/run/start/sysctl and its cleanup:
    every process killed, every namespace deleted), with names of this test's own (tgtp-...),
    an IPv6 network beside the IPv4 one (addresses `nodad`: usable at once) and rules in any
    table and chain of the router, found again by their comment."""

    CLIENT_IP, CLIENT_GW = "10.78.1.2", "10.78.1.1"
    SERVER_IP, SERVER_GW = "10.78.2.2", "10.78.2.1"
    CLIENT_IP6, CLIENT_GW6 = "fd78:1::2", "fd78:1::1"
    SERVER_IP6, SERVER_GW6 = "fd78:2::2", "fd78:2::1"

    def __init__(self, add_cleanup):
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces and iptables need root")
        # The kernel's own MTU and offloads (no tcpdump here), and every veth's carrier up
        # before the proxy starts: it reads its own addresses (getifaddrs) once, at start.
        super().__init__(add_cleanup, tag="tgtp-{pid}-{n}", tools=("ip", "iptables", "ip6tables"),
                         cap_offloads=False, wait_carrier=True)

    def router_sh(self, *argv, check=True):
        return sh(self.exec_argv(self.router, argv), check=check)

    def rule(self, tool, table, chain, comment, *match, add_cleanup=None):
        """`TOOL -t TABLE -A CHAIN MATCH -m comment --comment COMMENT` in the router (iptables or
        ip6tables); with add_cleanup, deleted again by it."""
        spec = [chain, *match, "-m", "comment", "--comment", comment]
        self.router_sh(tool, "-t", table, "-A", *spec)
        if add_cleanup is not None:
            add_cleanup(lambda: self.router_sh(tool, "-t", table, "-D", *spec, check=False))

    def packets(self, tool, table, chain, comment):
        """The packet counter of the router's rule with that comment (`-L -v -x -n`)."""
        out = self.router_sh(tool, "-t", table, "-L", chain, "-v", "-x", "-n").stdout
        for line in out.splitlines():
            if f"/* {comment} */" in line:
                return int(line.split()[0])
        raise AssertionError(f"no {tool} -t {table} {chain} rule /* {comment} */:\n{out}")


def wait_listening(proc, port, what):
    """Until `proc`, in another namespace, listens on `port` (IPv4 or IPv6): its namespace's
    /proc/PID/net/tcp and tcp6."""
    def listening():
        for name in ("tcp", "tcp6"):
            try:
                rows = pathlib.Path(f"/proc/{proc.pid}/net/{name}").read_text().splitlines()[1:]
            except OSError:
                continue
            if any(r.split()[3] == "0A" and int(r.split()[1].rsplit(":", 1)[1], 16) == port
                   for r in rows):
                return True
        if not proc.running():
            raise AssertionError(f"{what} exited: {proc.output()[-1500:]}")
        return False
    support.wait_until(listening, support.START_TIMEOUT, f"{what} listening on {port}")


class InNamespace:
    """What support.Proxy wants of a namespace: run_argv()."""

    def __init__(self, topology, ns):
        self.topology, self.ns = topology, ns

    def run_argv(self, argv):
        return self.topology.exec_argv(self.ns, argv)


# ------------------------------------------------------------------------ the real peers
class Site:
    """nginx in the server namespace: app.tlsglass.test on SERVER_IP:443 and [SERVER_IP6]:443
    (TLS 1.2 and 1.3), a certificate for other.tlsglass.test on SERVER_IP:8443 (TLS 1.2, so the
    certificate crosses the proxy in clear text), an expired one on SERVER_IP:9443 (TLS 1.3:
    encrypted, only --probe-certs sees it); access log of who connected."""

    def __init__(self, topology, tmp):
        support.need("nginx")
        pki = support.pki()
        expired_cert, expired_key = pki.dated_leaf("expired-2021", *EXPIRED)
        self.tmp = pathlib.Path(tmp) / "nginx"
        self.tmp.mkdir(parents=True, exist_ok=True)
        www = self.tmp / "www"
        www.mkdir(exist_ok=True)
        self.body = support.write_hello(www)
        self.access_log = self.tmp / "access.log"
        conf = self.tmp / "nginx.conf"
        servers = NGINX_SERVERS.format(
            www=www, host=HOST, ip4=topology.SERVER_IP, ip6=topology.SERVER_IP6,
            tls_port=TLS_PORT, mismatch_port=MISMATCH_PORT, cert=pki.rsa, key=pki.rsa_key,
            wrong_cert=pki.wrong, wrong_key=pki.wrong_key, expired_port=EXPIRED_PORT,
            expired_cert=expired_cert, expired_key=expired_key)
        conf.write_text(support.nginx_conf(self.tmp, servers, connections=64,
                                           access_log=NGINX_LOG.format(
                                               access_log=self.access_log)))
        self.proc = topology.start(topology.server, ["nginx", "-e", self.tmp / "error.log",
                                                     "-p", self.tmp, "-c", conf],
                                   self.tmp, "nginx.out")
        for port in (TLS_PORT, MISMATCH_PORT, EXPIRED_PORT):
            wait_listening(self.proc, port, "nginx")

    def lines(self):
        """The access log, one dict per request."""
        try:
            text = self.access_log.read_text()
        except FileNotFoundError:
            return []
        keys = ("remote_addr", "remote_port", "server_addr", "server_port", "sni", "protocol",
                "request", "status")
        out = []
        for line in text.splitlines():
            entry = dict(zip(keys, line.split("|")))
            for key in ("remote_port", "server_port", "status"):
                entry[key] = int(entry[key])
            out.append(entry)
        return out


class Curl:
    """curl's own account of one request: exit code, message (-v: how the connection ended),
    the page, and its write-out (%{json}: remote_ip/remote_port, where it believes it
    connected). It binds a local port of its own choosing (--local-port), so that the proxy's
    record of it is found by its source port even when curl is reset before it can say which
    port it had."""

    def __init__(self, run, body_path, local_port):
        self.rc, self.stderr = run.rc, run.stderr.strip()
        self.body = body_path.read_bytes() if body_path.exists() else b""
        try:
            self.info = json.loads(run.stdout) if run.stdout.strip() else {}
        except json.JSONDecodeError:
            self.info = {}
        self.local_port = local_port
        self.run = run

    @property
    def error(self):
        """curl's one-line error (the `curl: (N) ...` line)."""
        return next((l for l in self.stderr.splitlines() if l.startswith("curl: (")), "")

    def __repr__(self):
        return (f"curl exit {self.rc}: {self.error!r}; local "
                f"{self.info.get('local_ip')}:{self.info.get('local_port')} (bound "
                f"{self.local_port}), remote {self.info.get('remote_ip')}:"
                f"{self.info.get('remote_port')}\n{self.stderr[-1500:]}")


# Local ports for the clients, one each for the whole run (no TIME_WAIT in the way).
_LOCAL_PORTS = iter(range(42000 + os.getpid() % 1000 * 10, 65000))


class Rig:
    """A topology, nginx in its server namespace, and what the tests run there: curl anywhere,
    `tlsglass proxy --mode transparent` in the router."""

    def __init__(self, add_cleanup):
        support.need_tlsglass()
        support.need("curl", "nginx", "openssl")
        self.add_cleanup = add_cleanup
        self.tmp = support.make_tmp(prefix="tlsglass-transparent-")
        self.topology = Namespaces(add_cleanup)
        self.site = Site(self.topology, self.tmp)
        self.pki = support.pki()
        self.curls = 0

    def proxy(self, *args, port=PROXY_PORT, listen=None):
        """The proxy in the router namespace, on 0.0.0.0:port (or the `listen` addresses)."""
        listen = listen or [f"0.0.0.0:{port}"]
        argv = ["--mode", "transparent", *[a for l in listen for a in ("--listen", l)], *args]
        proxy = support.Proxy(self.tmp, *argv, log_name=f"records-{port}.jsonl",
                              netns=InNamespace(self.topology, self.topology.router))
        self.add_cleanup(proxy.kill)
        return proxy.start()

    def curl(self, ns, host, port, address, max_time=CURL_MAX_TIME):
        """curl https://HOST:PORT/hello.txt from namespace `ns`, HOST resolved to `address`."""
        self.curls += 1
        body = self.tmp / f"curl-{self.curls}.body"
        target = f"[{address}]" if ":" in address else address
        local_port = next(_LOCAL_PORTS)
        run = self.topology.run(ns, [
            "curl", "-sSv", "--max-time", max_time, "--cacert", self.pki.ca, "-o", body,
            "--local-port", local_port, "-w", "%{json}",
            "--resolve", f"{host}:{port}:{target}", f"https://{host}:{port}/hello.txt"],
            timeout=max_time + 30)
        curl = Curl(run, body, local_port)
        reported = curl.info.get("local_port")
        if reported and int(reported) != local_port:
            raise AssertionError(f"curl --local-port {local_port}, yet it says {reported}")
        return curl


def record_of(testcase, proxy, curl):
    """The proxy's record of curl's connection: the one whose source port is curl's."""
    found = []

    def written():
        found[:] = [r for r in proxy.records() if field(r, "source.port") == curl.local_port]
        return bool(found)
    support.wait_until(written, 20, f"a record for client port {curl.local_port}")
    testcase.assertEqual(len(found), 1, found)
    return found[0]


def assert_reset(testcase, curl):
    """curl was reset by its peer (as far as it knows, the server): while it waited for the
    connection to complete (curl 7) or for the ServerHello (curl 35)."""
    testcase.assertIn(curl.rc, (7, 35), curl)
    testcase.assertIn("Connection reset by peer", curl.stderr, curl)


def show(title, record):
    t = record.get("tlsglass", {})
    support.log(f"  {title}: {t.get('mode')} {t.get('cause')} {field(record, 'source.ip')}:"
                f"{field(record, 'source.port')} -> {field(record, 'destination.ip')}:"
                f"{field(record, 'destination.port')} sni {field(record, 'tls.client.server_name')}"
                f" (closed by {t.get('closed_by')}, {t.get('close')})\n"
                f"    explanation: {t.get('explanation')}")


def new_lines(site, before):
    """The access log lines written since `before` lines, once the request is logged."""
    support.wait_until(lambda: len(site.lines()) > before, 10, "nginx's access log line")
    time.sleep(0.1)
    return site.lines()[before:]


class _TransparentCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def make_rig(cls, redirect=None, tool="iptables"):
        """The class's Rig (cls.rig, gone at the end of the class) and its topology; with
        `redirect` (a rule comment), the client's TLS_PORT redirected to PROXY_PORT by `tool`
        in the router's nat PREROUTING."""
        rig = cls.rig = Rig(cls.addClassCleanup)
        if redirect is not None:
            rig.topology.rule(tool, "nat", "PREROUTING", redirect, "-i", "r0", "-p", "tcp",
                              "--dport", TLS_PORT, "-j", "REDIRECT", "--to-ports", PROXY_PORT)
        return rig, rig.topology

    def assert_record(self, record, fields, explanation_has=(), ctx=None):
        """Each dotted field of `record` is its value in `fields` (True, False and None: that
        very object, assertIs), and tlsglass.explanation holds each string of
        `explanation_has`. `ctx` (the record, by default) goes with every failure."""
        ctx = f"\nrecord: {record}" if ctx is None else ctx
        for name, expected in fields.items():
            if expected is None or isinstance(expected, bool):
                self.assertIs(field(record, name), expected, ctx)
            else:
                self.assertEqual(field(record, name), expected, ctx)
        explanation = field(record, "tlsglass.explanation") or ""
        for part in explanation_has:
            self.assertIn(part, explanation, ctx)

    def assert_record_of(self, curl, title, fields, explanation_has=()):
        """The proxy's record of curl's connection (record_of), logged under `title` (show)
        and checked by assert_record."""
        record = record_of(self, self.proxy, curl)
        show(title, record)
        self.assert_record(record, fields, explanation_has)
        return record

    def assert_relayed(self, rig, proxy, curl, ip, client_ip, port=TLS_PORT):
        """curl got nginx's page from what it believes is the server at `ip`, and the record
        says so: ok, transparent, `ip` (the original destination, not the proxy) as the
        destination, curl's address as the source, the SNI curl sent."""
        self.assertEqual(curl.rc, 0, curl)
        self.assertEqual(curl.body, rig.site.body, "the page nginx serves")
        # curl believes it talked to the server itself: the kernel hid the proxy.
        self.assertEqual(curl.info.get("remote_ip"), ip, curl)
        self.assertEqual(int(curl.info.get("remote_port")), port, curl)
        record = record_of(self, proxy, curl)
        show("relayed", record)
        ctx = f"\nrecord: {record}\n{curl!r}"
        self.assert_record(record, {"tlsglass.mode": "transparent", "tlsglass.cause": "ok",
                                    "tls.established": True, "destination.ip": ip,
                                    "destination.port": port, "source.ip": client_ip,
                                    "tls.client.server_name": HOST}, ctx=ctx)
        self.assertEqual(field(record, "source.ip"), curl.info.get("local_ip"), ctx)
        return record

    def assert_server_saw_the_router(self, rig, before, router_ip, server_ip):
        """nginx logged one request since `before`, from `router_ip`: the connection that
        reached it was the proxy's, made in the router, not the client's."""
        lines = new_lines(rig.site, before)
        self.assertEqual(len(lines), 1, lines)
        line = lines[0]
        self.assertEqual(line["remote_addr"], router_ip, line)
        self.assertEqual(line["server_addr"], server_ip, line)
        self.assertEqual(line["server_port"], TLS_PORT, line)
        self.assertEqual(line["sni"], HOST, line)
        self.assertEqual(line["request"], "GET /hello.txt HTTP/1.1", line)
        self.assertEqual(line["status"], 200, line)
        return line


# ------------------------------------------------------------------------------ REDIRECT
class RedirectIPv4(_TransparentCase):
    """iptables -t nat PREROUTING REDIRECT of the client's 443, 444, 8443 and 9443 to the proxy
    (with --probe-certs, which connects to the original destination too)."""

    COMMENT = "tgtp-redirect4"

    @classmethod
    def setUpClass(cls):
        rig, t = cls.make_rig()
        t.rule("iptables", "nat", "PREROUTING", cls.COMMENT, "-i", "r0", "-p", "tcp",
               "-m", "multiport", "--dports",
               f"{TLS_PORT},{CLOSED_PORT},{MISMATCH_PORT},{EXPIRED_PORT}",
               "-j", "REDIRECT", "--to-ports", PROXY_PORT)
        cls.proxy = rig.proxy("--probe-certs")

    def redirected(self):
        return self.rig.topology.packets("iptables", "nat", "PREROUTING", self.COMMENT)

    def test_curl_gets_the_page_and_the_record_names_the_original_destination(self):
        rig, t = self.rig, self.rig.topology
        before_rule, before_log = self.redirected(), len(rig.site.lines())
        curl = rig.curl(t.client, HOST, TLS_PORT, t.SERVER_IP)
        self.assert_relayed(rig, self.proxy, curl, t.SERVER_IP, t.CLIENT_IP)
        line = self.assert_server_saw_the_router(rig, before_log, t.SERVER_GW, t.SERVER_IP)
        self.assertNotEqual(line["remote_port"], curl.local_port, "the proxy's own connection")
        # nat sees the first packet of a connection only: one connection, redirected.
        self.assertEqual(self.redirected() - before_rule, 1)

    def test_a_hostname_mismatch_is_diagnosed_through_the_redirect(self):
        rig, t = self.rig, self.rig.topology
        before_rule = self.redirected()
        curl = rig.curl(t.client, HOST, MISMATCH_PORT, t.SERVER_IP)
        self.assertEqual(curl.rc, 60, curl)  # curl: the peer's certificate is not for the host
        self.assertIn("no alternative certificate subject name matches", curl.error, curl)
        self.assert_record_of(curl, "hostname mismatch", {
            "tlsglass.mode": "transparent", "tlsglass.cause": "hostname_mismatch",
            "destination.ip": t.SERVER_IP, "destination.port": MISMATCH_PORT,
            "source.ip": t.CLIENT_IP, "tls.client.server_name": HOST,
            "tls.server.x509.alternative_names": [support.WRONG_HOST]})
        self.assertEqual(self.redirected() - before_rule, 1)

    def test_an_expired_tls13_certificate_is_probed_at_the_original_destination(self):
        rig, t = self.rig, self.rig.topology
        before_rule = self.redirected()
        curl = rig.curl(t.client, HOST, EXPIRED_PORT, t.SERVER_IP)
        self.assertEqual(curl.rc, 60, curl)
        self.assertIn("certificate has expired", curl.error, curl)
        self.assert_record_of(curl, "expired, TLS 1.3", {
            "tlsglass.mode": "transparent", "tlsglass.cause": "cert_expired",
            "tls.version": "1.3", "destination.ip": t.SERVER_IP,
            "destination.port": EXPIRED_PORT,
            # The dates of the certificate this test made, fetched by the proxy's own
            # connection.
            "tls.server.not_after": "2021-01-01T00:00:00Z",
            "tls.server.x509.alternative_names": [HOST]}, explanation_has=["--probe-certs"])
        self.assertEqual(self.redirected() - before_rule, 1)  # the probe was not redirected

    def test_a_closed_port_behind_the_redirect_is_upstream_unreachable_at_the_server(self):
        rig, t = self.rig, self.rig.topology
        # The server's own answer on that port, from the router (where the proxy connects
        # from): refused.
        direct = t.run(t.router, ["curl", "-sSv", "--max-time", 5,
                                  f"https://{t.SERVER_IP}:{CLOSED_PORT}/"])
        self.assertEqual(direct.rc, 7, direct)
        self.assertIn(f"port {CLOSED_PORT} failed: Connection refused", direct.stderr, direct)
        before_rule = self.redirected()
        curl = rig.curl(t.client, HOST, CLOSED_PORT, t.SERVER_IP)
        # The proxy accepted the connection in the server's name: the client is reset, not
        # refused.
        assert_reset(self, curl)
        self.assert_record_of(curl, "closed port", {
            "tlsglass.mode": "transparent", "tlsglass.cause": "upstream_unreachable",
            "destination.ip": t.SERVER_IP, "destination.port": CLOSED_PORT,
            "source.ip": t.CLIENT_IP}, explanation_has=[f"{t.SERVER_IP}:{CLOSED_PORT}",
                                                        "ECONNREFUSED"])
        self.assertEqual(self.redirected() - before_rule, 1)
        self.assertTrue(self.proxy.running(), self.proxy.stderr())


class RedirectIPv6(_TransparentCase):
    """ip6tables -t nat PREROUTING REDIRECT; the proxy on [::]:15001 (IP6T_SO_ORIGINAL_DST)."""

    COMMENT = "tgtp-redirect6"

    @classmethod
    def setUpClass(cls):
        rig, _ = cls.make_rig(redirect=cls.COMMENT, tool="ip6tables")
        cls.proxy = rig.proxy(listen=[f"[::]:{PROXY_PORT}"])

    def test_curl_gets_the_page_over_ipv6_and_the_record_names_the_original_destination(self):
        rig, t = self.rig, self.rig.topology
        before_rule = t.packets("ip6tables", "nat", "PREROUTING", self.COMMENT)
        before_log = len(rig.site.lines())
        curl = rig.curl(t.client, HOST, TLS_PORT, t.SERVER_IP6)
        self.assert_relayed(rig, self.proxy, curl, t.SERVER_IP6, t.CLIENT_IP6)
        self.assert_server_saw_the_router(rig, before_log, t.SERVER_GW6, t.SERVER_IP6)
        self.assertEqual(t.packets("ip6tables", "nat", "PREROUTING", self.COMMENT) - before_rule,
                         1)

    def test_a_client_that_connects_to_the_proxy_itself_over_ipv6_is_refused(self):
        rig, t = self.rig, self.rig.topology
        curl = rig.curl(t.client, HOST, PROXY_PORT, t.CLIENT_GW6)
        self.assertNotEqual(curl.rc, 0, curl)
        self.assert_record_of(curl, "ipv6 loop", {
            "tlsglass.cause": "upstream_unreachable", "destination.ip": t.CLIENT_GW6,
            "destination.port": PROXY_PORT}, explanation_has=["is the proxy itself"])
        self.assertTrue(self.proxy.running(), self.proxy.stderr())


# -------------------------------------------------------------------------------- TPROXY
class Tproxy(_TransparentCase):
    """mangle PREROUTING TPROXY (IPv4, and IPv6 when ip6tables takes the rule), fwmark routing
    to lo; the proxy on 0.0.0.0:15001 and [::]:15001 with IP_TRANSPARENT."""

    COMMENT = "tgtp-tproxy"
    MARK = "0x1/0x1"
    TABLE = "100"

    @classmethod
    def setUpClass(cls):
        rig, t = cls.make_rig()
        cls.v6_missing = None
        for tool, ip, local in (("iptables", "-4", "0.0.0.0/0"), ("ip6tables", "-6", "::/0")):
            added = t.router_sh(tool, "-t", "mangle", "-A", "PREROUTING", "-i", "r0", "-p", "tcp",
                                "--dport", TLS_PORT, "-m", "comment", "--comment", cls.COMMENT,
                                "-j", "TPROXY", "--on-port", PROXY_PORT, "--tproxy-mark",
                                cls.MARK, check=False)
            if added.returncode != 0:
                why = (f"the kernel (or {tool}) lacks TPROXY: `{tool} -t mangle -A PREROUTING "
                       f"... -j TPROXY` failed: {(added.stderr or added.stdout).strip()}")
                if tool == "iptables":
                    raise unittest.SkipTest(why)
                cls.v6_missing = why
                continue
            t.router_sh("ip", ip, "rule", "add", "fwmark", cls.MARK, "lookup", cls.TABLE)
            t.router_sh("ip", ip, "route", "add", "local", local, "dev", "lo", "table", cls.TABLE)
        cls.proxy = rig.proxy(listen=[f"0.0.0.0:{PROXY_PORT}", f"[::]:{PROXY_PORT}"])
        # IP_TRANSPARENT refused would be said on stderr (and TPROXY would find no socket).
        if "IP_TRANSPARENT refused" in cls.proxy.stderr():
            raise AssertionError(f"the proxy could not set IP_TRANSPARENT: {cls.proxy.stderr()}")

    def tproxied(self, tool):
        return self.rig.topology.packets(tool, "mangle", "PREROUTING", self.COMMENT)

    def check(self, tool, server_ip, client_ip, router_ip):
        rig, t = self.rig, self.rig.topology
        before_rule, before_log = self.tproxied(tool), len(rig.site.lines())
        curl = rig.curl(t.client, HOST, TLS_PORT, server_ip)
        self.assert_relayed(rig, self.proxy, curl, server_ip, client_ip)
        self.assert_server_saw_the_router(rig, before_log, router_ip, server_ip)
        moved = self.tproxied(tool) - before_rule
        support.log(f"  {tool} TPROXY rule: {moved} packets")
        # Every packet of the client's connection to 443 goes through the rule (mangle sees
        # them all): at least the SYN, the ACK, the ClientHello, the Finished and the request.
        self.assertGreaterEqual(moved, 5)

    def test_tproxy_ipv4_relays_to_the_original_destination(self):
        t = self.rig.topology
        self.check("iptables", t.SERVER_IP, t.CLIENT_IP, t.SERVER_GW)

    def test_tproxy_ipv6_relays_to_the_original_destination(self):
        if self.v6_missing:
            self.skipTest(self.v6_missing)
        t = self.rig.topology
        self.check("ip6tables", t.SERVER_IP6, t.CLIENT_IP6, t.SERVER_GW6)


# ----------------------------------------------------------------------------- middlebox
class MiddleboxOnTheProxysSide(_TransparentCase):
    """REJECT --reject-with tcp-reset keyed on the SNI, in the router's OUTPUT chain: the
    proxy's connection to the server starts in the router, so the FORWARD chain never sees
    proxied traffic (a rule there too, to show it), and the reset reaches the proxy from the
    server's side."""

    REDIRECT = "tgtp-mbox-redirect"
    OUTPUT = "tgtp-mbox-output"
    FORWARD = "tgtp-mbox-forward"

    @classmethod
    def setUpClass(cls):
        rig, t = cls.make_rig(redirect=cls.REDIRECT)
        match_sni = ["-p", "tcp", "-d", t.SERVER_IP, "--dport", TLS_PORT, "-m", "string",
                     "--string", BLOCKED, "--algo", "bm", "-j", "REJECT", "--reject-with",
                     "tcp-reset"]
        t.rule("iptables", "filter", "OUTPUT", cls.OUTPUT, *match_sni)
        t.rule("iptables", "filter", "FORWARD", cls.FORWARD, *match_sni)
        cls.proxy = rig.proxy()

    def counters(self):
        t = self.rig.topology
        return (t.packets("iptables", "filter", "OUTPUT", self.OUTPUT),
                t.packets("iptables", "filter", "FORWARD", self.FORWARD))

    def test_a_reset_on_the_sni_is_reset_mid_handshake_by_the_server(self):
        rig, t = self.rig, self.rig.topology
        before, before_log = self.counters(), len(rig.site.lines())
        curl = rig.curl(t.client, BLOCKED, TLS_PORT, t.SERVER_IP)
        self.assertEqual(curl.rc, 35, curl)
        self.assertIn("Connection reset by peer", curl.error, curl)
        after = self.counters()
        # The OUTPUT rule reset the proxy's ClientHello, once; FORWARD saw nothing.
        self.assertEqual((after[0] - before[0], after[1] - before[1]), (1, 0))
        self.assert_record_of(curl, "reset on the SNI", {
            "tlsglass.mode": "transparent", "tlsglass.cause": "reset_mid_handshake",
            "tlsglass.closed_by": "server", "tlsglass.close": "rst",
            "tls.client.server_name": BLOCKED, "destination.ip": t.SERVER_IP,
            "destination.port": TLS_PORT, "source.ip": t.CLIENT_IP, "tls.established": False})
        # nginx never got a hello, so it logged nothing.
        time.sleep(0.3)
        self.assertEqual(rig.site.lines()[before_log:], [])

    def test_a_good_name_through_the_same_path_is_ok(self):
        rig, t = self.rig, self.rig.topology
        before, before_log = self.counters(), len(rig.site.lines())
        curl = rig.curl(t.client, HOST, TLS_PORT, t.SERVER_IP)
        self.assert_relayed(rig, self.proxy, curl, t.SERVER_IP, t.CLIENT_IP)
        self.assert_server_saw_the_router(rig, before_log, t.SERVER_GW, t.SERVER_IP)
        self.assertEqual(self.counters(), before)


# ---------------------------------------------------------------------------------- loops
class LoopRefusal(_TransparentCase):
    """Connections the proxy must not relay: one made to the proxy's own address (not
    redirected), and the proxy's own connection redirected back to it by a local (OUTPUT)
    REDIRECT; --upstream-mark and `-m mark ! --mark` exempt the proxy's connections."""

    REDIRECT = "tgtp-loop-redirect"

    @classmethod
    def setUpClass(cls):
        rig, _ = cls.make_rig(redirect=cls.REDIRECT)
        cls.proxy = rig.proxy()

    def test_a_client_that_connects_to_the_proxy_itself_is_refused_and_the_next_is_served(self):
        rig, t = self.rig, self.rig.topology
        # Straight to the proxy's port at the router's address: no rule matches it.
        curl = rig.curl(t.client, HOST, PROXY_PORT, t.CLIENT_GW)
        assert_reset(self, curl)
        self.assert_record_of(curl, "direct to the proxy", {
            "tlsglass.mode": "transparent", "tlsglass.cause": "upstream_unreachable",
            "destination.ip": t.CLIENT_GW, "destination.port": PROXY_PORT,
            "source.ip": t.CLIENT_IP},
            explanation_has=[f"original destination {t.CLIENT_GW}:{PROXY_PORT} is the proxy "
                             f"itself"])
        # It is still there, and relays the next connection.
        self.assertTrue(self.proxy.running(), self.proxy.stderr())
        before_log = len(rig.site.lines())
        good = rig.curl(t.client, HOST, TLS_PORT, t.SERVER_IP)
        self.assert_relayed(rig, self.proxy, good, t.SERVER_IP, t.CLIENT_IP)
        self.assert_server_saw_the_router(rig, before_log, t.SERVER_GW, t.SERVER_IP)

    # The proxy asks the kernel whether an address is its own when a connection arrives: an
    # address the router got after the proxy started (a secondary address, DHCP, a VIP, a
    # link whose carrier was not reported up yet) is the proxy itself too.
    def test_an_address_the_router_got_after_the_proxy_started_is_the_proxy_itself(self):
        rig, t = self.rig, self.rig.topology
        late = "10.78.1.3"
        t.router_sh("ip", "addr", "add", f"{late}/24", "dev", "r0")
        self.addCleanup(t.router_sh, "ip", "addr", "del", f"{late}/24", "dev", "r0", check=False)
        before_records = len(self.proxy.records())
        curl = rig.curl(t.client, HOST, PROXY_PORT, late)
        assert_reset(self, curl)
        record = record_of(self, self.proxy, curl)
        # A second record would be the proxy's connection to itself: there must be none.
        with contextlib.suppress(AssertionError):
            self.proxy.wait_records(before_records + 2, timeout=1)
        self.assertEqual(len(self.proxy.records()), before_records + 1, self.proxy.records())
        show("direct to an address added later", record)
        self.assert_record(record, {"destination.ip": late,
                                    "tlsglass.cause": "upstream_unreachable"},
                           explanation_has=[f"original destination {late}:{PROXY_PORT} is the "
                                            f"proxy itself"])

    def redirect_own_connection(self, proxy, port, comment):
        """A local client in the router (curl) and a local redirect to the proxy on `port`
        that catches the proxy's own connection to the server too. Returns curl, the records
        written and the rule's counter (nat: one packet per connection redirected)."""
        rig, t = self.rig, self.rig.topology
        t.rule("iptables", "nat", "OUTPUT", comment, "-p", "tcp", "-d", t.SERVER_IP,
               "--dport", TLS_PORT, "-j", "REDIRECT", "--to-ports", port,
               add_cleanup=self.addCleanup)
        before_log, before_records = len(rig.site.lines()), len(proxy.records())
        curl = rig.curl(t.router, HOST, TLS_PORT, t.SERVER_IP)
        proxy.wait_records(before_records + 2)
        time.sleep(0.3)
        records = proxy.records()[before_records:]
        for record in records:
            show("own connection redirected back", record)
        redirected = t.packets("iptables", "nat", "OUTPUT", comment)
        ctx = f"\nrecords: {records}\n{curl!r}"
        assert_reset(self, curl)
        # The server never saw a request, and the proxy runs on.
        self.assertEqual(rig.site.lines()[before_log:], [], ctx)
        self.assertTrue(proxy.running(), proxy.stderr())
        return curl, records, redirected, ctx

    def assert_refused_as_own(self, record, ctx, explanation_has=()):
        t = self.rig.topology
        self.assert_record(record, {"tlsglass.cause": "upstream_unreachable",
                                    "source.ip": t.SERVER_GW,  # the proxy's socket
                                    "destination.ip": t.SERVER_IP,
                                    "destination.port": TLS_PORT},
                           explanation_has=["--upstream-mark", *explanation_has], ctx=ctx)

    # One worker: the proxy's dial and the accept of what comes back run on one event loop,
    # in that order, so the first hop back is always caught. (With several workers, see the
    # next test.)
    def test_the_proxys_own_connection_redirected_back_to_it_is_refused(self):
        proxy = self.rig.proxy("--workers", "1", port=SINGLE_WORKER_PROXY_PORT)
        curl, records, redirected, ctx = self.redirect_own_connection(
            proxy, SINGLE_WORKER_PROXY_PORT, "tgtp-loop-output-1")
        # curl's connection and the proxy's own went through the rule; nothing more.
        self.assertEqual(redirected, 2, ctx)
        self.assertEqual(len(records), 2, ctx)
        outer = [r for r in records if field(r, "source.port") == curl.local_port]
        inner = [r for r in records if field(r, "source.port") != curl.local_port]
        self.assertEqual((len(outer), len(inner)), (1, 1), ctx)
        self.assert_refused_as_own(inner[0], ctx, explanation_has=["redirected back to it"])
        # The client's own record says why its connection failed: the loop, not the server.
        self.assert_record(outer[0], {"destination.ip": self.rig.topology.SERVER_IP,
                                      "tlsglass.cause": "upstream_unreachable"},
                           explanation_has=["was redirected back to the proxy itself"], ctx=ctx)

    # Two workers (the proxy here runs with 2): whichever accepts the redirected connection,
    # it finds the dialing socket already listed (src/proxy/upstream.cpp lists it under the
    # lock that is_own_connection() takes, held across connect()), so the first hop back is
    # refused: two connections through the rule, never three.
    def test_with_two_workers_the_proxys_own_connection_is_refused(self):
        curl, records, redirected, ctx = self.redirect_own_connection(
            self.proxy, PROXY_PORT, "tgtp-loop-output-2")
        self.assertEqual(redirected, 2, ctx)
        self.assertEqual(len(records), 2, ctx)
        outer = [r for r in records if field(r, "source.port") == curl.local_port]
        self.assertEqual(len(outer), 1, ctx)
        self.assert_record(outer[0], {},
                           explanation_has=["was redirected back to the proxy itself"], ctx=ctx)
        refused = [r for r in records
                   if "redirected back to it" in (field(r, "tlsglass.explanation") or "")]
        self.assertEqual(len(refused), 1, ctx)
        self.assert_refused_as_own(refused[0], ctx)

    def test_upstream_mark_exempts_the_proxys_own_connection(self):
        rig, t = self.rig, self.rig.topology
        comment = "tgtp-loop-marked"
        proxy = rig.proxy("--upstream-mark", UPSTREAM_MARK, port=MARKED_PROXY_PORT)
        t.rule("iptables", "nat", "OUTPUT", comment, "-p", "tcp", "-d", t.SERVER_IP,
               "--dport", TLS_PORT, "-m", "mark", "!", "--mark", UPSTREAM_MARK,
               "-j", "REDIRECT", "--to-ports", MARKED_PROXY_PORT, add_cleanup=self.addCleanup)
        before_log = len(rig.site.lines())
        curl = rig.curl(t.router, HOST, TLS_PORT, t.SERVER_IP)
        # A local client's address is the router's own (the route to the server picks it).
        self.assert_relayed(rig, proxy, curl, t.SERVER_IP, t.SERVER_GW)
        line = self.assert_server_saw_the_router(rig, before_log, t.SERVER_GW, t.SERVER_IP)
        self.assertNotEqual(line["remote_port"], curl.local_port, "the proxy's own connection")
        # Only curl's connection was redirected: the proxy's, marked, was not.
        self.assertEqual(t.packets("iptables", "nat", "OUTPUT", comment), 1)
        self.assertEqual(len(proxy.records()), 1, proxy.records())


if __name__ == "__main__":
    unittest.main(verbosity=2)
