"""Helpers for the `tlsglass replay` tests (tests/replay/test_*.py).

tests/proxy/support.py (temp dirs, the test CA, processes killed even when the test program is,
`need()`) and tests/scenarios/scenario_support.py (the peers of the tests' own, such as the
server that resets after the ClientHello) are imported, not copied. This file adds what replay
tests need on top:
  - `replay()`: runs `tlsglass replay ARGS`, returns its exit code, JSON records and stderr;
  - `tshark_rows()`: the capture read by tshark (the expected values come from there);
  - `Topology`: three network namespaces of the test's own (client, router, server) joined by
    veth pairs in 10.77.0.0/16, the router forwarding, iptables rules in its FORWARD chain;
    every namespace is deleted and every process killed at the end of the test;
  - `Tcpdump`: tcpdump in a namespace, stopped with SIGINT so that the file is complete;
  - `TmuxPane`: a command in a real terminal (a tmux pane), read back with capture-pane, the
    way tests/tail/test_tail.py does it;
  - classic pcap files written and read here (struct, no tlsglass code): a file of an
    unsupported link type, a file cut in the middle of a packet, many copies of a connection.
"""
import contextlib
import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "proxy"))
sys.path.insert(0, os.path.join(HERE, "..", "scenarios"))
sys.dont_write_bytecode = True
import support  # noqa: E402
import scenario_support  # noqa: E402
from support import field  # noqa: E402,F401

FIXTURES = pathlib.Path(support.DATA) / "fixtures"
TIMEOUT = 60  # a hang guard only


# ------------------------------------------------------------------------------ the command
class Replayed:
    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr

    @property
    def records(self):
        out = []
        for line in self.stdout.splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise AssertionError(f"replay stdout line is not JSON ({e}): {line[:300]!r}")
        return out

    @property
    def stderr_lines(self):
        return self.stderr.splitlines()

    def __repr__(self):
        return (f"`{' '.join(map(str, self.argv))}` exit {self.rc}\n"
                f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}")


def replay(*args, cwd=None, timeout=TIMEOUT):
    """`tlsglass replay ARGS` with stdout a pipe (not a terminal: JSON lines)."""
    argv = [support.need_tlsglass(), "replay", *[str(a) for a in args]]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                       env=dict(os.environ, NO_COLOR="1"))
    return Replayed(argv, r.returncode, r.stdout, r.stderr)


def replay_records(testcase, path, *args):
    """The records of one capture that must replay cleanly (exit 0)."""
    r = replay("--json", path, *args)
    testcase.assertEqual(r.rc, 0, r)
    return r.records


# --------------------------------------------------------------------------------- tshark
def tshark_rows(path, fields, display_filter=None, options=()):
    """tshark's fields of each packet of `path` (matching the filter), as lists of strings."""
    support.need("tshark")
    argv = ["tshark", "-n", "-r", str(path), *options, "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        argv += ["-e", f]
    if display_filter:
        argv += ["-Y", display_filter]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr[-800:]}")
    return [line.split("\t") for line in r.stdout.splitlines()]


def tshark_dicts(path, fields, display_filter=None, options=()):
    return [dict(zip(fields, row)) for row in tshark_rows(path, fields, display_filter, options)]


def sh(argv, check=True, timeout=TIMEOUT):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[-800:]}")
    return r


# ---------------------------------------------------------------------- network namespaces
_TOPOLOGIES = 0


