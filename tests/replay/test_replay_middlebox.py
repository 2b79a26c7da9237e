#!/usr/bin/env python3
"""What only a capture shows (DESIGN.md, cause reset_mid_handshake): whether a reset was likely
injected by a middlebox rather than sent by the endpoint (no ACK flag, the ClientHello never
acknowledged, a TTL unlike the peer's earlier packets), and ClientHello retransmissions that were
never acknowledged (a silent drop).

The captures are made here, in three network namespaces of the test's own (client, router,
server; replay_support.Topology): openssl s_server and a server that resets by itself
(reset_server.py) in the server namespace, curl in the client namespace, tcpdump on the client's
interface, and in the router an iptables middlebox keyed on the SNI:
    iptables -A FORWARD -p tcp -m string --string blocked.tlsglass.test --algo bm \
             -j REJECT --reject-with tcp-reset          (or -j DROP)
Then `tlsglass replay --json` reads the capture. The expected values come from outside tlsglass:
tshark's reading of the same capture (the RST's ACK flag and TTL, the server's earlier TTLs,
whether anything acknowledged the ClientHello, which segments are retransmissions), the rules
the test installed and their packet counters, and curl's own exit code and message.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import replay_support as rs  # noqa: E402
from replay_support import field, support  # noqa: E402

BLOCKED = "blocked.tlsglass.test"
GOOD = support.HOST  # app.tlsglass.test
TLS_PORT, RESET_PORT, SINK_PORT = 443, 8443, 9443
MATCH_SNI = ["-p", "tcp", "-m", "string", "--string", BLOCKED, "--algo", "bm"]
CLIENT_MAX_TIME = 4  # curl --max-time for the dropped hello: a few retransmissions (RFC 6298)
HANDSHAKE_TIMEOUT = 3  # replay --handshake-timeout for the dropped hello: before curl gives up

TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "tcp.dstport", "ip.ttl",
                 "ip.id", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset", "tcp.flags.fin",
                 "tcp.seq", "tcp.ack", "tcp.len", "tcp.analysis.retransmission",
                 "tls.handshake.extensions_server_name"]


def flag(value):
    return value in ("1", "True", "true")


class Stream:
    """One TCP connection of a capture, as tshark reads it (relative sequence numbers)."""

    def __init__(self, rows):
        self.rows = rows
        syn = next(r for r in rows if flag(r["tcp.flags.syn"]) and not flag(r["tcp.flags.ack"]))
        self.client_ip, self.client_port = syn["ip.src"], int(syn["tcp.srcport"])
        self.server_port = int(syn["tcp.dstport"])
        self.opened_at = float(syn["frame.time_epoch"])
        self.client = [r for r in rows if self.from_client(r)]
        self.server = [r for r in rows if not self.from_client(r)]
        data = [r for r in self.client if int(r["tcp.len"] or 0) > 0]
        self.hello = data[0] if data else None
        self.sni = next((r["tls.handshake.extensions_server_name"] for r in self.client
                         if r["tls.handshake.extensions_server_name"]), None)

    def from_client(self, row):
        return row["ip.src"] == self.client_ip and int(row["tcp.srcport"]) == self.client_port

    @property
    def hello_end(self):
        return int(self.hello["tcp.seq"]) + int(self.hello["tcp.len"])

    def hello_acknowledged(self):
        """Whether any packet of the server (an RST with ACK included) acknowledged the end of
        the client's first data."""
        return any(flag(r["tcp.flags.ack"]) and int(r["tcp.ack"]) >= self.hello_end
                   for r in self.server)

    def hello_sendings(self):
        """The client's segments carrying the ClientHello (same sequence number and length)."""
        return [r for r in self.client if r["tcp.seq"] == self.hello["tcp.seq"]
                and r["tcp.len"] == self.hello["tcp.len"]]

    def hello_retransmissions(self, within=None):
        """Of those, the ones tshark's TCP analysis flags as retransmissions (sent within
        `within` seconds of the SYN, if given)."""
        return [r for r in self.hello_sendings() if r["tcp.analysis.retransmission"] and
                (within is None or float(r["frame.time_epoch"]) - self.opened_at < within)]

    def server_resets(self):
        return [r for r in self.server if flag(r["tcp.flags.reset"])]

    def server_ttls_before(self, frame):
        return [int(r["ip.ttl"]) for r in self.server
                if int(r["frame.number"]) < int(frame["frame.number"])
                and not flag(r["tcp.flags.reset"])]


