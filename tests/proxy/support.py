"""Shared helpers for the live proxy's integration tests (tests/proxy/test_*.py).

Everything here talks to real programs on loopback only (127.0.0.0/8, ::1):
  - free ports, waiting for a port to listen (read from /proc, so that a one-connection server is
    not used up by a probe);
  - a throwaway CA and leaf certificates for app.tlsglass.test, made with the openssl CLI in a
    temp dir (once per test program);
  - `Proxy`: starts `tlsglass proxy` (TLSGLASS_BIN) on a free port, parses its listening line,
    reads the JSON records it logs, stops it with SIGTERM;
  - real servers: openssl s_server, nginx (generated config, pid and logs in a temp dir, run as the
    current user) and gnutls-serv;
  - `Tap`: a byte-recording TCP relay of our own, put between the proxy and a real server, so that
    the tests know exactly which bytes went by without asking the proxy;
  - an independent reading of the ClientHello/ServerHello (RFC 8446/5246 layouts) and JA4
    (FoxIO's JA4.md) from those bytes, and IANA cipher names from `openssl ciphers -stdname`:
    the expected values of the record, from outside the proxy.

A program that is not installed makes the test skip (unittest.SkipTest) with a clear message;
scripts/bootstrap installs them all on CI.
"""
import atexit
import contextlib
import datetime
import hashlib
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN = os.path.abspath(os.environ["TLSGLASS_BIN"]) if os.environ.get("TLSGLASS_BIN") else ""
DATA = os.environ.get("TLSGLASS_TEST_DATA", "tests/data")
HOST = "app.tlsglass.test"
WRONG_HOST = "other.tlsglass.test"
LOOPBACK = "127.0.0.1"

# Hang guards only: nothing here fails because something was slow but finished.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ programs
def need(*programs):
    """The paths of the programs; SkipTest naming the missing ones."""
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        raise unittest.SkipTest(
            f"{', '.join(missing)} not installed (scripts/bootstrap installs it on CI; on Debian: "
            f"apt-get install {' '.join(debian_package(p) for p in missing)})")
    return [shutil.which(p) for p in programs]


def debian_package(program):
    return {"gnutls-cli": "gnutls-bin", "gnutls-serv": "gnutls-bin", "nginx": "nginx-light",
            "ip": "iproute2", "unshare": "util-linux"}.get(program, program)


def sanitized():
    """Whether TLSGLASS_BIN is built with ASan/TSan/MSan: its RSS then says nothing about the
    proxy's own memory (shadow memory, quarantine of freed blocks), so memory bounds are not
    asserted (fds, records and exit codes still are)."""
    if not BIN or not os.path.exists(BIN):
        return False
    global _SANITIZED
    if _SANITIZED is None:
        with open(BIN, "rb") as f:
            data = f.read()
        _SANITIZED = any(m in data for m in (b"__asan_init", b"__tsan_init", b"__msan_init"))
    return _SANITIZED


_SANITIZED = None


def ubsan_vptr():
    """Whether TLSGLASS_BIN has UBSan's vptr check. That check validates a vtable by writing it
    to a pipe, which fails when the process has no free fd: it then reports "invalid vptr" (a
    false positive) and, with halt_on_error, kills the proxy. Tests that exhaust the proxy's fds
    cannot run on such a build."""
    if not BIN or not os.path.exists(BIN):
        return False
    with open(BIN, "rb") as f:
        return b"__ubsan_handle_dynamic_type_cache_miss" in f.read()


def need_tlsglass():
    if not BIN or not os.path.exists(BIN):
        raise unittest.SkipTest(f"TLSGLASS_BIN={BIN!r} does not exist: build tlsglass first")
    return BIN


def raise_nofile(wanted):
    """Raise this process's RLIMIT_NOFILE soft limit towards `wanted` (as far as the hard limit
    allows; as root, the hard limit too). Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted > hard and os.geteuid() == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    new = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -------------------------------------------------------------------------------- ports
def free_port(host=LOOPBACK):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback():
    """Whether ::1 can be bound (IPv6 enabled on lo)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def listening(port):
    """Whether something listens on `port` (any address), read from /proc/net/tcp{,6}."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_listening(port, proc=None, what="server", logfile=None, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not listening(port):
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what} exited ({proc.returncode}) before listening on "
                                 f"{port}: {tail(logfile)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not listening on {port} after {timeout:.0f} s: "
                                 f"{tail(logfile)}")
        time.sleep(0.02)


def tail(path, n=1500):
    if not path:
        return ""
    try:
        return pathlib.Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


def wait_until(predicate, timeout, what):
    """Poll `predicate` until true; AssertionError naming `what` after `timeout` (a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------- what to clean up even when killed
# Processes (their process groups) and temp dirs this program started. A test's own cleanups
# normally take care of them; this is for a program stopped from outside (meson's timeout sends
# SIGTERM, Ctrl-C sends SIGINT), when unittest's cleanups never run.
_CHILD_GROUPS = set()
_TEMP_DIRS = set()


def _kill_everything():
    for pgid in list(_CHILD_GROUPS):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    for path in list(_TEMP_DIRS):
        shutil.rmtree(path, ignore_errors=True)


def _on_signal(signum, frame):
    _kill_everything()
    os._exit(128 + signum)


atexit.register(_kill_everything)
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_signal)


