"""Helpers for tests/scenarios/test_causes.py: one scenario per DESIGN.md cause, through the live
proxy, between real programs on 127.0.0.1.

tests/proxy/support.py has the shared machinery (free ports, the proxy, s_server/nginx/
gnutls-serv, the CA and the good leaves); this file adds what the failure scenarios need:
  - `DatedPki`: leaves with the validity windows, names and issuers the failures need (expired
    7.5 days ago, valid only from 30.5 days from now, signed by a CA the clients are not given,
    for app.tlsglass.test and localhost for Chromium), made with `openssl ca` so that the dates
    are exactly the ones the tests chose — those dates are what the records are checked against;
  - `SServer`: openssl s_server -WWW with any certificate and flags;
  - `NginxSniOnly`: nginx whose default server refuses handshakes (ssl_reject_handshake) and
    whose only named server is app.tlsglass.test; `NginxPlain`: nginx without TLS;
  - peers of our own, as threads of the test program: `ResetAfterHello` (reads the ClientHello
    record, then closes with RST), `Silent` (accepts, never answers), `SniFilter` (a relay to a
    real TLS server that resets connections whose SNI is blocked, as a middlebox does), and
    `ConnectShim` (a CONNECT tunnel through the proxy for gnutls-cli, which has no proxy option);
  - clients run the way a user runs them, through a `Route` (connect: the client uses the proxy
    by HTTP CONNECT; forward: the client connects to the proxy's port, which forwards to
    --upstream), each returning a `Run` with the client's exit code and its own words.
"""
import base64
import contextlib
import datetime
import errno
import hashlib
import os
import pathlib
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proxy"))
sys.dont_write_bytecode = True
import support  # noqa: E402
from support import HOST, LOOPBACK, WRONG_HOST, field  # noqa: E402,F401

