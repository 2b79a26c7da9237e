#!/usr/bin/env python3
"""Helpers for bench/replay.sh: the parts bash does badly.

    replay_tools.py client PORT SNI COUNT CONC [tls1.2]  COUNT new TLS connections, CONC at a time,
                                                         one HTTP/1.1 request each -> JSON
    replay_tools.py time OUT ERR CMD...                  run CMD (stdout > OUT, stderr > ERR):
                                                         wall and CPU seconds -> JSON
    replay_tools.py records FILE                         tlsglass JSON lines -> summary JSON
    replay_tools.py tshark FILE                          tshark -T fields output -> summary JSON
    replay_tools.py compare RECORDS.json TSHARK.json     SNI (and JA3) multisets side by side
    replay_tools.py report RUNDIR                        the Markdown report from RUNDIR's files
    replay_tools.py get FILE|JSON KEY                    one top-level value
    replay_tools.py brief JSON                           one `time` result, in words
    replay_tools.py buildtype FILE                       meson's intro-buildoptions.json -> build type

The client is what records the capture when h2load (nghttp2-client) is not installed: Python's
ssl module (OpenSSL), asyncio, certificate not verified, ALPN http/1.1, `Connection: close`.
With "tls1.2" it offers TLS 1.2 at most. Only the standard library; Python 3.9+.
"""
import asyncio
import collections
import json
import os
import ssl
import subprocess
import sys
import time


def die(msg):
    print(f"replay_tools: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- client


def cmd_client(port, sni, count, conc, maxver=None):
    port, count, conc = int(port), int(count), int(conc)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    if maxver == "tls1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif maxver:
        die(f"client: unknown version limit '{maxver}'")
    request = f"GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode()
    stats = collections.Counter()
    versions = collections.Counter()
    left = count

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=sni), 10)
                versions[writer.get_extra_info("ssl_object").version()] += 1
                writer.write(request)
                answer = await asyncio.wait_for(reader.read(), 10)
                stats["ok" if answer.startswith(b"HTTP/1.1 200") else "failed"] += 1
            except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
                stats["failed"] += 1
                stats[f"error {type(e).__name__}"] += 1
            finally:
                if writer is not None:
                    writer.close()
                    try:
                        await writer.wait_closed()
                    except (OSError, ssl.SSLError):
                        pass

    async def main():
        await asyncio.gather(*(worker() for _ in range(conc)))

    t0 = time.perf_counter()
    asyncio.run(main())
    secs = time.perf_counter() - t0
    print(json.dumps({"ok": stats["ok"], "failed": stats["failed"], "seconds": round(secs, 3),
                      "per_s": round(stats["ok"] / secs, 1) if secs > 0 else 0,
                      "versions": dict(versions),
                      "errors": {k: v for k, v in stats.items() if k.startswith("error ")}}))


# ---------------------------------------------------------------- timing


def cmd_time(out, err, *cmd):
    if not cmd:
        die("time: no command")
    with open(out, "wb") as fo, open(err, "wb") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    print(json.dumps({"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime,
                      "maxrss_kb": ru.ru_maxrss, "rc": rc}))


# ---------------------------------------------------------------- outputs