# -------------------------------------------------------------------------------- temp dirs
def make_tmp(testcase=None, prefix="tlsglass-ptest-"):
    """A temp dir removed at the end of the test (or of the program)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    _TEMP_DIRS.add(str(path))
    if testcase is not None:
        testcase.addCleanup(shutil.rmtree, path, ignore_errors=True)
    else:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# ------------------------------------------------------------------------------ certificates
def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}): "
                           f"{(r.stderr or r.stdout).strip()[-600:]}")
    return r.stdout


class Pki:
    """A throwaway CA, an RSA 2048 and an ECDSA P-256 leaf for app.tlsglass.test, and an RSA leaf
    for other.tlsglass.test, all signed by the CA and valid from yesterday to 2049."""

    def __init__(self, directory):
        need("openssl")
        d = pathlib.Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.ca = d / "ca.pem"
        self.ca_key = d / "ca.key"
        sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-keyout", str(self.ca_key), "-out", str(self.ca), "-days", "3650",
            "-subj", "/O=tlsglass tests/CN=tlsglass proxy test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash"])
        self.rsa, self.rsa_key = self._leaf("rsa", HOST, ["-newkey", "rsa:2048"])
        self.ecdsa, self.ecdsa_key = self._leaf(
            "ecdsa", HOST, ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        self.wrong, self.wrong_key = self._leaf("wrong", WRONG_HOST, ["-newkey", "rsa:2048"])

    def _leaf(self, name, cn, keyargs):
        d = self.dir
        ext = d / f"{name}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth\n"
                       f"subjectAltName=DNS:{cn}\n"
                       "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        key, csr, pem = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
        sh(["openssl", "req", "-new", *keyargs, "-nodes", "-keyout", str(key), "-out", str(csr),
            "-subj", f"/CN={cn}"])
        sh(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey",
            str(self.ca_key), "-CAcreateserial", "-days", "3650", "-sha256",
            "-extfile", str(ext), "-out", str(pem)])
        return pem, key

    def dated_leaf(self, name, start, end, cn=HOST):
        """A leaf for `cn` signed by the CA, valid from `start` to `end` (aware datetimes, any
        dates: `openssl ca` takes them as given, so a leaf can be expired or not yet valid).
        Returns (pem, key), made once per name."""
        d = self.dir
        pem, key = d / f"{name}.pem", d / f"{name}.key"
        if pem.exists():
            return pem, key
        ca_dir = d / "ca-db"
        if not ca_dir.exists():
            ca_dir.mkdir()
            (ca_dir / "index.txt").write_text("")
            (ca_dir / "serial").write_text("2000\n")
            (ca_dir / "ca.cnf").write_text(
                "[ca]\ndefault_ca = test_ca\n[test_ca]\n"
                f"dir = {ca_dir}\ndatabase = $dir/index.txt\nserial = $dir/serial\n"
                f"new_certs_dir = $dir\ncertificate = {self.ca}\nprivate_key = {self.ca_key}\n"
                "default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n"
                "[any]\ncommonName = supplied\n")
        ext = d / f"{name}.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth\n"
                       f"subjectAltName=DNS:{cn}\n")
        csr = d / f"{name}.csr"
        sh(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-out", str(csr), "-subj", f"/CN={cn}"])
        stamp = lambda t: t.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")
        sh(["openssl", "ca", "-config", str(ca_dir / "ca.cnf"), "-batch", "-notext",
            "-extfile", str(ext), "-startdate", stamp(start), "-enddate", stamp(end),
            "-in", str(csr), "-out", str(pem)])
        return pem, key


_PKI = None


def pki():
    """The program's PKI, made on first use."""
    global _PKI
    if _PKI is None:
        _PKI = Pki(make_tmp(prefix="tlsglass-ptest-pki-"))
    return _PKI