def streams(pcap):
    rows = rs.tshark_dicts(pcap, TSHARK_FIELDS)
    by_stream = {}
    for row in rows:
        by_stream.setdefault(row["tcp.stream"], []).append(row)
    out = [Stream(r) for r in by_stream.values()]
    return {s.client_port: s for s in out}


def show(title, record):
    t = record.get("tlsglass", {})
    injected = (f" injected {t['injected']} {t.get('injected_why')}" if "injected" in t
                else "")
    support.log(f"  {title}: {t.get('cause')} (closed by {t.get('closed_by')}, "
                f"{t.get('close')}){injected}\n    explanation: {t.get('explanation')}")


class Capture:
    """A topology of namespaces, servers in the server namespace, the router's rules, tcpdump
    on the client's interface; clients run one after the other; stop() ends the capture."""

    def __init__(self, add_cleanup, rules, server_ttl=None):
        self.add_cleanup = add_cleanup
        self.tmp = support.make_tmp(prefix="tlsglass-replay-mbox-")
        self.topology = rs.Topology(add_cleanup, server_ttl=server_ttl)
        self.pki = support.pki()
        self.rules = rules
        for rule in rules:
            self.topology.iptables(*rule)
        self.pcap = self.tmp / "client.pcap"
        self.runs = []
        self.tcpdump = rs.Tcpdump(add_cleanup, self.tmp, self.pcap, "c0", ns=self.topology.client,
                                  topology=self.topology)

    def s_server(self, port):
        """openssl s_server -WWW on the server's address (one connection at a time: a
        connection it never got a hello on holds it, so each such client gets its own)."""
        t = self.topology
        proc = t.start(t.server, ["openssl", "s_server", "-accept", f"{t.SERVER_IP}:{port}",
                                  "-cert", self.pki.rsa, "-key", self.pki.rsa_key, "-WWW"],
                       self.tmp, f"s_server-{port}.log")
        t.wait_listening(proc, port, "openssl s_server")
        return proc

    def reset_server(self, port):
        t = self.topology
        proc = t.start(t.server, [sys.executable, os.path.join(rs.HERE, "reset_server.py"),
                                  t.SERVER_IP, port], self.tmp, f"reset-server-{port}.log")
        t.wait_listening(proc, port, "reset_server.py")
        return proc

    def curl(self, host, port, max_time=20):
        t = self.topology
        run = t.run(t.client, ["curl", "-sS", "-o", "/dev/null", "--max-time", max_time,
                               "--cacert", self.pki.ca, "--resolve", f"{host}:{port}:{t.SERVER_IP}",
                               f"https://{host}:{port}/hello.txt"], timeout=max_time + 30)
        self.runs.append((host, port, run))
        return run

    def stop(self):
        time.sleep(0.3)  # the last packets of the last connection
        self.tcpdump.stop()
        return self.pcap


class _CaptureCase(unittest.TestCase):
    """One capture per class, made in setUpClass and read by each test; the namespaces go at
    the end of the class (addClassCleanup), whatever happened."""
    maxDiff = None

    @classmethod
    def need(cls):
        support.need_tlsglass()
        support.need("openssl", "curl", "tshark", "tcpdump", "iptables", "ip")
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces and iptables need root")

    @classmethod
    def replay(cls, *args):
        r = rs.replay("--json", cls.pcap, *args)
        if r.rc != 0:
            raise AssertionError(f"replay of the capture failed: {r!r}")
        return {field(rec, "source.port"): rec for rec in r.records}

    def record_for(self, port, records=None):
        records = self.records if records is None else records
        self.assertIn(port, records, f"a record for client port {port}: {list(records)}")
        return records[port]


