#!/usr/bin/env python3
"""Helpers for bench/proxy.sh: the parts bash does badly.

    proxy_tools.py ports N                      N free loopback TCP ports, one a line
    proxy_tools.py waitport PORT SECS [PID]     wait until 127.0.0.1:PORT accepts (PID must stay alive)
    proxy_tools.py echo-server PORT             TCP echo server (asyncio), for latency and idle tests
    proxy_tools.py pingpong PORT COUNT SIZE     round trips over one connection -> JSON (µs)
    proxy_tools.py hold PORT COUNT PID SNI      hold COUNT idle TLS connections, RSS of PID's tree -> JSON
    proxy_tools.py cputicks PID                 CPU of PID and its descendants, in µs
    proxy_tools.py h2load FILE...               sum rounds of h2load output -> JSON
    proxy_tools.py iperf FILE                   iperf3 -J output -> Gbit/s received
    proxy_tools.py machine                      one line per fact: CPU, cores, kernel
    proxy_tools.py table RESULTS [META]         the final tables (Markdown) from `peer metric value` lines

Only the standard library; Python 3.9+.
"""
import asyncio
import json
import re
import os
import resource
import socket
import sys
import time

LOOPBACK = "127.0.0.1"


def die(msg):
    print(f"proxy_tools: {msg}", file=sys.stderr)
    sys.exit(1)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- ports