# ---------------------------------------------------------------------------------- processes
class Process:
    """A child in its own session, output to a file; stop() signals its process group."""

    def __init__(self, argv, cwd, logname, env=None, preexec_fn=None, stdin=subprocess.DEVNULL):
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(cwd) / logname
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, cwd=str(cwd), stdin=stdin, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        _CHILD_GROUPS.add(self.pid)

    def output(self):
        return tail(self.log_path, 1 << 20)

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Nothing of its group (nginx workers) may stay behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        _CHILD_GROUPS.discard(self.pid)
        self._log.close()
        return self.proc.returncode


def rss_kib(pid):
    """VmRSS of a process in KiB, from /proc/PID/status."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_count(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------------- the proxy
LISTENING_RE = re.compile(r"^tlsglass: listening on (?P<addrs>.+) \((?P<mode>\w+) mode, "
                          r"(?P<workers>\d+) workers?\)\s*$")
ADDR_RE = re.compile(r"(\[[0-9a-fA-F:.]+\]|\d+\.\d+\.\d+\.\d+):(\d+)")


class Proxy:
    """`tlsglass proxy ARGS --log FILE` with --listen 127.0.0.1:0 unless ARGS has a --listen.

    start() waits for the one `tlsglass: listening on ...` stderr line and parses the bound
    addresses from it. stop() sends SIGTERM and waits (a hang guard only), then the log is read.
    """

    def __init__(self, tmp, *args, workers=2, rlimit_nofile=None, log_name="records.jsonl",
                 env=None, netns=None):
        need_tlsglass()
        self.tmp = pathlib.Path(tmp)
        self.args = [str(a) for a in args]
        self.log_path = self.tmp / log_name
        self.stderr_path = self.tmp / (log_name + ".stderr")
        argv = [BIN, "proxy", *self.args]
        if "--listen" not in self.args:
            argv += ["--listen", f"{LOOPBACK}:0"]
        if "--log" not in self.args:
            argv += ["--log", str(self.log_path)]
        if workers is not None and "--workers" not in self.args:
            argv += ["--workers", str(workers)]
        self.argv = netns.run_argv(argv) if netns is not None else argv
        self.rlimit_nofile = rlimit_nofile
        self.env = dict(os.environ, NO_COLOR="1", **(env or {}))
        self.proc = None
        self.addresses = []
        self.mode = None
        self.workers = None
        self.returncode = None

    def _preexec(self):
        if self.rlimit_nofile is not None:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.rlimit_nofile, hard))

    def start(self):
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, cwd=str(self.tmp), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     env=self.env, start_new_session=True,
                                     preexec_fn=self._preexec)
        _CHILD_GROUPS.add(self.proc.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for line in self.stderr_lines():
                m = LISTENING_RE.match(line)
                if m:
                    self.mode = m["mode"]
                    self.workers = int(m["workers"])
                    self.addresses = [(h.strip("[]"), int(p)) for h, p in ADDR_RE.findall(m["addrs"])]
                    if not self.addresses:
                        raise AssertionError(f"no address in the listening line: {line!r}")
                    return self
            if self.proc.poll() is not None:
                raise AssertionError(f"tlsglass proxy exited ({self.proc.returncode}) without "
                                     f"listening: {' '.join(self.argv)}\n{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no listening line after {START_TIMEOUT:.0f} s: "
                                     f"{' '.join(self.argv)}\n{self.stderr()}")
            time.sleep(0.02)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def port(self):
        return self.addresses[0][1]

    @property
    def host(self):
        return self.addresses[0][0]

    def address(self):
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"

    def stderr(self):
        return tail(self.stderr_path, 1 << 20)

    def stderr_lines(self):
        return self.stderr().splitlines()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def records(self):
        """The records written so far (complete lines only)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.split("\n")[:-1]:  # the last piece has no newline yet (or is empty)
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise AssertionError(f"log line is not JSON ({e}): {line[:300]!r}")
        return out

    def wait_records(self, n, timeout=30.0):
        """At least n records, written while the proxy runs (as soon as the outcome is known)."""
        wait_until(lambda: len(self.records()) >= n, timeout,
                   f"{n} record(s) in {self.log_path} (have {len(self.records())})")
        return self.records()

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM, then wait for the exit (a hang guard of STOP_TIMEOUT s: the contract says
        2 s). Returns the exit code; SIGKILL and AssertionError if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"tlsglass proxy still running {STOP_TIMEOUT:.0f} s after "
                                     f"{signal.Signals(sig).name}\n{self.stderr()[-2000:]}")
        self.returncode = self.proc.returncode
        _CHILD_GROUPS.discard(self.proc.pid)
        self._stderr.close()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc is not None:
            _CHILD_GROUPS.discard(self.proc.pid)
        with contextlib.suppress(Exception):
            self._stderr.close()