class Topology:
    """client --veth-- router --veth-- server, three namespaces of this test's own:

        client c0 10.77.1.2/24  <->  r0 10.77.1.1/24 router r1 10.77.2.1/24  <->  s0 10.77.2.2/24

    MTU 1500 everywhere and GSO/GRO capped at 1500 bytes (ethtool is not needed for that: `ip
    link set ... gso_max_size`), so that what tcpdump sees is what went on the wire, segment by
    segment. The router forwards (net.ipv4.ip_forward=1) and `iptables()` adds rules to its
    FORWARD chain. `server_ttl` sets the server namespace's net.ipv4.ip_default_ttl (its
    packets' initial TTL). Names are unique per test run (pid and a counter); cleanup() deletes
    the namespaces (and with them the veths and the rules) and kills what runs in them; it is
    registered with `add_cleanup` (a test's addCleanup, or a class's addClassCleanup when one
    capture serves several tests) before anything is made, so it runs even when set-up fails.

    For other users of the same layout (a subclass with addresses of its own): `tag` is the
    names' prefix (a format string of `pid` and `n`, the counter), `tools` the programs needed
    (support.need: a skip without them), `cap_offloads=False` leaves MTU and GSO/GRO as the
    kernel makes them, `wait_carrier` waits for every veth's operstate up (as a router's links
    are before a daemon reads its addresses); a subclass that sets CLIENT_IP6 ... SERVER_GW6
    gets an IPv6 network beside the IPv4 one (/64, `nodad`: usable at once), IPv6 default
    routes and forwarding, and a ping to SERVER_IP6 too."""

    CLIENT_IP, CLIENT_GW = "10.77.1.2", "10.77.1.1"
    SERVER_IP, SERVER_GW = "10.77.2.2", "10.77.2.1"
    CLIENT_IP6 = CLIENT_GW6 = SERVER_IP6 = SERVER_GW6 = None  # IPv4 only
    LINKS = (("client", "c0"), ("router", "r0"), ("router", "r1"), ("server", "s0"))

    def __init__(self, add_cleanup, server_ttl=None, *, tag="tg{pid}x{n}",
                 tools=("ip", "iptables", "tcpdump"), cap_offloads=True, wait_carrier=False):
        global _TOPOLOGIES
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces need root")
        support.need(*tools)
        _TOPOLOGIES += 1
        tag = tag.format(pid=os.getpid(), n=_TOPOLOGIES)
        self.client, self.router, self.server = f"{tag}c", f"{tag}r", f"{tag}s"
        self.processes = []
        add_cleanup(self.cleanup)
        for ns in (self.client, self.router, self.server):
            sh(["ip", "netns", "add", ns])
        # Both ends of each veth are created in their namespaces: nothing appears in ours.
        sh(["ip", "-n", self.client, "link", "add", "c0", "type", "veth", "peer", "name", "r0",
            "netns", self.router])
        sh(["ip", "-n", self.server, "link", "add", "s0", "type", "veth", "peer", "name", "r1",
            "netns", self.router])
        for (ns, dev), v4, v6 in zip(self.links(),
                                     (self.CLIENT_IP, self.CLIENT_GW, self.SERVER_GW,
                                      self.SERVER_IP),
                                     (self.CLIENT_IP6, self.CLIENT_GW6, self.SERVER_GW6,
                                      self.SERVER_IP6)):
            if cap_offloads:
                sh(["ip", "-n", ns, "link", "set", dev, "mtu", "1500"])
                # No offloads: segments no larger than the MTU, as on a real wire. Not every
                # iproute2 knows gro_max_size; gso_max_size is what matters for what tcpdump
                # sees.
                sh(["ip", "-n", ns, "link", "set", dev, "gso_max_size", "1500"])
                sh(["ip", "-n", ns, "link", "set", dev, "gro_max_size", "1500"], check=False)
            sh(["ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev])
            if v6 is not None:
                sh(["ip", "-n", ns, "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad"])
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
        for ns in (self.client, self.router, self.server):
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        if wait_carrier:
            self.wait_operationally_up()
        sh(["ip", "-n", self.client, "route", "add", "default", "via", self.CLIENT_GW])
        sh(["ip", "-n", self.server, "route", "add", "default", "via", self.SERVER_GW])
        if self.SERVER_IP6 is not None:
            sh(["ip", "-n", self.client, "-6", "route", "add", "default", "via",
                self.CLIENT_GW6])
            sh(["ip", "-n", self.server, "-6", "route", "add", "default", "via",
                self.SERVER_GW6])
        self.sysctl(self.router, "net.ipv4.ip_forward", 1)
        if self.SERVER_IP6 is not None:
            self.sysctl(self.router, "net.ipv6.conf.all.forwarding", 1)
        if server_ttl is not None:
            self.sysctl(self.server, "net.ipv4.ip_default_ttl", server_ttl)
        self.server_ttl = int(self.sysctl(self.server, "net.ipv4.ip_default_ttl"))
        self.router_ttl = int(self.sysctl(self.router, "net.ipv4.ip_default_ttl"))
        # The namespaces reach each other through the router.
        for address in (self.SERVER_IP, self.SERVER_IP6) if shutil.which("ping") else ():
            if address is None:
                continue
            ping = sh(self.exec_argv(self.client, ["ping", "-c", "1", "-W", "5", address]),
                      check=False)
            if ping.returncode != 0:
                raise AssertionError(f"the client namespace cannot reach the server at "
                                     f"{address}: {ping.stdout}{ping.stderr}")

    def links(self):
        """(namespace, device) of each veth end: c0, r0, r1, s0."""
        return [(getattr(self, role), dev) for role, dev in self.LINKS]

    def wait_operationally_up(self):
        """Until every veth's operstate is up. Packets flow at once, but the kernel reports the
        carrier (operstate, IFF_RUNNING) through linkwatch, at most once a second, and until
        then getifaddrs() - which a daemon may read once at start for its own addresses - calls
        the link not running."""
        def up():
            return all("state UP" in sh(["ip", "-n", ns, "-o", "link", "show", "dev", dev]).stdout
                       for ns, dev in self.links())
        support.wait_until(up, 10, "the veths' operstate up")

    def exec_argv(self, ns, argv):
        return ["ip", "netns", "exec", ns, *[str(a) for a in argv]]

    def sysctl(self, ns, name, value=None):
        if value is None:
            return sh(self.exec_argv(ns, ["sysctl", "-n", name])).stdout.strip()
        sh(self.exec_argv(ns, ["sysctl", "-q", "-w", f"{name}={value}"]))
        return str(value)

    def iptables(self, *rule):
        """A rule in the router's FORWARD chain (appended)."""
        sh(self.exec_argv(self.router, ["iptables", "-A", "FORWARD", *rule]))

    def iptables_counters(self):
        """`iptables -L FORWARD -v -x -n` in the router: (packets, target) per rule."""
        out = sh(self.exec_argv(self.router, ["iptables", "-L", "FORWARD", "-v", "-x", "-n"]))
        rows = []
        for line in out.stdout.splitlines()[2:]:
            parts = line.split()
            if len(parts) >= 3 and parts[0].isdigit():
                rows.append((int(parts[0]), parts[2]))
        return rows

    def start(self, ns, argv, tmp, logname):
        """A long-running program in namespace `ns` (its own process group, killed at cleanup)."""
        proc = support.Process(self.exec_argv(ns, argv), tmp, logname)
        self.processes.append(proc)
        return proc

    def run(self, ns, argv, timeout=TIMEOUT, stdin=b""):
        """A client in namespace `ns`, run to its end (scenario_support.run: killed on a hang)."""
        return scenario_support.run(self.exec_argv(ns, argv), stdin=stdin, timeout=timeout)

    def wait_listening(self, proc, port, what, timeout=support.START_TIMEOUT):
        wait_listening_in(proc, port, what, timeout)

    def cleanup(self):
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                proc.stop(signal.SIGKILL)
        for ns in (self.client, self.router, self.server):
            # `ip netns pids` then kill: nothing of ours may outlive its namespace.
            pids = sh(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh(["ip", "netns", "del", ns], check=False)


def wait_listening_in(proc, port, what, timeout=support.START_TIMEOUT):
    """Until `proc` (a support.Process, run in another network namespace) listens on `port`:
    that namespace's TCP table, /proc/PID/net/tcp read through the process itself
    (support.wait_listening reads our own namespace's)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = [l.split() for l in
                    pathlib.Path(f"/proc/{proc.pid}/net/tcp").read_text().splitlines()[1:]]
        except OSError:
            rows = []
        if any(r[3] == "0A" and int(r[1].rsplit(":", 1)[1], 16) == port for r in rows):
            return
        if not proc.running():
            raise AssertionError(f"{what} exited before listening: {proc.output()[-1500:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not listening on {port} after {timeout:.0f} s: "
                                 f"{proc.output()[-1500:]}")
        time.sleep(0.05)


class Tcpdump:
    """tcpdump writing every TCP packet of an interface to a pcap, started in a namespace (or
    ours when ns is None); stop() sends SIGINT and waits, so the file is flushed and complete."""

    def __init__(self, add_cleanup, tmp, path, interface, ns=None, topology=None,
                 link_type=None):
        support.need("tcpdump")
        # --immediate-mode: each packet to the file as it comes. Without it libpcap hands packets
        # over a ring-buffer block at a time, and what is still in a block at SIGINT is lost.
        argv = ["tcpdump", "-n", "--immediate-mode", "-U", "-s", "0", "-i", interface, "-w",
                str(path)]
        if link_type:
            argv += ["-y", link_type]
        argv += ["tcp"]
        if topology is not None:
            argv = topology.exec_argv(ns, argv)
        elif ns is not None:
            argv = ns.run_argv(argv)  # a support.NetNs
        self.path = pathlib.Path(path)
        self.proc = support.Process(argv, tmp, f"tcpdump-{self.path.stem}.log")
        add_cleanup(self.stop)
        support.wait_until(lambda: "listening on" in self.proc.output() or not self.proc.running(),
                           support.START_TIMEOUT, "tcpdump to start listening")
        if not self.proc.running():
            raise AssertionError(f"tcpdump failed: {self.proc.output()[-800:]}")
        time.sleep(1.0)  # its socket is open and filtering before the first packet comes

    def stop(self):
        if self.proc.running():
            self.proc.stop(signal.SIGINT)
        return self.path

    def output(self):
        return self.proc.output()


# ------------------------------------------------------------------------------ terminal
TmuxPane = support.TmuxPane


# ------------------------------------------------------------------- classic pcap, by hand
PCAP_MAGIC_US = 0xA1B2C3D4


def pcap_header(link_type, snaplen=262144):
    """A classic pcap global header (little-endian, microseconds, version 2.4)."""
    return struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, link_type)


def pcap_packet(seconds, micros, data, orig_len=None):
    return struct.pack("<IIII", seconds, micros, len(data),
                       len(data) if orig_len is None else orig_len) + data


def read_classic_pcap(path):
    """(link type, [(ts_sec, ts_usec, bytes, orig_len)]) of a little-endian microsecond pcap."""
    data = pathlib.Path(path).read_bytes()
    magic, _, _, _, _, _, link_type = struct.unpack("<IHHiIII", data[:24])
    if magic != PCAP_MAGIC_US:
        raise AssertionError(f"{path}: not a little-endian microsecond pcap ({magic:#x})")
    packets, offset = [], 24
    while offset < len(data):
        sec, usec, caplen, orig = struct.unpack("<IIII", data[offset:offset + 16])
        packets.append((sec, usec, data[offset + 16:offset + 16 + caplen], orig))
        offset += 16 + caplen
    return link_type, packets


def to_classic_pcap(src, dst):
    """A copy of `src` (pcap or pcapng) as a classic pcap, written by editcap (Wireshark)."""
    support.need("editcap")
    sh(["editcap", "-F", "pcap", str(src), str(dst)])
    return dst


def cut_mid_packet(src, dst, packet_index):
    """`src` (classic pcap) cut in the middle of packet `packet_index`'s data: its record
    header says more bytes than the file has."""
    data = pathlib.Path(src).read_bytes()
    offset = 24
    for _ in range(packet_index):
        caplen = struct.unpack("<I", data[offset + 8:offset + 12])[0]
        offset += 16 + caplen
    caplen = struct.unpack("<I", data[offset + 8:offset + 12])[0]
    pathlib.Path(dst).write_bytes(data[:offset + 16 + caplen // 2])
    return dst


def many_connections(src, dst, copies, ports=1000, step_us=10000):
    """A classic pcap of `copies` copies of the single IPv4-over-Ethernet connection in `src`
    (a classic pcap), each `step_us` later than the one before, the client's port cycling over
    `ports` ports from 20000 (a port is used again only after its previous connection ended)."""
    link_type, packets = read_classic_pcap(src)
    if link_type != 1:
        raise AssertionError(f"{src}: link type {link_type}, not Ethernet")
    first = packets[0][2]
    client_port = struct.unpack(">H", first[34:36])[0]  # 14 Ethernet + 20 IPv4: TCP ports
    prepared = []
    for sec, usec, data, orig in packets:
        sport, dport = struct.unpack(">HH", data[34:38])
        prepared.append((sec * 1_000_000 + usec, bytearray(data), sport == client_port,
                         dport == client_port, orig))
    with open(dst, "wb") as out:
        out.write(pcap_header(link_type))
        chunk = []
        for i in range(copies):
            port = struct.pack(">H", 20000 + i % ports)
            shift = i * step_us
            for t, data, src_is_client, dst_is_client, orig in prepared:
                if src_is_client:
                    data[34:36] = port
                if dst_is_client:
                    data[36:38] = port
                t += shift
                chunk.append(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(data), orig))
                chunk.append(bytes(data))
            if len(chunk) > 20000:
                out.write(b"".join(chunk))
                chunk = []
        out.write(b"".join(chunk))
    return dst