class RejectOnSni(_CaptureCase):
    """iptables REJECT --reject-with tcp-reset on the SNI, beside a good connection through the
    same router and a server that resets by itself."""

    @classmethod
    def setUpClass(cls):
        cls.need()
        cap = cls.cap = Capture(cls.addClassCleanup,
                                [MATCH_SNI + ["-j", "REJECT", "--reject-with", "tcp-reset"]])
        cap.s_server(TLS_PORT)
        cap.s_server(SINK_PORT)  # the blocked connection holds its server: not the good one's
        cap.reset_server(RESET_PORT)
        cls.good_run = cap.curl(GOOD, TLS_PORT)
        cls.blocked_run = cap.curl(BLOCKED, SINK_PORT)
        cls.reset_run = cap.curl(GOOD, RESET_PORT)
        cls.pcap = cap.stop()
        cls.counters = cap.topology.iptables_counters()
        cls.streams = streams(cls.pcap)
        cls.records = cls.replay()
        cls.by_server = {s.server_port: s for s in cls.streams.values()}
        support.log(f"\n{cls.__name__}: {cls.pcap}, rules {cls.counters}")
        for port, name in ((TLS_PORT, "good"), (SINK_PORT, "iptables RST"),
                           (RESET_PORT, "endpoint RST")):
            stream = cls.by_server.get(port)
            if stream and stream.client_port in cls.records:
                show(name, cls.records[stream.client_port])

    def stream(self, server_port):
        self.assertIn(server_port, self.by_server, f"tshark saw a connection to {server_port}")
        return self.by_server[server_port]

    def test_the_clients_saw_what_the_rules_say(self):
        # curl's own words: the good one worked, the blocked one and the reset one were reset.
        self.assertEqual(self.good_run.rc, 0, self.good_run)
        self.assertEqual(self.blocked_run.rc, 35, self.blocked_run)
        self.assertIn("Connection reset by peer", self.blocked_run.stderr)
        self.assertEqual(self.reset_run.rc, 35, self.reset_run)
        # The REJECT rule fired exactly once: on the blocked ClientHello.
        self.assertEqual(self.counters, [(1, "REJECT")])
        self.assertEqual(len(self.records), 3, self.records)

    def test_a_good_connection_through_the_router_is_ok(self):
        stream = self.stream(TLS_PORT)
        self.assertEqual(stream.sni, GOOD)
        record = self.record_for(stream.client_port)
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tlsglass.cause"), "ok", ctx)
        self.assertIs(field(record, "tls.established"), True, ctx)
        self.assertEqual(field(record, "tls.client.server_name"), GOOD, ctx)
        self.assertEqual(field(record, "destination.ip"), rs.Topology.SERVER_IP, ctx)
        self.assertEqual(field(record, "source.ip"), rs.Topology.CLIENT_IP, ctx)
        self.assertIsNone(field(record, "tlsglass.injected"), ctx)
        self.assertIsNone(field(record, "tlsglass.hello_retransmissions"), ctx)

    def test_the_iptables_reset_is_likely_injected(self):
        stream = self.stream(SINK_PORT)
        self.assertEqual(stream.sni, BLOCKED)
        resets = stream.server_resets()
        self.assertEqual(len(resets), 1, "tshark: one RST towards the client")
        rst = resets[0]
        earlier = stream.server_ttls_before(rst)
        support.log(f"  iptables RST: ACK flag {rst['tcp.flags.ack']}, TTL {rst['ip.ttl']}, "
                    f"IP ID {rst['ip.id']}; the server's earlier packets: TTL {earlier}; hello "
                    f"acknowledged: {stream.hello_acknowledged()}")
        record = self.record_for(stream.client_port)
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tlsglass.cause"), "reset_mid_handshake", ctx)
        self.assertEqual(field(record, "tlsglass.closed_by"), "server", ctx)
        self.assertEqual(field(record, "tlsglass.close"), "rst", ctx)
        self.assertEqual(field(record, "tls.client.server_name"), BLOCKED, ctx)
        self.assertEqual(field(record, "tlsglass.injected"), "likely", ctx)
        why = field(record, "tlsglass.injected_why") or []
        # The signs tshark sees in the capture are named.
        self.assertFalse(flag(rst["tcp.flags.ack"]), "tshark: REJECT's RST has no ACK flag")
        self.assertTrue(any("ACK flag" in sign for sign in why), f"{why}{ctx}")
        self.assertFalse(stream.hello_acknowledged(), "tshark: nothing acknowledged the hello")
        self.assertTrue(any("acknowledged" in sign for sign in why), f"{why}{ctx}")
        # Every TTL the record quotes is one tshark read.
        for sign in why:
            if "TTL" in sign:
                numbers = [int(n) for n in re.findall(r"\d+", sign)]
                self.assertEqual(numbers, [int(rst["ip.ttl"]), earlier[-1]], sign)
        self.assertIn("injected", field(record, "tlsglass.explanation") or "", ctx)

    def test_the_servers_own_reset_is_not_marked(self):
        stream = self.stream(RESET_PORT)
        resets = stream.server_resets()
        self.assertEqual(len(resets), 1, "tshark: one RST from the server")
        rst = resets[0]
        # What makes it the endpoint's own, as tshark reads it.
        self.assertTrue(flag(rst["tcp.flags.ack"]))
        self.assertEqual(set(stream.server_ttls_before(rst)), {int(rst["ip.ttl"])})
        self.assertTrue(stream.hello_acknowledged())
        support.log(f"  endpoint RST: ACK flag {rst['tcp.flags.ack']}, TTL {rst['ip.ttl']}, "
                    f"IP ID {rst['ip.id']}; the server's earlier packets: TTL "
                    f"{stream.server_ttls_before(rst)}")
        record = self.record_for(stream.client_port)
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tlsglass.cause"), "reset_mid_handshake", ctx)
        self.assertEqual(field(record, "tlsglass.closed_by"), "server", ctx)
        self.assertEqual(field(record, "tlsglass.close"), "rst", ctx)
        self.assertNotIn("injected", record["tlsglass"], ctx)
        self.assertNotIn("injected_why", record["tlsglass"], ctx)