def start_proxy(testcase, tmp, *args, **kw):
    """A started Proxy that is killed at the end of the test whatever happens."""
    proxy = Proxy(tmp, *args, **kw)
    testcase.addCleanup(proxy.kill)
    return proxy.start()


def stop_and_read(testcase, proxy, expect_exit=0):
    """Stop the proxy (SIGTERM), check its exit code, return all its records."""
    rc = proxy.stop()
    testcase.assertEqual(rc, expect_exit,
                         f"tlsglass proxy exit code after SIGTERM\n{proxy.stderr()[-2000:]}")
    return proxy.records()


def field(record, dotted, default=None):
    """record['a']['b']['c'] for 'a.b.c', or default when any part is missing."""
    node = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def by_source_port(records, port):
    return [r for r in records if field(r, "source.port") == port]


# ------------------------------------------------------------------------------ real servers
class OpensslServer:
    """`openssl s_server -WWW` on 127.0.0.1:PORT serving www/ (hello.txt), one connection at a
    time, as many as come."""

    def __init__(self, tmp, *flags, cert="rsa", port=None):
        need("openssl")
        p = pki()
        self.tmp = pathlib.Path(tmp)
        self.www = self.tmp / "www"
        self.www.mkdir(exist_ok=True)
        self.body = write_hello(self.www)
        self.port = port or free_port()
        if isinstance(cert, tuple):  # (pem, key), e.g. from Pki.dated_leaf
            certfile, keyfile = cert
        else:
            certfile, keyfile = {"rsa": (p.rsa, p.rsa_key), "ecdsa": (p.ecdsa, p.ecdsa_key),
                                 "wrong": (p.wrong, p.wrong_key)}[cert]
        self.argv = ["openssl", "s_server", "-accept", f"{LOOPBACK}:{self.port}",
                     "-cert", certfile, "-key", keyfile, "-WWW", *flags]
        self.proc = Process(self.argv, self.www, f"s_server-{self.port}.log")
        wait_listening(self.port, self.proc.proc, "openssl s_server", self.proc.log_path)

    def stop(self):
        self.proc.stop()


def write_hello(www):
    body = b"hello from tlsglass's proxy tests\n" + os.urandom(24).hex().encode() + b"\n"
    (pathlib.Path(www) / "hello.txt").write_bytes(body)
    return body


# The http block's logging is {access_log}: NGINX_CONF (no access log) is that, filled in, for
# the users who format it themselves; nginx_conf() takes other logging (a log_format and an
# access_log line of a test's own).
NGINX_CONF_LOGGING = """\
{user}worker_processes 1;
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{ worker_connections {connections}; }}
http {{
    {access_log}
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type text/plain;
    keepalive_timeout {keepalive}s;
    keepalive_requests 100000;
    http2_idle_timeout {keepalive}s;
{servers}
}}
"""

NGINX_CONF = NGINX_CONF_LOGGING.replace("{access_log}", "access_log off;")


def nginx_conf(tmp, servers, connections=1024, keepalive=75, access_log="access_log off;"):
    """NGINX_CONF_LOGGING for nginx in `tmp` (pid file, error log, temp paths) with the server
    blocks `servers`, as the current user (as root: `user root`, so that the worker can read
    the temp dir)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    return NGINX_CONF_LOGGING.format(user=user, tmp=tmp, servers=servers,
                                     connections=connections,
                                     nofile=max(1024, 2 * connections + 64),
                                     keepalive=keepalive, access_log=access_log)


NGINX_SITE = """\
    server {{
        listen {addr}:{port} ssl http2;
        server_name {host};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols {protocols};
        ssl_session_tickets off;
        root {www};
    }}
