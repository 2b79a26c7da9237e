#!/usr/bin/env python3
"""--capture-dir: the pcaps the proxy writes are read by tshark (not by tlsglass) without
warnings other than the connection's own close, and show the SNI and cipher suites the record
logged; --capture failed keeps only failed connections; files are mode 0600; `tlsglass replay`
of each capture gives back the record the proxy wrote (DESIGN.md "Captures")."""
import datetime
import json
import os
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import support  # noqa: E402
from support import HOST, LOOPBACK, field  # noqa: E402


def tshark_fields(path, *fields):
    argv = ["tshark", "-r", str(path), "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return result


def curl(proxy_port, extra=()):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "20", "--cacert",
                           str(support.pki().ca), *extra, "--connect-to",
                           f"{HOST}:443:{LOOPBACK}:{proxy_port}", f"https://{HOST}/hello.txt"],
                          capture_output=True, text=True, env=env, timeout=60)


def s_client(proxy_port, *flags):
    return subprocess.run(["openssl", "s_client", "-connect", f"{LOOPBACK}:{proxy_port}",
                           "-servername", HOST, "-CAfile", str(support.pki().ca), "-ign_eof",
                           *flags], input=b"GET /hello.txt HTTP/1.0\r\n\r\n",
                          capture_output=True, timeout=60)


def flat(record, prefix=""):
    """{"a.b.c": value} for every leaf of a record (lists are leaves)."""
    out = {}
    for key, value in record.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(flat(value, name))
        else:
            out[name] = value
    return out


# What a replay cannot know or numbers differently: the clock of the replay, the capture's own
# path, the proxy's connection counter and its mode.
NOT_COMPARED = {"@timestamp", "event.duration", "tlsglass.capture", "tlsglass.conn",
                "tlsglass.mode", "tlsglass.timeline"}
MS_TOLERANCE = 1.0


def record_differences(live, replayed):
    """Where the replayed record differs from the live one: every field but NOT_COMPARED
    equal, the timeline the same entries with "ms" within MS_TOLERANCE."""
    out = []
    a, b = flat(live), flat(replayed)
    for key in sorted(set(a) | set(b)):
        if key not in NOT_COMPARED and a.get(key) != b.get(key):
            out.append(f"{key}: live {a.get(key)!r}, replay {b.get(key)!r}")
    lt, rt = field(live, "tlsglass.timeline") or [], field(replayed, "tlsglass.timeline") or []
    if [(e["from"], e["what"]) for e in lt] != [(e["from"], e["what"]) for e in rt]:
        out.append(f"tlsglass.timeline entries: live {[(e['from'], e['what']) for e in lt]}, "
                   f"replay {[(e['from'], e['what']) for e in rt]}")
    for x, y in zip(lt, rt):
        if (x["from"], x["what"]) == (y["from"], y["what"]) and \
                abs(x["ms"] - y["ms"]) > MS_TOLERANCE:
            out.append(f"tlsglass.timeline {x['from']} {x['what'][:40]}: live {x['ms']} ms, "
                       f"replay {y['ms']} ms")
    return out