class RejectBeforeADistantServer(_CaptureCase):
    """The same REJECT rule, with a server whose packets start at TTL 128 (the server
    namespace's net.ipv4.ip_default_ttl, as Windows sends): the router's RST starts at its own
    64, a TTL unlike the server's."""

    @classmethod
    def setUpClass(cls):
        cls.need()
        cap = cls.cap = Capture(cls.addClassCleanup,
                                [MATCH_SNI + ["-j", "REJECT", "--reject-with", "tcp-reset"]],
                                server_ttl=128)
        cap.s_server(SINK_PORT)
        cls.blocked_run = cap.curl(BLOCKED, SINK_PORT)
        cls.pcap = cap.stop()
        cls.streams = streams(cls.pcap)
        cls.records = cls.replay()
        support.log(f"\n{cls.__name__}: {cls.pcap}")
        for record in cls.records.values():
            show("iptables RST, server TTL 128", record)

    def test_the_ttl_unlike_the_servers_is_named(self):
        self.assertEqual(self.blocked_run.rc, 35, self.blocked_run)
        self.assertEqual(len(self.streams), 1)
        stream = next(iter(self.streams.values()))
        rst = stream.server_resets()[0]
        earlier = stream.server_ttls_before(rst)
        support.log(f"  RST TTL {rst['ip.ttl']}, the server's earlier packets {earlier}")
        # tshark: the server's packets came with 127 (128 less the router's hop), the RST with
        # the router's own 64.
        self.assertEqual(set(earlier), {127})
        self.assertEqual(int(rst["ip.ttl"]), 64)
        record = self.record_for(stream.client_port)
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tlsglass.cause"), "reset_mid_handshake", ctx)
        self.assertEqual(field(record, "tlsglass.closed_by"), "server", ctx)
        self.assertEqual(field(record, "tlsglass.injected"), "likely", ctx)
        why = field(record, "tlsglass.injected_why") or []
        ttl_signs = [s for s in why if "TTL" in s]
        self.assertEqual(len(ttl_signs), 1, f"{why}{ctx}")
        self.assertEqual([int(n) for n in re.findall(r"\d+", ttl_signs[0])], [64, 127], why)
        self.assertTrue(any("ACK flag" in s for s in why), f"{why}{ctx}")
        self.assertTrue(any("acknowledged" in s for s in why), f"{why}{ctx}")