"""


class Nginx:
    """nginx (one worker) with one TLS site per entry of `sites`: {"protocols": "TLSv1.3",
    "cert": "rsa"|"ecdsa"}; each gets a free port (self.ports, in order). Config, pid file and
    logs live in the temp dir; it runs as the current user (as root: `user root`, so that the
    worker can read the temp dir)."""

    def __init__(self, tmp, sites, connections=1024, keepalive=75):
        need("nginx")
        p = pki()
        self.tmp = pathlib.Path(tmp) / "nginx"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.www = self.tmp / "www"
        self.www.mkdir(exist_ok=True)
        self.body = write_hello(self.www)
        self.ports = []
        servers = ""
        for site in sites:
            port = free_port()
            self.ports.append(port)
            cert, key = {"rsa": (p.rsa, p.rsa_key), "ecdsa": (p.ecdsa, p.ecdsa_key)}[
                site.get("cert", "rsa")]
            servers += NGINX_SITE.format(addr=LOOPBACK, port=port, host=HOST, cert=cert, key=key,
                                         protocols=site.get("protocols", "TLSv1.2 TLSv1.3"),
                                         www=self.www)
        self.conf = self.tmp / "nginx.conf"
        self.conf.write_text(nginx_conf(self.tmp, servers, connections, keepalive))
        self.argv = ["nginx", "-e", self.tmp / "error.log", "-p", self.tmp, "-c", self.conf]
        self.proc = Process(self.argv, self.tmp, "nginx.out")
        for port in self.ports:
            wait_listening(port, self.proc.proc, "nginx", self.tmp / "error.log")

    @property
    def port(self):
        return self.ports[0]

    def stop(self):
        # SIGTERM to the group: master and worker exit fast.
        self.proc.stop()


class GnutlsServer:
    """`gnutls-serv --http` on PORT. gnutls-serv has no bind option: it listens on the wildcard
    addresses (0.0.0.0 and ::); the tests only ever connect to it over 127.0.0.1."""

    def __init__(self, tmp, *flags, port=None):
        need("gnutls-serv")
        p = pki()
        self.tmp = pathlib.Path(tmp)
        self.port = port or free_port()
        self.body = write_hello(self.tmp)
        self.argv = ["gnutls-serv", "--http", "--httpdata", self.tmp / "hello.txt",
                     "--x509certfile", p.rsa, "--x509keyfile", p.rsa_key, "-p", str(self.port),
                     *flags]
        self.proc = Process(self.argv, self.tmp, f"gnutls-serv-{self.port}.log")
        wait_listening(self.port, self.proc.proc, "gnutls-serv", self.proc.log_path)

    def stop(self):
        self.proc.stop()


def start_server(testcase, cls, *args, **kw):
    server = cls(*args, **kw)
    testcase.addCleanup(server.stop)
    return server


# ---------------------------------------------------------------------------------- the tap
class Tap:
    """A TCP relay of our own on 127.0.0.1 that records each connection's bytes both ways
    (c2s, s2c), so that tests read the ClientHello the server got and the ServerHello the client
    got without the proxy's help. Half-close is passed on (shutdown(SHUT_WR))."""

    def __init__(self, upstream_port, upstream_host=LOOPBACK):
        self.upstream = (upstream_host, upstream_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns = []  # dicts: c2s, s2c (bytearray), done (Event)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            conn = {"c2s": bytearray(), "s2c": bytearray(), "done": threading.Event()}
            with self._lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(client, conn), daemon=True).start()

    def _serve(self, client, conn):
        try:
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
        except OSError:
            client.close()
            conn["done"].set()
            return
        ends = []

        def pump(src, dst, buf):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    buf += data
                    dst.sendall(data)
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
            except OSError:
                # A reset: pass it on as one.
                with contextlib.suppress(OSError):
                    dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    dst.close()
            ends.append(1)

        t = threading.Thread(target=pump, args=(server, client, conn["s2c"]), daemon=True)
        t.start()
        pump(client, server, conn["c2s"])
        t.join(60)
        for s in (client, server):
            with contextlib.suppress(OSError):
                s.close()
        conn["done"].set()

    def wait(self, n=1, timeout=30):
        """The first n connections, once each has ended."""
        wait_until(lambda: len(self.conns) >= n, timeout, f"{n} connection(s) through the tap")
        for conn in self.conns[:n]:
            if not conn["done"].wait(timeout):
                raise AssertionError("a tap connection did not end")
        return self.conns[:n]

    def close(self):
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


def start_tap(testcase, upstream_port):
    tap = Tap(upstream_port)
    testcase.addCleanup(tap.close)
    return tap