BLOCKED_HOST = "blocked.tlsglass.test"
CLIENT_TIMEOUT = 60  # a hang guard only
HTTP_GET = f"GET /hello.txt HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode()
DAY = datetime.timedelta(days=1)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def record_day(dt):
    """A certificate date as the record writes it (DESIGN.md example: 2026-11-18T...Z)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------ certificates
CA_CONFIG = """\
[ ca ]
default_ca = scenario_ca
[ scenario_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[ policy_any ]
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
"""

LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class Leaf:
    def __init__(self, pem, key, not_before, not_after, names, issuer_cn):
        self.pem, self.key = pem, key
        self.not_before, self.not_after = not_before, not_after
        self.names = names
        self.issuer_cn = issuer_cn

    def spki_sha256_b64(self):
        """base64(sha256(SubjectPublicKeyInfo)), the form Chromium's
        --ignore-certificate-errors-spki-list takes."""
        pub = support.sh(["openssl", "x509", "-in", str(self.pem), "-noout", "-pubkey"])
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.encode(),
                             capture_output=True, check=True).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


class DatedPki:
    """Leaves signed with `openssl ca` at dates the tests choose, beside support.pki():
    - expired: app.tlsglass.test, valid from 397 days ago until 7.5 days ago (test CA);
    - notyet: app.tlsglass.test, valid from 30.5 days from now for a year (test CA);
    - rogue: app.tlsglass.test, good dates, signed by a second CA the clients are not given;
    - chromium: app.tlsglass.test and localhost (Chromium in CONNECT mode asks for localhost,
      the one name the proxy can resolve here), good dates, test CA.
    Half days keep "N days" the same however long the tests take."""

    def __init__(self, directory):
        base = support.pki()
        d = pathlib.Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.ca = base.ca
        self.now = utcnow()
        self.rogue_ca, self.rogue_ca_key = d / "rogue-ca.pem", d / "rogue-ca.key"
        support.sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                    "-keyout", str(self.rogue_ca_key), "-out", str(self.rogue_ca), "-days", "3650",
                    "-subj", "/O=tlsglass tests/CN=tlsglass rogue CA",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                    "-addext", "subjectKeyIdentifier=hash"])
        test_ca = (base.ca, base.ca_key, "tlsglass proxy test CA")
        rogue_ca = (self.rogue_ca, self.rogue_ca_key, "tlsglass rogue CA")
        good = (self.now - DAY, datetime.datetime(2049, 12, 31, 23, 59, 59,
                                                  tzinfo=datetime.timezone.utc))
        self.expired = self._leaf("expired", [HOST], self.now - 397 * DAY,
                                  self.now - 7 * DAY - DAY / 2, test_ca)
        self.notyet = self._leaf("notyet", [HOST], self.now + 30 * DAY + DAY / 2,
                                 self.now + 400 * DAY, test_ca)
        self.rogue = self._leaf("rogue", [HOST], *good, rogue_ca)
        self.chromium = self._leaf("chromium", [HOST, "localhost"], *good, test_ca)

    def _leaf(self, name, names, start, end, ca):
        ca_pem, ca_key, ca_cn = ca
        d = self.dir / name
        (d / "issued").mkdir(parents=True)
        (d / "index.txt").write_text("")
        self._serial = getattr(self, "_serial", 0x1000) + 1
        (d / "serial").write_text(f"{self._serial:04X}\n")  # distinct serials per issuer
        cnf = d / "ca.cnf"
        cnf.write_text(CA_CONFIG.format(dir=d))
        ext = d / "leaf.ext"
        ext.write_text(LEAF_EXT.format(san=", ".join(f"DNS:{n}" for n in names)))
        key, csr, pem = d / "leaf.key", d / "leaf.csr", d / "leaf.pem"
        support.sh(["openssl", "req", "-new", "-config", str(cnf), "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={names[0]}"])
        support.sh(["openssl", "ca", "-config", str(cnf), "-batch", "-notext", "-cert", str(ca_pem),
                    "-keyfile", str(ca_key), "-extfile", str(ext),
                    "-startdate", start.strftime("%Y%m%d%H%M%SZ"),
                    "-enddate", end.strftime("%Y%m%d%H%M%SZ"),
                    "-in", str(csr), "-out", str(pem)])
        return Leaf(pem, key, start, end, names, ca_cn)


_DATED = None


def dated_pki():
    global _DATED
    if _DATED is None:
        _DATED = DatedPki(support.make_tmp(prefix="tlsglass-scen-pki-"))
    return _DATED


def leaf_of(name):
    """("rsa"|"wrong"|"expired"|"notyet"|"rogue"|"chromium") -> (cert, key)."""
    base = support.pki()
    if name == "rsa":
        return base.rsa, base.rsa_key
    if name == "wrong":
        return base.wrong, base.wrong_key
    leaf = getattr(dated_pki(), name)
    return leaf.pem, leaf.key


# ---------------------------------------------------------------------------------- servers
class SServer:
    """`openssl s_server -WWW` on 127.0.0.1:PORT with any leaf and flags, serving hello.txt, as
    many connections (one at a time) as come."""

    def __init__(self, tmp, *flags, cert="rsa"):
        support.need("openssl")
        self.tmp = pathlib.Path(tmp) / f"s_server-{cert}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.body = support.write_hello(self.tmp)
        self.port = support.free_port()
        certfile, keyfile = leaf_of(cert)
        self.argv = ["openssl", "s_server", "-accept", f"{LOOPBACK}:{self.port}",
                     "-cert", certfile, "-key", keyfile, "-WWW", *flags]
        self.proc = support.Process(self.argv, self.tmp, "s_server.log")
        support.wait_listening(self.port, self.proc.proc, "openssl s_server", self.proc.log_path)

    def output(self):
        return self.proc.output()

    def stop(self):
        self.proc.stop()


NGINX_REJECT = """\
    server {{
        listen {addr}:{port} ssl default_server;
        ssl_reject_handshake on;
    }}
    server {{
        listen {addr}:{port} ssl;
        server_name {host};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
    }}
"""

NGINX_PLAIN = """\
    server {{
        listen {addr}:{port};
        server_name {host};
        root {www};
    }}
"""


class _NginxSites:
    """nginx (one worker, config and logs in the temp dir) with the given server blocks."""

    template = ""

    def __init__(self, tmp):
        support.need("nginx")
        p = support.pki()
        self.tmp = pathlib.Path(tmp) / "nginx"
        self.tmp.mkdir(parents=True, exist_ok=True)
        www = self.tmp / "www"
        www.mkdir(exist_ok=True)
        self.body = support.write_hello(www)
        self.port = support.free_port()
        servers = self.template.format(addr=LOOPBACK, port=self.port, host=HOST, cert=p.rsa,
                                       key=p.rsa_key, www=www)
        self.conf = self.tmp / "nginx.conf"
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(support.NGINX_CONF.format(user=user, tmp=self.tmp, servers=servers,
                                                       connections=64, nofile=1024, keepalive=5))
        self.proc = support.Process(["nginx", "-e", self.tmp / "error.log", "-p", self.tmp,
                                     "-c", self.conf], self.tmp, "nginx.out")
        support.wait_listening(self.port, self.proc.proc, "nginx", self.tmp / "error.log")

    def stop(self):
        self.proc.stop()


class NginxSniOnly(_NginxSites):
    """The default server refuses every handshake (nginx >= 1.19.4: ssl_reject_handshake on, an
    unrecognized_name alert, as CDNs do); app.tlsglass.test is served by name only."""
    template = NGINX_REJECT


class NginxPlain(_NginxSites):
    """nginx speaking plain HTTP/1.1 on the port the client takes for TLS."""
    template = NGINX_PLAIN


class PythonHttpServer:
    """`python3 -m http.server` on 127.0.0.1:PORT."""

    def __init__(self, tmp):
        self.tmp = pathlib.Path(tmp) / "http.server"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.port = support.free_port()
        self.proc = support.Process([sys.executable, "-m", "http.server", "--bind", LOOPBACK,
                                     str(self.port)], self.tmp, "http.server.log")
        support.wait_listening(self.port, self.proc.proc, "python3 -m http.server",
                               self.proc.log_path)

    def stop(self):
        self.proc.stop()


def read_tls_record(conn, timeout=30):
    """Bytes read until one whole TLS record (5-byte header + length) has arrived, or EOF."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = conn.recv(65536)
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        data += chunk
        if len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big"):
            break
    return data


def reset(sock):
    """Close with RST: SO_LINGER on with a zero timeout (RFC 793 abort)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def client_hello_sni(data):
    try:
        return support.parse_client_hello(data)["sni"]
    except (AssertionError, IndexError):
        return None


class _ThreadServer:
    """A TCP server of the test's own on 127.0.0.1, one thread per connection; `conns` holds what
    each connection did (the bytes it read, when)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._closed = False
        self._open = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            info = {"read": b"", "done": threading.Event()}
            self.conns.append(info)
            self._open.append(conn)
            threading.Thread(target=self._run, args=(conn, info), daemon=True).start()

    def _run(self, conn, info):
        try:
            self.serve(conn, info)
        finally:
            info["done"].set()

    def serve(self, conn, info):
        raise NotImplementedError

    def wait(self, n=1, timeout=30):
        support.wait_until(lambda: len(self.conns) >= n and all(
            c["done"].is_set() for c in self.conns[:n]), timeout, f"{n} connection(s) served")
        return self.conns[:n]

    def stop(self):
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        for conn in self._open:
            with contextlib.suppress(OSError):
                conn.close()


class ResetAfterHello(_ThreadServer):
    """Reads the ClientHello's record, then resets the connection: a firewall, IDS or crashing
    server that kills the handshake."""

    def serve(self, conn, info):
        info["read"] = read_tls_record(conn)
        info["reset_at"] = time.monotonic()
        reset(conn)


class Silent(_ThreadServer):
    """Accepts, reads whatever comes, never answers; closes when the client does (or at stop)."""

    def serve(self, conn, info):
        conn.settimeout(None)
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            info["read"] += chunk
        with contextlib.suppress(OSError):
            conn.close()


class SniFilter(_ThreadServer):
    """A middlebox: relays to a real TLS server, unless the ClientHello's SNI is `blocked`, which
    gets an RST right after the hello (the upstream never sees that connection)."""

    def __init__(self, upstream_port, blocked=BLOCKED_HOST):
        self.upstream_port = upstream_port
        self.blocked = blocked
        super().__init__()

    def serve(self, conn, info):
        hello = read_tls_record(conn)
        info["read"] = hello
        info["sni"] = client_hello_sni(hello)
        if info["sni"] == self.blocked:
            info["verdict"] = "reset"
            reset(conn)
            return
        info["verdict"] = "relayed"
        try:
            up = socket.create_connection((LOOPBACK, self.upstream_port), timeout=10)
            up.settimeout(None)
            up.sendall(hello)
        except OSError:
            reset(conn)
            return
        conn.settimeout(None)
        relay(conn, up)


class ConnectShim(_ThreadServer):
    """For a client without proxy support (gnutls-cli): each connection to this port becomes a
    tunnel through the proxy (CONNECT 127.0.0.1:target, written here), relayed both ways with
    half-close passed on, so the client's bytes reach the proxy unchanged."""

    def __init__(self, proxy_port, target_port):
        self.proxy_port, self.target_port = proxy_port, target_port
        super().__init__()

    def serve(self, conn, info):
        try:
            up, status, reason, _, rest = support.proxy_connect(
                self.proxy_port, support.format_target(LOOPBACK, self.target_port))
        except OSError:
            reset(conn)
            return
        if status != 200:
            info["refused"] = f"{status} {reason}"
            reset(conn)
            up.close()
            return
        up.settimeout(None)
        conn.settimeout(None)
        if rest:
            conn.sendall(rest)
        relay(conn, up)


def relay(a, b):
    """Bytes both ways between two sockets until both directions end; a FIN is passed on as a
    shutdown, a reset as a reset."""
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
        except OSError:
            reset(dst)

    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(60)
    for s in (a, b):
        with contextlib.suppress(OSError):
            s.close()


def start(testcase, server):
    testcase.addCleanup(server.stop)
    return server


# ---------------------------------------------------------------------------------- routes
class Route:
    """How a client reaches the server: `connect` (it asks the proxy for a tunnel to
    127.0.0.1:target by HTTP CONNECT) or `forward` (it connects to the proxy's port, which
    forwards to --upstream 127.0.0.1:target)."""

    def __init__(self, mode, proxy_port, target_port):
        self.mode, self.proxy_port, self.target_port = mode, proxy_port, target_port

    def __repr__(self):
        return f"Route({self.mode}, proxy {self.proxy_port}, server {self.target_port})"


def start_route(testcase, tmp, mode, target_port, *proxy_args):
    """The proxy for one scenario (killed at the end of the test whatever happens) and the route
    through it."""
    if mode == "forward":
        proxy = support.start_proxy(testcase, tmp, "--mode", "forward", "--upstream",
                                    f"{LOOPBACK}:{target_port}", *proxy_args)
    else:
        proxy = support.start_proxy(testcase, tmp, "--mode", "connect", *proxy_args)
    testcase.assertEqual(proxy.mode, mode, "the mode in the proxy's listening line")
    return proxy, Route(mode, proxy.port, target_port)


# ---------------------------------------------------------------------------------- clients
class Run:
    """A client's own account of its run: exit code, output, and for Python its exception."""

    def __init__(self, argv, rc, stdout="", stderr="", error=None, info=None):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        self.error = error  # Python clients: the exception
        self.info = info or {}

    @property
    def text(self):
        return f"{self.stdout}\n{self.stderr}"

    def __repr__(self):
        cmd = " ".join(map(str, self.argv)) if isinstance(self.argv, list) else self.argv
        return (f"client `{cmd}` exit {self.rc}{f' {self.error!r}' if self.error else ''}\n"
                f"stdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-2500:]}")


def client_env():
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_COLOR"] = "1"
    return env


def run(argv, stdin=b"", timeout=CLIENT_TIMEOUT, env=None, cwd=None):
    """Run a client in its own process group to its end; whatever it started (Chromium's
    helpers) is killed with it, on a hang too."""
    argv = [str(a) for a in argv]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env or client_env(), cwd=cwd,
                            start_new_session=True)
    support._CHILD_GROUPS.add(proc.pid)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"client hung for {timeout} s: {' '.join(argv)}\n"
                             f"{err.decode(errors='replace')[-1500:]}")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        support._CHILD_GROUPS.discard(proc.pid)
    return Run(argv, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def curl_argv(route, *flags, scheme="https", cacert=True, host=HOST, path="/hello.txt"):
    support.need("curl")
    argv = ["curl", "-sS", "-v", "--max-time", "30", "-o", "-"]
    if cacert is True:
        argv += ["--cacert", support.pki().ca]
    elif cacert:
        argv += ["--cacert", cacert]
    default = 443 if scheme == "https" else 80
    if route.mode == "connect":
        # curl sends `CONNECT 127.0.0.1:TARGET` (the --connect-to address); the handshake in the
        # tunnel keeps the URL's host as its SNI. -p: a tunnel for http:// URLs too.
        argv += ["-p", "-x", f"http://{LOOPBACK}:{route.proxy_port}",
                 "--connect-to", f"{host}:{default}:{LOOPBACK}:{route.target_port}"]
    else:
        argv += ["--connect-to", f"{host}:{default}:{LOOPBACK}:{route.proxy_port}"]
    return argv + [*flags, f"{scheme}://{host}{path}"]


def curl(route, *flags, **kw):
    return run(curl_argv(route, *flags, **kw))


def curl_verdict(r):
    """curl's own one-line verdict: `curl: (60) SSL certificate problem: ...`."""
    m = re.search(r"^curl: \((\d+)\) (.*)$", r.stderr, re.M)
    return (int(m[1]), m[2]) if m else (r.rc, "")


def s_client_argv(route, *flags, sni=HOST, verify=True, cafile=None):
    support.need("openssl")
    argv = ["openssl", "s_client"]
    if route.mode == "connect":
        argv += ["-proxy", f"{LOOPBACK}:{route.proxy_port}",
                 "-connect", f"{LOOPBACK}:{route.target_port}"]
    else:
        argv += ["-connect", f"{LOOPBACK}:{route.proxy_port}"]
    argv += ["-servername", sni] if sni else ["-noservername"]
    if verify:
        argv += ["-CAfile", cafile or support.pki().ca, "-verify_return_error"]
        if sni:
            argv += ["-verify_hostname", sni]
    return argv + ["-ign_eof", *flags]


def s_client(route, *flags, **kw):
    return run(s_client_argv(route, *flags, **kw), HTTP_GET)


def s_client_summary(r):
    """What s_client says about its session: protocol, cipher, verify result."""
    proto = re.search(r"^\s*Protocol\s*: (\S+)", r.stdout, re.M)
    cipher = re.search(r"^\s*Cipher\s*: (\S+)", r.stdout, re.M) or re.search(
        r"^New, \S+, Cipher is (\S+)", r.stdout, re.M)
    verify = re.search(r"Verify return code: (\d+) \(([^)]*)\)", r.stdout)
    return {"protocol": proto[1] if proto else None,
            "cipher": cipher[1] if cipher else None,
            "verify": (int(verify[1]), verify[2]) if verify else None}


def gnutls_cli(route, *flags, sni=HOST, alpn=("http/1.1",)):
    """gnutls-cli has no HTTP proxy support: forward routes only."""
    support.need("gnutls-cli")
    if route.mode != "forward":
        raise ValueError("gnutls-cli cannot use a CONNECT proxy")
    argv = ["gnutls-cli", "--x509cafile", support.pki().ca, "--port", str(route.proxy_port),
            "--sni-hostname", sni, "--verify-hostname", sni, *flags]
    for proto in alpn:
        argv += ["--alpn", proto]
    argv.append(LOOPBACK)
    return run(argv, HTTP_GET)


def open_tcp(route, timeout=30):
    """A TCP connection to the server through the route: for connect, a CONNECT written here
    and its 200 read."""
    if route.mode == "connect":
        sock, status, reason, _, rest = support.proxy_connect(
            route.proxy_port, support.format_target(LOOPBACK, route.target_port), timeout=timeout)
        if status != 200 or rest:
            sock.close()
            raise AssertionError(f"CONNECT answered {status} {reason} (+{len(rest)} bytes)")
        return sock
    return socket.create_connection((LOOPBACK, route.proxy_port), timeout=timeout)


def python_tls(route, sni=HOST, cafile=None, minimum=None, maximum=None, alpn=("http/1.1",),
               ciphers=None, verify=True, request=True):
    """Python's ssl module as a client: handshake (certificate and name checks unless
    verify=False), GET /hello.txt, read the answer. Returns a Run whose `error` is the
    exception it raised (None on success) and `info` its session's version/cipher/ALPN."""
    ctx = ssl.create_default_context(cafile=str(cafile or support.pki().ca))
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    versions = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if minimum:
        ctx.minimum_version = versions[minimum]
    if maximum:
        ctx.maximum_version = versions[maximum]
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    desc = f"python ssl (sni={sni}, min={minimum}, max={maximum}, alpn={alpn}) via {route}"
    try:
        sock = open_tcp(route)
    except OSError as e:
        return Run(desc, 1, error=e)
    try:
        with sock, ctx.wrap_socket(sock, server_hostname=sni) as tls:
            info = {"version": tls.version(), "cipher": tls.cipher()[0],
                    "alpn": tls.selected_alpn_protocol()}
            if request:
                tls.sendall(HTTP_GET)
                answer = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
                info["answer"] = answer
            return Run(desc, 0, stdout=f"{info}", info=info)
    except (ssl.SSLError, OSError) as e:
        return Run(desc, 1, stderr=f"{type(e).__name__}: {e}", error=e)


def is_reset(error):
    """Whether a Python client's exception is ECONNRESET (the peer's RST)."""
    return (isinstance(error, ConnectionResetError) or
            getattr(error, "errno", None) == errno.ECONNRESET)


def chromium(route, tmp, url_host, spki):
    """Headless Chromium fetching https://url_host:PORT/hello.txt and printing the DOM. It trusts
    only `spki` (the leaf's public key, --ignore-certificate-errors-spki-list: no
    --ignore-certificate-errors), resolves app.tlsglass.test to 127.0.0.1 and nothing else (no
    background traffic leaves the machine), and in connect mode uses the proxy for everything,
    loopback included."""
    support.need("chromium")
    profile = pathlib.Path(tmp) / "chromium-profile"
    profile.mkdir(exist_ok=True)
    port = route.target_port if route.mode == "connect" else route.proxy_port
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage",
            "--disable-features=NetworkTimeServiceQuerying",
            f"--user-data-dir={profile}", f"--explicitly-allowed-ports={port}",
            f"--host-resolver-rules=MAP {HOST} {LOOPBACK}, MAP localhost {LOOPBACK}, "
            f"MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
            f"--ignore-certificate-errors-spki-list={spki}"]
    if route.mode == "connect":
        argv += [f"--proxy-server=http://{LOOPBACK}:{route.proxy_port}",
                 "--proxy-bypass-list=<-loopback>"]
    argv += ["--dump-dom", f"https://{url_host}:{port}/hello.txt"]
    env = client_env()
    env["HOME"] = str(tmp)
    return run(argv, timeout=90, env=env, cwd=tmp)


# ------------------------------------------------------------------------------ the records
def alerts(record):
    return field(record, "tlsglass.alerts") or []


def clear_alerts(record, sender=None):
    """(from, description) of the clear-text alerts, in order."""
    return [(a.get("from"), a.get("description")) for a in alerts(record)
            if not a.get("encrypted") and (sender is None or a.get("from") == sender)]


def records_to(records, port):
    return [r for r in records if field(r, "destination.port") == port]