class Capture(unittest.TestCase):
    def setUp(self):
        support.need_tlsglass()
        support.need("openssl", "curl", "tshark")
        self.tmp = support.make_tmp(self)
        self.dir = self.tmp / "caps"

    def test_all_captures_read_back_in_tshark(self):
        server = support.start_server(self, support.OpensslServer, self.tmp)
        proxy = support.start_proxy(self, self.tmp, "--mode", "forward", "--upstream",
                                    f"{LOOPBACK}:{server.port}", "--capture-dir", str(self.dir),
                                    "--capture", "all")
        self.assertEqual(curl(proxy.port).returncode, 0)
        self.assertEqual(curl(proxy.port, ["--tls-max", "1.2"]).returncode, 0)
        records = support.stop_and_read(self, proxy)
        self.assertEqual(len(records), 2)
        for record in records:
            path = field(record, "tlsglass.capture")
            self.assertTrue(path and os.path.exists(path), record)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            out = tshark_fields(path, "tls.handshake.extensions_server_name",
                                "tls.handshake.ciphersuite", "tcp.analysis.flags")
            self.assertEqual(out.returncode, 0, out.stderr)
            lines = [l.split("\t") for l in out.stdout.splitlines()]
            names = {l[0] for l in lines if l[0]}
            self.assertEqual(names, {HOST})
            hello = next(l for l in lines if l[0])
            offered = [int(c, 16) for c in hello[1].split(",")]
            expected = [n for n in field(record, "tls.client.supported_ciphers") if n != "GREASE"]
            self.assertEqual([support.iana_cipher(c) for c in offered
                              if not support.is_grease(c)], expected)
            # No retransmission, lost segment or out-of-order flag: the sequence numbers add up.
            self.assertEqual([l[2] for l in lines if len(l) > 2 and l[2]], [], out.stdout)

    def test_failed_mode_keeps_only_failures(self):
        server = support.start_server(self, support.OpensslServer, self.tmp, cert="wrong")
        good = support.start_server(self, support.OpensslServer, self.tmp)
        bad_proxy = support.start_proxy(self, self.tmp, "--mode", "forward", "--upstream",
                                        f"{LOOPBACK}:{server.port}", "--capture-dir", str(self.dir),
                                        log_name="bad.jsonl")
        self.assertNotEqual(curl(bad_proxy.port, ["--tls-max", "1.2"]).returncode, 0)
        bad = support.stop_and_read(self, bad_proxy)
        good_proxy = support.start_proxy(self, self.tmp, "--mode", "forward", "--upstream",
                                         f"{LOOPBACK}:{good.port}", "--capture-dir", str(self.dir),
                                         log_name="good.jsonl")
        self.assertEqual(curl(good_proxy.port).returncode, 0)
        ok = support.stop_and_read(self, good_proxy)
        self.assertEqual(field(bad[0], "tlsglass.cause"), "hostname_mismatch")
        self.assertTrue(os.path.exists(field(bad[0], "tlsglass.capture")))
        self.assertIsNone(field(ok[0], "tlsglass.capture"))
        self.assertEqual(len(os.listdir(self.dir)), 1)

    # Known differences (bugs), as this test measured them:
    # 1. src/proxy/relay.cpp Connection::on_read (relaying): the session gets the read with one
    #    now(), the capture (transcript) with a second now() taken after the session has parsed
    #    it, so a read that takes long to parse (the ClientHello, the server's certificate
    #    flight) is stamped later in the pcap. The replayed timeline is measured from that later
    #    ClientHello: its "ms" are off by the hello's parse time (1.0-1.7 ms measured here, a
    #    debug build), beyond the 1 ms tolerance (and @timestamp by as much).
    # 2. The replay's handshake deadline runs from the flow's first packet (the capture's
    #    synthetic SYN, written when the proxy accepted the client); the live proxy's from the
    #    moment the upstream connection was up (connection.cpp: handshake_due_ =
    #    last_activity_ + timeout). With 1., the replayed "timeout" entry and the explanation
    #    that quotes it say 990.5 ms where the live record says 993.0 ms.
    def test_a_connect_to_a_name_that_does_not_resolve_is_captured_too(self):
        """No server address ever: the capture shows the client's side of the wire as it was,
        the CONNECT to the proxy's own address and its 502."""
        proxy = support.start_proxy(self, self.tmp, "--capture-dir", str(self.dir))
        name = "no-such-name.invalid"  # RFC 6761 §6.4: never resolves
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        run = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "20", "-x",
                              f"http://{LOOPBACK}:{proxy.port}", f"https://{name}/"],
                             capture_output=True, text=True, env=env, timeout=60)
        self.assertNotEqual(run.returncode, 0)
        live = support.stop_and_read(self, proxy)
        self.assertEqual(len(live), 1, live)
        self.assertEqual(field(live[0], "tlsglass.cause"), "upstream_unreachable")
        path = field(live[0], "tlsglass.capture")
        self.assertTrue(path and os.path.exists(path), live[0])
        seen = tshark_fields(path, "ip.dst", "tcp.dstport", "http.request.method",
                             "http.response.code", "tcp.analysis.flags")
        self.assertEqual(seen.returncode, 0, seen.stderr)
        rows = [line.split("\t")[:4] for line in seen.stdout.splitlines()]
        # No retransmission, lost segment or out-of-order flag: the sequence numbers add up.
        self.assertEqual([l.split("\t")[4] for l in seen.stdout.splitlines()
                          if len(l.split("\t")) > 4 and l.split("\t")[4]], [], seen.stdout)
        self.assertIn([LOOPBACK, str(proxy.port), "CONNECT", ""], rows, seen.stdout)
        self.assertIn("502", [row[3] for row in rows], seen.stdout)
        r = subprocess.run([support.BIN, "replay", "--json", path], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        replayed = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(replayed), 1, r.stdout)
        self.assertEqual(field(replayed[0], "tlsglass.cause"), "upstream_unreachable")
        self.assertIn("502 Bad Gateway", field(replayed[0], "tlsglass.explanation"))

    def test_sni_and_socks5_captures_replay_to_the_live_record(self):
        """The other front doors: the sni proxy's capture is the client's TLS alone, the socks5
        proxy's has the SOCKS5 exchange before it; each replays to the record written live."""
        good = support.start_server(self, support.OpensslServer, self.tmp)
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        ca = str(support.pki().ca)
        setups = [
            ("sni", ["--mode", "sni", "--resolve", f"{HOST}={LOOPBACK}:{good.port}"],
             lambda port: ["--resolve", f"{HOST}:{port}:{LOOPBACK}", f"https://{HOST}:{port}/hello.txt"]),
            ("socks5", ["--mode", "socks5"],
             lambda port: ["--socks5", f"{LOOPBACK}:{port}", "--resolve",
                           f"{HOST}:{good.port}:{LOOPBACK}", f"https://{HOST}:{good.port}/hello.txt"]),
        ]
        report = []
        for i, (what, args, curl_args) in enumerate(setups):
            proxy = support.start_proxy(self, self.tmp, *args, "--capture-dir", str(self.dir),
                                        "--capture", "all", log_name=f"modes-{i}.jsonl")
            run = subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "20",
                                  "--cacert", ca, *curl_args(proxy.port)],
                                 capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(run.returncode, 0, f"{what}: {run.stderr}")
            live = support.stop_and_read(self, proxy)
            self.assertEqual(len(live), 1, f"{what}: {live}")
            self.assertEqual(field(live[0], "tlsglass.mode"), what)
            path = field(live[0], "tlsglass.capture")
            r = subprocess.run([support.BIN, "replay", "--json", path], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            replayed = [json.loads(line) for line in r.stdout.splitlines()]
            self.assertEqual(len(replayed), 1, f"{what}: {replayed}")
            differences = record_differences(live[0], replayed[0])
            if differences:
                report.append(f"{what}:\n    " + "\n    ".join(differences))
        self.assertEqual(report, [], "\n".join(report))

    def test_replay_of_each_capture_gives_the_live_record(self):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "scenarios"))
        import scenario_support  # noqa: E402  (the server that never answers)
        now = datetime.datetime.now(datetime.timezone.utc)
        expired = support.pki().dated_leaf("capture-expired", now - datetime.timedelta(days=400),
                                           now - datetime.timedelta(days=7))
        good = support.start_server(self, support.OpensslServer, self.tmp)
        old = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_2", cert=expired)
        new_only = support.start_server(self, support.OpensslServer, self.tmp, "-tls1_3")
        silent = scenario_support.start(self, scenario_support.Silent())
        handshake_timeout = "1"
        scenarios = [  # what, server port, the client, the cause its set-up produces
            ("curl TLS 1.3", good.port, lambda port: curl(port), "ok"),
            ("s_client TLS 1.2", good.port, lambda port: s_client(port, "-tls1_2"), "ok"),
            ("curl TLS 1.2, expired certificate", old.port,
             lambda port: curl(port, ["--tls-max", "1.2"]), "cert_expired"),
            ("s_client -tls1_2 to a TLS 1.3-only server", new_only.port,
             lambda port: s_client(port, "-tls1_2"), "version_mismatch"),
            ("curl to a server that never answers", silent.port,
             lambda port: curl(port, ["--max-time", "3"]), "timeout"),
        ]
        report = []
        for i, (what, port, client, cause) in enumerate(scenarios):
            proxy = support.start_proxy(self, self.tmp, "--mode", "forward", "--upstream",
                                        f"{LOOPBACK}:{port}", "--capture-dir", str(self.dir),
                                        "--capture", "all", "--handshake-timeout",
                                        handshake_timeout, log_name=f"live-{i}.jsonl")
            client(proxy.port)
            live = support.stop_and_read(self, proxy)
            self.assertEqual(len(live), 1, f"{what}: {live}")
            live = live[0]
            self.assertEqual(field(live, "tlsglass.cause"), cause, f"{what}: {live}")
            path = field(live, "tlsglass.capture")
            self.assertTrue(path and os.path.exists(path), f"{what}: {live}")
            r = subprocess.run([support.BIN, "replay", "--json", "--handshake-timeout",
                                handshake_timeout, path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            replayed = [json.loads(line) for line in r.stdout.splitlines()]
            mine = support.by_source_port(replayed, field(live, "source.port"))
            self.assertEqual(len(mine), 1, f"{what}: one replayed record for the live record's "
                                           f"source port: {replayed}")
            differences = record_differences(live, mine[0])
            if differences:
                report.append(f"{what} ({cause}):\n    " + "\n    ".join(differences))
        support.log("\nreplayed captures against the live records:\n" +
                    ("\n".join(report) or "no differences"))
        self.assertEqual(report, [], "\n".join(report))


if __name__ == "__main__":
    unittest.main(verbosity=2)