# ------------------------------------------------------------------- the wire, read by us
def is_grease(value):
    """RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def handshake_messages(stream):
    """(type, body) of the plaintext handshake messages at the start of a byte stream: records of
    content type 22 are joined; ChangeCipherSpec records are skipped; stops at the first record of
    any other type (encrypted) or at the end of the data."""
    buf = bytearray()
    pos = 0
    while pos + 5 <= len(stream):
        ctype = stream[pos]
        length = int.from_bytes(stream[pos + 3:pos + 5], "big")
        body = stream[pos + 5:pos + 5 + length]
        pos += 5 + length
        if ctype == 20:
            continue
        if ctype != 22:
            break
        buf += body
    out = []
    i = 0
    while i + 4 <= len(buf):
        mtype = buf[i]
        mlen = int.from_bytes(buf[i + 1:i + 4], "big")
        if i + 4 + mlen > len(buf):
            break
        out.append((mtype, bytes(buf[i + 4:i + 4 + mlen])))
        i += 4 + mlen
    return out


def _u16_list(data):
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]


def parse_extensions(data):
    exts = []
    i = 0
    while i + 4 <= len(data):
        etype = int.from_bytes(data[i:i + 2], "big")
        elen = int.from_bytes(data[i + 2:i + 4], "big")
        exts.append((etype, data[i + 4:i + 4 + elen]))
        i += 4 + elen
    return exts


def parse_client_hello(stream):
    """The first ClientHello of a client->server byte stream (RFC 8446 4.1.2), as a dict."""
    for mtype, body in handshake_messages(stream):
        if mtype == 1:
            break
    else:
        raise AssertionError(f"no ClientHello in {len(stream)} bytes: {bytes(stream[:16]).hex()}")
    b = body
    hello = {"legacy_version": int.from_bytes(b[0:2], "big")}
    i = 34
    sid_len = b[i]
    i += 1 + sid_len
    cs_len = int.from_bytes(b[i:i + 2], "big")
    hello["ciphers"] = _u16_list(b[i + 2:i + 2 + cs_len])
    i += 2 + cs_len
    comp_len = b[i]
    i += 1 + comp_len
    ext_len = int.from_bytes(b[i:i + 2], "big") if i + 2 <= len(b) else 0
    exts = parse_extensions(b[i + 2:i + 2 + ext_len])
    hello["extensions"] = [t for t, _ in exts]
    hello["sni"] = None
    hello["alpn"] = []
    hello["versions"] = []
    hello["sig_algs"] = []
    hello["groups"] = []
    for etype, data in exts:
        if etype == 0 and len(data) >= 5:  # server_name: list len, type 0, name len, name
            n = int.from_bytes(data[3:5], "big")
            hello["sni"] = data[5:5 + n].decode("ascii", "replace")
        elif etype == 16:  # ALPN: list len, then len-prefixed names
            j = 2
            while j < len(data):
                n = data[j]
                hello["alpn"].append(data[j + 1:j + 1 + n].decode("latin-1"))
                j += 1 + n
        elif etype == 43:  # supported_versions (client): 1-byte length
            hello["versions"] = _u16_list(data[1:1 + data[0]])
        elif etype == 13:
            hello["sig_algs"] = _u16_list(data[2:])
        elif etype == 10:
            hello["groups"] = _u16_list(data[2:])
    hello["bytes"] = 4 + len(body)
    return hello


HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


def parse_server_hello(stream):
    """The ServerHello (not a HelloRetryRequest) of a server->client stream: the selected
    version (supported_versions if present, else legacy_version), cipher and, when visible
    (TLS <= 1.2), the ALPN protocol."""
    for mtype, body in handshake_messages(stream):
        if mtype != 2:
            continue
        if body[2:34] == HRR_RANDOM:
            continue
        i = 34
        i += 1 + body[i]
        cipher = int.from_bytes(body[i:i + 2], "big")
        i += 3
        version = int.from_bytes(body[0:2], "big")
        alpn = None
        if i + 2 <= len(body):
            ext_len = int.from_bytes(body[i:i + 2], "big")
            for etype, data in parse_extensions(body[i + 2:i + 2 + ext_len]):
                if etype == 43 and len(data) == 2:
                    version = int.from_bytes(data, "big")
                elif etype == 16 and len(data) >= 3:
                    alpn = data[3:3 + data[2]].decode("ascii", "replace")
        return {"version": version, "cipher": cipher, "alpn": alpn}
    raise AssertionError(f"no ServerHello in {len(stream)} bytes")


VERSION_NAMES = {0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0", 0x0300: "3.0"}


def version_name(code):
    if is_grease(code):
        return "GREASE"
    return VERSION_NAMES.get(code, f"0x{code:04x}")


def ja4(hello):
    """JA4 (the sorted, hashed form) of a parsed ClientHello, per FoxIO's JA4.md: TCP, version
    (highest non-GREASE supported_versions, else legacy), d/i for SNI, cipher and extension
    counts without GREASE, first/last character of the first ALPN; sha256[:12] of the sorted
    cipher list; sha256[:12] of the sorted extensions without SNI and ALPN, '_', the signature
    algorithms in wire order."""
    versions = [v for v in hello["versions"] if not is_grease(v)]
    top = max(versions) if versions else hello["legacy_version"]
    vstr = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
            0x0200: "s2", 0x0100: "s1"}.get(top, "00")
    ciphers = [c for c in hello["ciphers"] if not is_grease(c)]
    exts = [e for e in hello["extensions"] if not is_grease(e)]
    if hello["alpn"] and hello["alpn"][0]:
        first = hello["alpn"][0]
        a, z = first[0], first[-1]
        if a.isascii() and a.isalnum() and z.isascii() and z.isalnum():
            alpn = a + z
        else:
            h = first.encode("latin-1").hex()
            alpn = h[0] + h[-1]
    else:
        alpn = "00"
    part_a = (f"t{vstr}{'d' if hello['sni'] is not None else 'i'}"
              f"{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}")

    def h12(text):
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    part_b = h12(",".join(sorted(f"{c:04x}" for c in ciphers))) if ciphers else "0" * 12
    sorted_exts = sorted(f"{e:04x}" for e in exts if e not in (0x0000, 0x0010))
    sigs = [f"{s:04x}" for s in hello["sig_algs"] if not is_grease(s)]
    if not sorted_exts:
        part_c = "0" * 12
    else:
        text = ",".join(sorted_exts)
        if sigs:
            text += "_" + ",".join(sigs)
        part_c = h12(text)
    return f"{part_a}_{part_b}_{part_c}"


JA4_RE = re.compile(r"^[tqd](13|12|11|10|s3|s2|s1|00)[di]\d{2}\d{2}[0-9A-Za-z]{2}_"
                    r"[0-9a-f]{12}_[0-9a-f]{12}$")


_CIPHERS = None


def cipher_tables():
    """(code -> IANA name, OpenSSL name -> IANA name), from `openssl ciphers -V -stdname` (all
    suites, TLS 1.3 included), plus the renegotiation SCSV (RFC 5746) and the fallback SCSV (RFC
    7507), which openssl does not list."""
    global _CIPHERS
    if _CIPHERS is None:
        need("openssl")
        out = sh(["openssl", "ciphers", "-V", "-stdname", "-ciphersuites",
                  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
                  "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256",
                  "ALL:COMPLEMENTOFALL:@SECLEVEL=0"])
        by_code, by_openssl = {}, {}
        for line in out.splitlines():
            m = re.match(r"\s*0x([0-9A-Fa-f]{2}),0x([0-9A-Fa-f]{2}) - (\S+)\s+- (\S+)\s", line)
            if m:
                code = int(m[1] + m[2], 16)
                by_code[code] = m[3]
                by_openssl[m[4]] = m[3]
        by_code[0x00FF] = "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
        by_code[0x5600] = "TLS_FALLBACK_SCSV"
        _CIPHERS = (by_code, by_openssl)
    return _CIPHERS


def iana_cipher(name_or_code):
    """IANA name of a cipher suite given by code or by OpenSSL name (IANA names pass through)."""
    by_code, by_openssl = cipher_tables()
    if isinstance(name_or_code, int):
        return by_code.get(name_or_code)
    if name_or_code.startswith("TLS_"):
        return name_or_code
    return by_openssl.get(name_or_code)


# ------------------------------------------------------------------------ CONNECT, by hand
def read_http_head(sock, timeout=30):
    """Read an HTTP response head (up to CRLFCRLF); returns (status, reason, headers dict
    lower-cased, raw head, bytes received after the head). Status None if the peer closed first."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > 1 << 20:
            raise AssertionError("HTTP head longer than 1 MiB")
    if b"\r\n\r\n" not in data:
        return None, None, {}, data, b""
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise AssertionError(f"not an HTTP status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(m[1]), m[2] or "", headers, head, rest


def read_body(sock, headers, already, timeout=30):
    """The body after a head: Content-Length bytes if given, else until EOF."""
    sock.settimeout(timeout)
    body = already
    length = headers.get("content-length")
    want = int(length) if length and length.isdigit() else None
    while want is None or len(body) < want:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        body += chunk
    return body if want is None else body[:want]


def connect_request(target, version="1.1", extra_headers=""):
    return (f"CONNECT {target} HTTP/{version}\r\nHost: {target}\r\n{extra_headers}\r\n").encode()


def proxy_connect(proxy_port, target, pipelined=b"", proxy_host=LOOPBACK, timeout=30):
    """Open a socket to the proxy, send `CONNECT target` (+ pipelined bytes in the same send),
    read the answer's head. Returns (sock, status, reason, headers, rest)."""
    sock = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    sock.sendall(connect_request(target) + pipelined)
    status, reason, headers, _, rest = read_http_head(sock, timeout)
    return sock, status, reason, headers, rest


def format_target(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------- network namespaces
CLONE_NEWNET = 0x40000000


class NetNs:
    """A private network namespace of our own with only `lo` (up), held by a `sleep` process.
    run_argv() prefixes a command with nsenter so that it runs inside; socket() makes a socket
    in it from this process (setns on the calling thread, then back). Needs root, unshare,
    nsenter and ip; SkipTest otherwise."""

    def __init__(self, tmp):
        import ctypes
        if os.geteuid() != 0:
            raise unittest.SkipTest("a private network namespace needs root")
        need("unshare", "nsenter", "ip")
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.proc = Process(["unshare", "--net", "sh", "-c",
                             "ip link set lo up && echo up && exec sleep 3600"],
                            tmp, "netns.log")
        wait_until(lambda: "up" in self.proc.output() or not self.proc.running(), 15,
                   "the network namespace")
        if not self.proc.running():
            raise unittest.SkipTest(f"unshare --net failed: {self.proc.output()[-300:]}")
        self.path = f"/proc/{self.proc.pid}/ns/net"

    def run_argv(self, argv):
        return ["nsenter", f"--net={self.path}", *argv]

    def socket(self, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(self.path, os.O_RDONLY)
        try:
            if self._libc.setns(target, CLONE_NEWNET) != 0:
                import ctypes
                err = ctypes.get_errno()
                raise OSError(err, f"setns into the test namespace: {os.strerror(err)}")
            try:
                return socket.socket(family, kind)
            finally:
                if self._libc.setns(own, CLONE_NEWNET) != 0:
                    raise RuntimeError("setns back to the original network namespace failed")
        finally:
            os.close(own)
            os.close(target)

    def stop(self):
        self.proc.stop(signal.SIGKILL)


# ---------------------------------------------------------------------- a many-client echo
class EchoServer:
    """A plain TCP echo server on 127.0.0.1 for thousands of connections at once (one thread,
    selectors). Counts connections accepted and currently open."""

    def __init__(self, backlog=4096):
        import selectors
        self.sel = selectors.DefaultSelector()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(backlog)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.accepted = 0
        self.open = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import selectors
        while not self._stop:
            for key, _ in self.sel.select(0.2):
                s = key.fileobj
                if s is self.sock:
                    while True:
                        try:
                            conn, _ = self.sock.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            time.sleep(0.05)  # EMFILE: try again later
                            break
                        conn.setblocking(False)
                        self.sel.register(conn, selectors.EVENT_READ)
                        self.accepted += 1
                        self.open += 1
                    continue
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    try:
                        s.sendall(data)  # small messages: the send buffer has room
                    except OSError:
                        data = b""
                if not data:
                    self.sel.unregister(s)
                    s.close()
                    self.open -= 1
        for key in list(self.sel.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()

    def close(self):
        self._stop = True
        self._thread.join(5)


# ------------------------------------------------------------------------------ terminals
class TmuxPane:
    """A command in a tmux pane of `width`x`height` (a real terminal), read back with
    capture-pane; the pane stays after the command exits (its output stays readable)."""

    def __init__(self, testcase, width=160, height=50, marker="BEFORE"):
        self.tmux = shutil.which("tmux")
        if not self.tmux:
            raise unittest.SkipTest("tmux not installed (scripts/bootstrap installs it; on "
                                    "Debian: apt-get install tmux)")
        self.socket = f"tlsglass-tmux-{os.getpid()}-{id(self)}"
        self.width, self.height, self.marker = width, height, marker
        testcase.addCleanup(self.kill)

    def cmd(self, *args, check=True):
        return subprocess.run([self.tmux, "-u", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, timeout=20, check=check)

    def kill(self):
        self.cmd("kill-server", check=False)

    def start(self, command, env=None):
        environment = {"TERM": "xterm-256color", "LANG": "C.UTF-8", **(env or {})}
        assignments = " ".join(f"{k}={v!r}" for k, v in environment.items())
        # The pane stays after the command: what it printed before it exited stays readable.
        script = (f"echo {self.marker}; env -u NO_COLOR -u LC_ALL {assignments} {command}; "
                  f"echo EXITED $?; sleep 600")
        self.cmd("new-session", "-d", "-s", "main", "-x", str(self.width), "-y",
                 str(self.height), "sh", "-c", script)

    def screen(self, escapes=False, history=True):
        args = ["capture-pane", "-p", "-J", "-t", "main"]
        if history:
            args += ["-S", "-"]  # the scrollback too: a long output scrolls
        if escapes:
            args.append("-e")
        return self.cmd(*args).stdout.decode("utf-8", "replace")

    def wait_for(self, what, predicate, timeout=30, interval=0.1, escapes=False, history=True):
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(escapes, history)
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}:\n{text}")
            time.sleep(interval)