class DropOnSni(_CaptureCase):
    """iptables DROP on the SNI: the ClientHello is retransmitted until curl gives up
    (--max-time 4); nothing answers it, and the capture ends before anything closes (the
    client's FIN waits behind its unacknowledged hello)."""

    @classmethod
    def setUpClass(cls):
        cls.need()
        cap = cls.cap = Capture(cls.addClassCleanup, [MATCH_SNI + ["-j", "DROP"]])
        cap.s_server(TLS_PORT)
        cap.s_server(SINK_PORT)
        cls.good_run = cap.curl(GOOD, TLS_PORT)
        cls.blocked_run = cap.curl(BLOCKED, SINK_PORT, max_time=CLIENT_MAX_TIME)
        cls.pcap = cap.stop()
        cls.counters = cap.topology.iptables_counters()
        cls.streams = streams(cls.pcap)
        cls.by_server = {s.server_port: s for s in cls.streams.values()}
        cls.records = cls.replay()
        # As a live proxy with --handshake-timeout 3 would have seen it.
        cls.timed = cls.replay("--handshake-timeout", HANDSHAKE_TIMEOUT)
        stream = cls.by_server.get(SINK_PORT)
        support.log(f"\n{cls.__name__}: {cls.pcap}, rules {cls.counters}")
        if stream:
            support.log(f"  tshark: the hello sent {len(stream.hello_sendings())} times, "
                        f"{len(stream.hello_retransmissions())} flagged as retransmissions "
                        f"({len(stream.hello_retransmissions(HANDSHAKE_TIMEOUT))} within "
                        f"{HANDSHAKE_TIMEOUT} s of the SYN), acknowledged: "
                        f"{stream.hello_acknowledged()}")
            for title, records in (("dropped", cls.records),
                                   ("dropped, --handshake-timeout 3", cls.timed)):
                if stream.client_port in records:
                    show(title, records[stream.client_port])

    def blocked(self):
        self.assertIn(SINK_PORT, self.by_server)
        return self.by_server[SINK_PORT]

    def test_the_client_timed_out_and_the_rule_dropped_every_hello(self):
        self.assertEqual(self.good_run.rc, 0, self.good_run)
        self.assertEqual(self.blocked_run.rc, 28, self.blocked_run)  # curl: operation timed out
        stream = self.blocked()
        self.assertEqual(stream.sni, BLOCKED)
        self.assertFalse(stream.hello_acknowledged())
        self.assertGreaterEqual(len(stream.hello_retransmissions()), 2)
        # The DROP rule's counter: each sending of the hello (and nothing else) was dropped.
        self.assertEqual(self.counters, [(len(stream.hello_sendings()), "DROP")])

    def test_the_retransmissions_are_counted(self):
        stream = self.blocked()
        record = self.record_for(stream.client_port)
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tls.client.server_name"), BLOCKED, ctx)
        self.assertEqual(field(record, "tlsglass.hello_retransmissions"),
                         len(stream.hello_retransmissions()), ctx)
        self.assertNotIn("injected", record["tlsglass"], ctx)

    def test_a_good_connection_through_the_router_is_ok(self):
        stream = self.by_server[TLS_PORT]
        record = self.record_for(stream.client_port)
        self.assertEqual(field(record, "tlsglass.cause"), "ok", record)
        self.assertEqual(field(record, "tls.client.server_name"), GOOD, record)
        self.assertIsNone(field(record, "tlsglass.hello_retransmissions"), record)

    # A silent server's record settles at the handshake deadline (as the live proxy's does) and
    # is written when the flow ends, with everything the capture says about the hello: every
    # retransmission that was never acknowledged, also those after the deadline.
    def test_past_the_handshake_timeout_it_is_a_timeout_that_names_the_drop(self):
        stream = self.blocked()
        record = self.record_for(stream.client_port, self.timed)
        ctx = f"\nrecord: {record}"
        self.assertEqual(field(record, "tlsglass.cause"), "timeout", ctx)
        self.assertGreater(len(stream.hello_retransmissions(HANDSHAKE_TIMEOUT)), 0,
                           "retransmissions before the deadline")
        seen = len(stream.hello_retransmissions())
        self.assertEqual(field(record, "tlsglass.hello_retransmissions"), seen, ctx)
        explanation = field(record, "tlsglass.explanation") or ""
        self.assertIn("never acknowledged", explanation, ctx)
        self.assertIn(f"sent {seen + 1} times", explanation, ctx)

    # A capture that ends after an unacknowledged, retransmitted ClientHello, before any close
    # or the handshake timeout: incomplete, and the words say the hello was never acknowledged.
    def test_the_explanation_says_the_hello_was_never_acknowledged(self):
        stream = self.blocked()
        record = self.record_for(stream.client_port)
        explanation = field(record, "tlsglass.explanation") or ""
        self.assertIn("never acknowledged", explanation, f"\nrecord: {record}")
        self.assertIn(f"sent {len(stream.hello_sendings())} times", explanation)


if __name__ == "__main__":
    unittest.main(verbosity=2)