def cmd_ports(n):
    socks, ports = [], []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind((LOOPBACK, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print("\n".join(map(str, ports)))


def cmd_waitport(port, secs, pid=None):
    deadline = time.monotonic() + float(secs)
    while time.monotonic() < deadline:
        if pid and not os.path.exists(f"/proc/{pid}"):
            die(f"process {pid} exited before 127.0.0.1:{port} accepted")
        if pid and _state(int(pid)) == "Z":
            die(f"process {pid} exited before 127.0.0.1:{port} accepted")
        try:
            with socket.create_connection((LOOPBACK, int(port)), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    die(f"127.0.0.1:{port} did not accept connections within {secs}s")


# ---------------------------------------------------------------- echo server


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        sock = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def data_received(self, data):
        self.t.write(data)

    def eof_received(self):
        return False  # close our side too


def cmd_echo_server(port):
    raise_nofile()

    async def main():
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(Echo, LOOPBACK, int(port), backlog=4096, reuse_address=True)
        async with srv:
            await srv.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------- latency


def cmd_pingpong(port, count, size):
    count, size = int(count), int(size)
    warm = max(100, count // 20)
    s = socket.create_connection((LOOPBACK, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = os.urandom(size)
    buf = bytearray(size)
    view = memoryview(buf)
    samples = []
    clock = time.perf_counter_ns
    for i in range(warm + count):
        t0 = clock()
        s.sendall(msg)
        got = 0
        while got < size:
            n = s.recv_into(view[got:], size - got)
            if n == 0:
                die("echo connection closed during the ping-pong")
            got += n
        t1 = clock()
        if i >= warm:
            samples.append(t1 - t0)
        if i == 0 and bytes(buf) != msg:
            die("echo returned different bytes")
    s.close()
    samples.sort()

    def pct(p):
        return samples[min(len(samples) - 1, int(round(p / 100.0 * (len(samples) - 1))))] / 1000.0

    print(json.dumps({"n": len(samples), "p50_us": pct(50), "p99_us": pct(99),
                      "mean_us": sum(samples) / len(samples) / 1000.0}))


# ---------------------------------------------------------------- /proc


def _stat(pid):
    """(ppid, state, utime+stime+cutime+cstime in ticks) or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # rest[0]=state(3) rest[1]=ppid(4) ... utime(14)=rest[11] stime=rest[12] cutime=rest[13] cstime=rest[14]
    return int(rest[1]), rest[0], sum(int(x) for x in rest[11:15])


def _state(pid):
    st = _stat(pid)
    return st[1] if st else None


def tree(root):
    """root and all its live descendants, with their stat tuples."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                procs[int(name)] = st
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [int(root)]
    while todo:
        p = todo.pop()
        if p in procs and p not in out:
            out[p] = procs[p]
            todo.extend(children.get(p, []))
    return out


def cpu_us(root):
    """utime+stime of the tree; plus cutime+cstime, so that children that exited (socat's
    per-connection forks, reaped by their parent) still count."""
    tck = os.sysconf("SC_CLK_TCK")
    return sum(t for _, _, t in tree(root).values()) * 1_000_000 // tck


def _status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_kb(root):
    pids = list(tree(root))
    return (sum(_status_kb(p, "VmRSS") for p in pids), sum(_pss_kb(p) for p in pids), len(pids))


def cmd_cputicks(pid):
    print(cpu_us(pid))


# ---------------------------------------------------------------- idle connections


def cmd_hold(port, count, pid, sni):
    """Open COUNT TLS connections to 127.0.0.1:PORT (SNI given), make one HTTP/1.1 request on each,
    read the answer, and keep them open and idle; the RSS/PSS of PID's process tree is read before
    the first one opens and once all are idle."""
    import ssl
    count = int(count)
    limit = raise_nofile()
    if limit < count + 64:
        die(f"RLIMIT_NOFILE is {limit}, need {count + 64} to hold {count} connections")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    request = f"GET / HTTP/1.1\r\nHost: {sni}\r\n\r\n".encode()

    async def one(sem, conns):
        err = None
        async with sem:
            for attempt in range(5):
                try:
                    r, w = await asyncio.wait_for(asyncio.open_connection(
                        LOOPBACK, int(port), ssl=ctx, server_hostname=sni), 20)
                    w.write(request)
                    await w.drain()
                    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
                    if not head.startswith(b"HTTP/1.1 200"):
                        raise OSError(f"answer {head[:40]!r}")
                    m = re.search(rb"(?i)content-length: *(\d+)", head)
                    await asyncio.wait_for(r.readexactly(int(m.group(1)) if m else 0), 20)
                    conns.append(w)
                    return
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                        asyncio.LimitOverrunError) as e:
                    err = e
                    await asyncio.sleep(0.1 * (attempt + 1))
            raise OSError(f"a connection failed 5 times: {err!r}")

    async def main():
        await asyncio.sleep(0.3)
        rss0, pss0, n0 = mem_kb(pid)
        conns = []
        sem = asyncio.Semaphore(32)
        t0 = time.monotonic()
        try:
            await asyncio.gather(*(one(sem, conns) for _ in range(count)))
        except OSError as e:
            for w in conns:
                w.close()
            die(f"holding idle connections: {e} ({len(conns)} open)")
        opened = time.monotonic() - t0
        await asyncio.sleep(1.5)
        rss1, pss1, n1 = mem_kb(pid)
        for w in conns:
            w.close()
        await asyncio.sleep(0.3)
        print(json.dumps({"count": len(conns), "open_s": round(opened, 2),
                          "rss_before_kb": rss0, "rss_after_kb": rss1,
                          "pss_before_kb": pss0, "pss_after_kb": pss1,
                          "procs_before": n0, "procs_after": n1,
                          "rss_per_conn_bytes": round((rss1 - rss0) * 1024 / len(conns), 1),
                          "pss_per_conn_bytes": round((pss1 - pss0) * 1024 / len(conns), 1)}))

    asyncio.run(main())


# ---------------------------------------------------------------- tool outputs


def cmd_h2load(*files):
    total = ok = failed = errored = 0
    secs = 0.0
    for fn in files:
        with open(fn, errors="replace") as f:
            text = f.read()
        m = re.search(r"finished in ([\d.]+)(us|ms|s),", text)
        r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored", text)
        if not m or not r:
            die(f"no result in h2load output {fn}:\n{text[-800:]}")
        secs += float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(2)]
        total += int(r.group(1))
        ok += int(r.group(4))
        failed += int(r.group(5))
        errored += int(r.group(6))
    print(json.dumps({"requests": total, "succeeded": ok, "failed": failed, "errored": errored,
                      "seconds": secs, "per_s": ok / secs if secs > 0 else 0.0}))


def cmd_iperf(fn):
    try:
        with open(fn) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read iperf3 output {fn}: {e}")
    if "error" in d:
        die(f"iperf3: {d['error']}")
    try:
        bps = d["end"]["sum_received"]["bits_per_second"]
    except KeyError:
        die(f"no end.sum_received in iperf3 output {fn}")
    print(f"{bps / 1e9:.3f}")


def cmd_machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mhz = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    mhz = f" @ {float(line.split(':', 1)[1]):.0f} MHz"
                    break
    except OSError:
        pass
    u = os.uname()
    mem = _meminfo_kb("MemTotal")
    print(f"cpu: {model}{mhz}")
    print(f"cores (nproc): {len(os.sched_getaffinity(0))} of {os.cpu_count()}")
    print(f"memory: {mem / 1048576:.1f} GiB")
    print(f"kernel: {u.sysname} {u.release} {u.machine}")
    try:
        print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except OSError:
        pass


def _meminfo_kb(field):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- table

# metric key -> (label, unit, better: "high"|"low", format)
METRICS = [
    ("tput1", "throughput, 1 stream", "Gbit/s", "high", "{:.2f}"),
    ("tput8", "throughput, 8 streams", "Gbit/s", "high", "{:.2f}"),
    ("hs", "new TLS handshakes", "/s", "high", "{:.0f}"),
    ("rtt50", "round trip p50", "µs", "low", "{:.1f}"),
    ("rtt99", "round trip p99", "µs", "low", "{:.1f}"),
    ("add50", "added latency p50", "µs", "low", "{:+.1f}"),
    ("add99", "added latency p99", "µs", "low", "{:+.1f}"),
    ("cpu", "proxy CPU per connection", "µs", "low", "{:.1f}"),
    ("rss", "RSS per idle connection", "bytes", "low", "{:.0f}"),
    ("pss", "PSS per idle connection", "bytes", "low", "{:.0f}"),
]
PEER_ORDER = ["direct", "tlsglass", "tlsglass-transparent", "tlsglass-socks5", "haproxy", "nginx",
              "socat"]


def cmd_table(results, meta=None):
    vals = {}
    with open(results) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                vals.setdefault(parts[0], {})[parts[1]] = float(parts[2])
    peers = [p for p in PEER_ORDER if p in vals] + sorted(p for p in vals if p not in PEER_ORDER)
    # Added latency is the proxied round trip minus the direct one.
    d = vals.get("direct", {})
    for p in peers:
        v = vals[p]
        for pct in ("50", "99"):
            if "rtt" + pct in v and "rtt" + pct in d:
                v["add" + pct] = v["rtt" + pct] - d["rtt" + pct]

    def cell(key, fmt, p):
        v = vals[p].get(key)
        return "—" if v is None else fmt.format(v)

    def ratio(key, p, base):
        v, b = vals[p].get(key), vals.get(base, {}).get(key)
        if v is None or b is None or b == 0 or p == base:
            return "—"
        return f"{v / b:.2f}×"

    out = []
    if meta:
        with open(meta) as f:
            out.append(f.read().rstrip("\n"))
        out.append("")
    out.append("### Absolute figures")
    out.append("")
    hdr = ["metric", "unit"] + peers
    rows = [[label, unit] + [cell(k, fmt, p) for p in peers] for k, label, unit, _, fmt in METRICS]
    out += _md(hdr, rows)
    for base, title in (("direct", "Ratio to direct (proxy ÷ direct)"),
                        ("haproxy", "Ratio to haproxy (peer ÷ haproxy)"),
                        ("tlsglass", "Ratio to tlsglass forward mode (mode ÷ forward)")):
        if base not in vals:
            continue
        cols = [p for p in peers if p != base and p != "direct"]
        if base == "tlsglass":  # the other modes of the same proxy
            cols = [p for p in cols if p.startswith("tlsglass-")]
        out.append("")
        out.append(f"### {title}")
        out.append("")
        if not cols:
            continue
        rows = []
        for k, label, unit, better, fmt in METRICS:
            if k.startswith("add") and base == "direct":
                continue  # added latency of direct is zero by definition
            if vals[base].get(k) is None:
                continue  # e.g. direct has no proxy CPU or memory
            rows.append([label, "higher is better" if better == "high" else "lower is better"]
                        + [ratio(k, p, base) for p in cols])
        out += _md(["metric", ""] + cols, rows)
    print("\n".join(out))


def _md(hdr, rows):
    w = [max(len(str(r[i])) for r in [hdr] + rows) for i in range(len(hdr))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i])
                                        for i, c in enumerate(r)) + " |"
    sep = "|" + "|".join(("-" * (w[i] + 2)) if i < 2 else ("-" * (w[i] + 1) + ":")
                         for i in range(len(hdr))) + "|"
    return [line(hdr), sep] + [line(r) for r in rows]


COMMANDS = {
    "ports": cmd_ports, "waitport": cmd_waitport, "echo-server": cmd_echo_server,
    "pingpong": cmd_pingpong, "hold": cmd_hold, "cputicks": cmd_cputicks,
    "h2load": cmd_h2load, "iperf": cmd_iperf, "machine": cmd_machine, "table": cmd_table,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except TypeError as e:
        die(f"{sys.argv[1]}: bad arguments ({e})")