def cmd_records(fn):
    n = hellos = bad = 0
    causes, versions, sni, ja3 = (collections.Counter() for _ in range(4))
    with open(fn, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                bad += 1
                continue
            n += 1
            tls = r.get("tls") or {}
            client = tls.get("client")
            causes[(r.get("tlsglass") or {}).get("cause", "?")] += 1
            if client:  # a ClientHello was seen on this connection
                hellos += 1
                versions[tls.get("version", "?")] += 1
                sni[client.get("server_name", "")] += 1
                ja3[client.get("ja3", "")] += 1
    print(json.dumps({"records": n, "unparsable": bad, "hellos": hellos, "causes": dict(causes),
                      "versions": dict(versions), "sni": dict(sni), "ja3": dict(ja3)}))


def cmd_tshark(fn):
    lines = 0
    sni, ja3 = collections.Counter(), collections.Counter()
    with open(fn, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            lines += 1
            cols = line.split("\t")
            sni[cols[0]] += 1
            if len(cols) > 1:
                ja3[cols[1]] += 1
    print(json.dumps({"lines": lines, "sni": dict(sni), "ja3": dict(ja3)}))


def _multiset(a, b):
    """(matching count, only in a, only in b) of two Counters."""
    a, b = collections.Counter(a), collections.Counter(b)
    both = a & b
    return sum(both.values()), a - b, b - a


def compare(rec, tsh, with_ja3):
    out, ok = [], True
    fields = [("SNI", "sni")] + ([("JA3", "ja3")] if with_ja3 else [])
    for name, key in fields:
        match, only_r, only_t = _multiset(rec[key], tsh[key])
        nr, nt = sum(rec[key].values()), sum(tsh[key].values())
        same = not only_r and not only_t
        ok &= same
        out.append(f"{name}: {match} of {nr} tlsglass hellos and {nt} tshark lines match "
                   f"({len(rec[key])} distinct value(s) in tlsglass, {len(tsh[key])} in tshark)"
                   + ("" if same else " - MISMATCH"))
        for label, d in (("only in tlsglass", only_r), ("only in tshark", only_t)):
            for v, c in sorted(d.items(), key=lambda kv: -kv[1])[:5]:
                out.append(f"  {label}: {c} x {v!r}")
    return out, ok


def cmd_compare(rec_fn, tsh_fn, with_ja3="1"):
    rec, tsh = json.load(open(rec_fn)), json.load(open(tsh_fn))
    lines, ok = compare(rec, tsh, with_ja3 == "1")
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


# ---------------------------------------------------------------- report


def _fmt_int(x):
    return f"{x:,.0f}"


def _median_run(fn):
    """The median run (by wall time) of a file of `time` JSON lines, with the run count."""
    runs = [json.loads(line) for line in open(fn) if line.strip()]
    if not runs:
        return None
    runs.sort(key=lambda r: r["wall"])
    m = dict(runs[(len(runs) - 1) // 2])
    m["runs"] = len(runs)
    return m


def cmd_report(rundir):
    facts = json.load(open(os.path.join(rundir, "facts.json")))
    rec = json.load(open(os.path.join(rundir, "records.json")))
    size, hs, cpu = facts["file_bytes"], rec["hellos"], facts["cpu"]
    p = print
    p("## tlsglass replay benchmark")
    p()
    p("```")
    with open(os.path.join(rundir, "meta.txt")) as f:
        p(f.read().rstrip("\n"))
    p("```")
    p()
    p(f"Capture: {size / 1e6:,.1f} MB, {facts['packets']} packets, {_fmt_int(hs)} handshakes "
      f"(ClientHellos in tlsglass's records) in {rec['records']:,} TCP connections. Every command "
      f"pinned to CPU {cpu} (`taskset -c {cpu}`), the file in the page cache (read once first).")
    p()
    p("| command | wall s | CPU s | MB/s | handshakes/s | runs |")
    p("|---|--:|--:|--:|--:|--:|")
    walls, cpus = {}, {}
    for key, label in (("cat", "`cat FILE > /dev/null`"),
                       ("tlsglass", "`tlsglass replay FILE > out.jsonl`"),
                       ("tshark", f"`tshark -T fields` ({facts['tshark_fields']})")):
        fn = os.path.join(rundir, f"times-{key}.jsonl")
        t = _median_run(fn) if os.path.exists(fn) else None
        if not t:
            p(f"| {label} | - | - | - | - | - |")
            continue
        w = walls[key] = t["wall"]
        cpus[key] = t["user"] + t["sys"]
        hs_cell = "-" if key == "cat" else _fmt_int(hs / w)
        p(f"| {label} | {w:.3f} | {t['user'] + t['sys']:.3f} | {size / 1e6 / w:,.1f} | "
          f"{hs_cell} | {t['runs']} |")
    p()
    if "tlsglass" in walls and "tshark" in walls:
        x = walls["tshark"] / walls["tlsglass"]
        c = cpus["tshark"] / cpus["tlsglass"] if cpus["tlsglass"] > 0 else float("inf")
        p(f"- tlsglass vs tshark (tshark wall ÷ tlsglass wall): **{x:,.1f}×** "
          f"(target ≥ 50×: {'met' if x >= 50 else 'not met'}); by CPU time {c:,.1f}×")
    if "tlsglass" in walls and "cat" in walls:
        x = walls["tlsglass"] / walls["cat"]
        c = cpus["tlsglass"] / cpus["cat"] if cpus["cat"] > 0 else float("inf")
        p(f"- cat vs tlsglass (tlsglass wall ÷ cat wall): **{x:,.2f}×** "
          f"(target ≤ 3×: {'met' if x <= 3 else 'not met'}); by CPU time {c:,.1f}×")
    causes = ", ".join(f"{k} {v:,}" for k, v in sorted(rec["causes"].items(), key=lambda kv: -kv[1]))
    p(f"- tlsglass records: {rec['records']:,} ({causes}); TLS versions: "
      + ", ".join(f"{k} {v:,}" for k, v in sorted(rec["versions"].items())))
    cmp_fn = os.path.join(rundir, "compare.txt")
    if os.path.exists(cmp_fn):
        for line in open(cmp_fn):
            p(("- " if not line.startswith(" ") else "  ") + line.strip())
    p()
    p("MB = 10^6 bytes of capture file; MB/s = file size ÷ wall time; handshakes/s = tlsglass's "
      "ClientHello count ÷ wall time (the same count for both tools). Wall is the median run; "
      "CPU s = user + system of that run: a wall time well above it means the pinned core was "
      "shared with other work.")


def cmd_get(fn_or_json, key):
    """One top-level value of a JSON file (or of a JSON text starting with '{')."""
    d = json.loads(fn_or_json) if fn_or_json.lstrip().startswith("{") else json.load(open(fn_or_json))
    print(d[key])


def cmd_brief(text):
    t = json.loads(text)
    print(f"{t['wall']:.3f} s wall, {t['user'] + t['sys']:.3f} s CPU")


def cmd_buildtype(fn):
    o = {x["name"]: x["value"] for x in json.load(open(fn))}
    print(f"{o.get('buildtype', '?')} (optimization {o.get('optimization', '?')}, "
          f"b_ndebug {o.get('b_ndebug', '?')})")


COMMANDS = {"client": cmd_client, "time": cmd_time, "records": cmd_records,
            "tshark": cmd_tshark, "compare": cmd_compare, "report": cmd_report,
            "get": cmd_get, "brief": cmd_brief, "buildtype": cmd_buildtype}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except TypeError as e:
        die(f"{sys.argv[1]}: bad arguments ({e})")
