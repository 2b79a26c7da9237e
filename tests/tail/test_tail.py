#!/usr/bin/env python3
"""`tlsglass tail` as an engineer meets it: the last records of the handshake log, filtered,
passed through as JSON, or followed like `tail -F` through rotation and truncation; and on a
terminal (a tmux pane) in colour, with the ladder diagram under each failure, and nothing a peer
sent able to move the cursor or change the colours.

The records are real: `tlsglass analyze` over the recorded fixtures in tests/data/fixtures (how
they were made: tests/data/fixtures/README.md), given a connection number, a client address and,
where a test needs one, another SNI. What the output must show is read from those records and
from DESIGN.md, not from the code under test. Timeouts are hang guards (20 s); no test fails
because something was slow but finished."""
import copy
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proxy"))
sys.dont_write_bytecode = True
import support  # noqa: E402  (tests/proxy/support.py: TmuxPane)

BIN = os.environ["TLSGLASS_BIN"]
DATA = os.environ.get("TLSGLASS_TEST_DATA", "tests/data")
FIXTURES = os.path.join(DATA, "fixtures")
TIMEOUT = 20.0

# fixture -> the cause its README says it shows
FIXTURE_CAUSES = {
    "curl-tls13": "ok",
    "expired-tls12": "cert_expired",
    "cipher-mismatch": "cipher_mismatch",
    "wrongname-tls12": "hostname_mismatch",
    "nosni": "no_sni",
}

HOSTILE = "\x1b[2J\x1b[31mevil\x9b6n\x07.example"
HOSTILE_SHOWN = "\\x1b[2J\\x1b[31mevil\\x9b6n\\x07.example"


def analyze(fixture):
    directory = os.path.join(FIXTURES, fixture)
    result = subprocess.run(
        [BIN, "analyze", "--client", os.path.join(directory, "client.bin"), "--server",
         os.path.join(directory, "server.bin")], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


_RECORDS = {}


def record(fixture, conn, port=None, sni=None):
    """A record of `fixture` as connection `conn` from 10.9.8.7:(40000+conn)."""
    if fixture not in _RECORDS:
        _RECORDS[fixture] = analyze(fixture)
    out = copy.deepcopy(_RECORDS[fixture])
    out["tlsglass"]["conn"] = conn
    out["source"] = {"ip": "10.9.8.7", "port": port or 40000 + conn}
    if sni is not None:
        out["tls"]["client"]["server_name"] = sni
        out["destination"]["domain"] = sni
    return out


def line(rec):
    return (json.dumps(rec, separators=(",", ":")) + "\n").encode()


def conns(output):
    """The connection numbers of the console lines in `output`, in order."""
    return [int(m) for m in re.findall(rb"^\d\d:\d\d:\d\d\.\d{3} #(\d+) ", output, re.M)]


def run(*args, env=None, timeout=60):
    return subprocess.run([BIN, "tail", *args], capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class LogDir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tlsglass-tail-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.log = os.path.join(self.dir, "handshakes.jsonl")

    def write(self, *chunks, path=None, mode="ab"):
        with open(path or self.log, mode) as f:
            for chunk in chunks:
                f.write(chunk if isinstance(chunk, bytes) else line(chunk))


class Follower:
    """`tlsglass tail` running in the background, its output read by threads."""

    def __init__(self, test, *args):
        self.proc = subprocess.Popen([BIN, "tail", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out, self.err = bytearray(), bytearray()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.pumps = [threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
                      for stream, sink in ((self.proc.stdout, self.out),
                                           (self.proc.stderr, self.err))]
        for pump in self.pumps:
            pump.start()
        test.addCleanup(self.kill)

    def _pump(self, stream, sink):
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self.changed:
                sink.extend(chunk)
                self.changed.notify_all()

    def wait_for(self, what, predicate):
        deadline = time.monotonic() + TIMEOUT
        with self.changed:
            while not predicate(bytes(self.out), bytes(self.err)):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"tail did not show {what} (exit {self.proc.poll()}):\n"
                                         f"stdout: {bytes(self.out)!r}\nstderr: {bytes(self.err)!r}")
                self.changed.wait(min(left, 0.2))
            return bytes(self.out), bytes(self.err)

    def wait_for_conns(self, expected):
        return self.wait_for(f"connections {expected}", lambda o, e: conns(o) == expected)

    def interrupt(self):
        """SIGINT; the exit code, once all of stdout and stderr has been read."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=TIMEOUT)
        for pump in self.pumps:
            pump.join(timeout=TIMEOUT)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pump in self.pumps:
            pump.join(timeout=TIMEOUT)
        self.proc.stdout.close()
        self.proc.stderr.close()


class FirstScreen(LogDir):
    def test_last_ten_records_by_default_and_n(self):
        self.write(*[record("curl-tls13", n) for n in range(1, 16)])
        result = run(self.log, "--no-follow")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(conns(result.stdout), list(range(6, 16)))
        self.assertEqual(result.stderr, b"")
        self.assertEqual(conns(run(self.log, "--no-follow", "-n", "3").stdout), [13, 14, 15])
        self.assertEqual(conns(run(self.log, "--no-follow", "-n", "100").stdout),
                         list(range(1, 16)))
        self.assertEqual(run(self.log, "--no-follow", "-n", "0").stdout, b"")

    def test_a_negative_or_odd_n_is_a_usage_error(self):
        self.write(record("curl-tls13", 1))
        for n in ("-1", "ten", ""):
            result = run(self.log, "--no-follow", "-n", n, timeout=20)
            self.assertEqual(result.returncode, 2, (n, result.stdout, result.stderr))
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)

    def test_the_default_file_is_handshakes_jsonl(self):
        self.write(record("expired-tls12", 7))
        result = subprocess.run([BIN, "tail", "--no-follow"], cwd=self.dir, capture_output=True,
                                timeout=60)
        self.assertEqual(conns(result.stdout), [7])

    def test_a_line_shows_time_client_sni_cipher_cause_and_explanation(self):
        expired = record("expired-tls12", 3, port=51234)
        self.write(expired)
        out = run(self.log, "--no-follow").stdout.decode()
        t = expired["@timestamp"]
        self.assertTrue(out.startswith(f"{t[11:23]} #3 10.9.8.7:51234 -> app.tlsglass.test "), out)
        self.assertIn(expired["tls"]["cipher"], out)
        self.assertIn(" cert_expired: " + expired["tlsglass"]["explanation"], out)
        self.assertNotIn("\x1b", out, "colour on a pipe")
        self.assertEqual(len(out.splitlines()), 1, "a ladder on a pipe without --ladder")

    def test_a_missing_file_without_follow_is_a_one_line_error(self):
        result = run(os.path.join(self.dir, "nothing-here.jsonl"), "--no-follow")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertTrue(result.stderr.startswith(b"tlsglass: "), result.stderr)
        self.assertIn(b"nothing-here.jsonl", result.stderr)

    def test_a_last_line_without_newline_is_shown_when_not_following(self):
        self.write(record("curl-tls13", 1), line(record("curl-tls13", 2))[:-1])
        self.assertEqual(conns(run(self.log, "--no-follow").stdout), [1, 2])


class BigLog(LogDir):
    """A log of megabytes: the first screen is read from the end, in 64 KiB chunks that lines
    straddle; line numbers still count from the start of the file."""

    def setUp(self):
        super().setUp()
        self.write(*[record("curl-tls13", n) for n in range(1, 301)])  # lines 1-300
        self.long = record("expired-tls12", 301)
        self.long["tlsglass"]["explanation"] = "start " + "x" * 200000 + " end"
        self.write(b"garbage\n", self.long,                                   # lines 301, 302
                   b'{"@timestamp":"' + b"y" * (1024 * 1024 + 1) + b'"}\n',  # line 303
                   record("curl-tls13", 302))                                  # line 304

    def test_the_last_records_and_the_complaints_among_them_in_order(self):
        result = subprocess.run([BIN, "tail", self.log, "--no-follow", "-n", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout[-2000:])
        rows = result.stdout.decode().splitlines()
        self.assertEqual(len(rows), 5, [r[:100] for r in rows])
        self.assertIn(" #300 ", rows[0])
        self.assertIn("tail: line 301: not a handshake record (not JSON", rows[1])
        self.assertIn(" #301 ", rows[2])
        self.assertTrue(rows[2].endswith(self.long["tlsglass"]["explanation"]), rows[2][-100:])
        self.assertIn("tail: line 303: not a handshake record (longer than", rows[3])
        self.assertIn(" #302 ", rows[4])

    def test_json_lines_longer_than_a_chunk_pass_through_whole(self):
        out = run(self.log, "--no-follow", "--json", "-n", "2").stdout
        self.assertEqual(out, line(self.long) + line(record("curl-tls13", 302)))
        self.assertEqual(conns(run(self.log, "--no-follow", "-n", "400").stdout),
                         list(range(1, 303)))


class Filters(LogDir):
    def setUp(self):
        super().setUp()
        self.records = [
            record("curl-tls13", 1, sni="a.example.com"),
            record("expired-tls12", 2, sni="b.example.com"),
            record("cipher-mismatch", 3, sni="x.other.org"),
            record("nosni", 4),
            record("curl-tls13", 5, sni="B.EXAMPLE.COM"),
            record("wrongname-tls12", 6, sni="a.example.com"),
        ]
        self.write(*self.records)

    def conns_of(self, *args):
        result = run(self.log, "--no-follow", *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        return conns(result.stdout)

    def test_failed_keeps_every_cause_but_ok(self):
        expected = [r["tlsglass"]["conn"] for r in self.records if r["tlsglass"]["cause"] != "ok"]
        self.assertEqual(expected, [2, 3, 4, 6])  # the fixtures are what the README says
        self.assertEqual(self.conns_of("--failed"), expected)
        self.assertEqual(self.conns_of("--failed", "-n", "2"), [4, 6])

    def test_sni_is_a_glob_on_the_client_server_name(self):
        self.assertNotIn("server_name", self.records[3]["tls"]["client"])
        self.assertEqual(self.conns_of("--sni", "*.example.com"), [1, 2, 5, 6])
        self.assertEqual(self.conns_of("--sni", "a.example.co?"), [1, 6])
        self.assertEqual(self.conns_of("--sni", "[bx].*"), [2, 3, 5])
        self.assertEqual(self.conns_of("--sni", "*"), [1, 2, 3, 5, 6])  # no SNI: no match
        self.assertEqual(self.conns_of("--sni", "nothing.test"), [])

    def test_cause_by_name_and_filters_combine(self):
        for fixture, cause in FIXTURE_CAUSES.items():
            expected = [r["tlsglass"]["conn"] for r in self.records
                        if r["tlsglass"]["cause"] == cause]
            self.assertTrue(expected, fixture)
            self.assertEqual(self.conns_of("--cause", cause), expected, cause)
        self.assertEqual(self.conns_of("--cause", "ok", "--sni", "a.*"), [1])
        self.assertEqual(self.conns_of("--failed", "--cause", "ok"), [])

    def test_an_unknown_cause_is_a_usage_error(self):
        result = run(self.log, "--no-follow", "--cause", "cert_expird")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, b"")
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertTrue(result.stderr.startswith(b"tlsglass: "), result.stderr)
        self.assertIn(b"cert_expird", result.stderr)
        self.assertIn(b"cert_expired", result.stderr)  # says which names there are
        # Whether or not the file is there: it is the command line that is wrong.
        self.assertEqual(run("/nonexistent/log", "--cause", "bogus").returncode, 2)

    def test_json_passes_the_matching_lines_through_byte_for_byte(self):
        # Key order, spacing and escapes of another writer (jq, Vector) are kept as they are.
        odd = json.dumps(record("expired-tls12", 7), indent=None, separators=(", ", ": "),
                         ensure_ascii=True, sort_keys=True).encode() + b"\r\n"
        unicode = json.dumps(record("cipher-mismatch", 8, sni="caf\u00e9.example.com"),
                             ensure_ascii=False).encode() + b"\n"
        self.write(odd, b"not json\n", unicode)
        result = run(self.log, "--no-follow", "--json", "--failed", "-n", "3")
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.log, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        expected = [l for l in lines[-5:] if l not in (b"not json\n",)]
        expected = [l for l in expected if json.loads(l)["tlsglass"]["cause"] != "ok"][-3:]
        self.assertEqual(result.stdout, b"".join(l.rstrip(b"\n") + b"\n" for l in expected))
        self.assertTrue(result.stdout.endswith(unicode))
        self.assertIn(odd, result.stdout)
        self.assertIn(b"line 8: not a handshake record", result.stderr)

        everything = run(self.log, "--no-follow", "--json", "-n", "1000").stdout
        self.assertEqual(everything, b"".join(l for l in lines if l != b"not json\n"))


class BadLines(LogDir):
    def test_a_bad_line_is_named_on_stderr_and_skipped(self):
        self.write(record("curl-tls13", 1), b"this is not json\n", b'{"some": "other json"}\n',
                   line(record("curl-tls13", 2))[:40] + b"\n", b"[1, 2, 3]\n",
                   record("expired-tls12", 3))
        result = run(self.log, "--no-follow")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(conns(result.stdout), [1, 3])
        complaints = result.stderr.decode().splitlines()
        self.assertEqual(len(complaints), 4, result.stderr)
        for number, complaint in zip((2, 3, 4, 5), complaints):
            self.assertIn(f"tail: line {number}: not a handshake record (", complaint)
            self.assertTrue(complaint.endswith(")"), complaint)

    def test_a_complaint_does_not_echo_the_line(self):
        self.write(b"\x1b[2J\x1b]0;pwned\x07 {\n", b'{"@timestamp": 5, "x": "\x1b[31m"}\n')
        result = run(self.log, "--no-follow")
        self.assertEqual(result.stdout, b"")
        self.assertEqual(len(result.stderr.splitlines()), 2, result.stderr)
        self.assertNotIn(b"\x1b", result.stderr)
        self.assertNotIn(b"\x07", result.stderr)

    def test_a_line_over_a_mebibyte_is_skipped(self):
        self.write(record("curl-tls13", 1),
                   b'{"@timestamp":"' + b"x" * (1024 * 1024 + 10) + b'"}\n',
                   record("expired-tls12", 2))
        result = run(self.log, "--no-follow")
        self.assertEqual(conns(result.stdout), [1, 2])
        self.assertRegex(result.stderr.decode(), r"^tlsglass: tail: line 2: not a handshake "
                                                 r"record \(longer than \d+ bytes")

    def test_deeply_nested_json_is_just_not_a_record(self):
        self.write(b"[" * 500000 + b"]" * 500000 + b"\n", b'{"a":' * 100000 + b"1" +
                   b"}" * 100000 + b"\n", record("curl-tls13", 9))
        result = run(self.log, "--no-follow")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(conns(result.stdout), [9])
        self.assertEqual(len(result.stderr.splitlines()), 2, result.stderr)


class Ladder(LogDir):
    def test_ladder_draws_the_timeline_with_the_failing_step_marked(self):
        expired = record("expired-tls12", 1)
        self.write(expired, record("curl-tls13", 2))
        out = run(self.log, "--no-follow", "--ladder", env={"LANG": "C.UTF-8", "LC_ALL": ""})
        text = out.stdout.decode()
        rows = text.splitlines()
        timeline = expired["tlsglass"]["timeline"]
        # The line, the column header, one row per entry; then the same for the second record.
        self.assertEqual(conns(out.stdout), [1, 2])
        self.assertRegex(rows[1], r"^\s+client\s+server$")
        for entry, row in zip(timeline, rows[2:2 + len(timeline)]):
            self.assertIn(entry["what"], row)
            self.assertIn(f"{entry['ms']:.1f} ms", row)
            arrow = "→" if entry["from"] == "client" else "←"
            other = "←" if entry["from"] == "client" else "→"
            self.assertIn(arrow, row)
            self.assertNotIn(other, row)
        failed = [row for row in rows if "✗" in row]
        self.assertEqual(len(failed), 1, text)
        self.assertIn("Alert(fatal,certificate_expired)", failed[0])
        self.assertTrue(failed[0].endswith("✗ cert_expired"), failed[0])
        self.assertFalse(any(len(row) > 80 for row in rows[1:] if not re.match(r"\d\d:", row)))

    def test_without_a_utf8_locale_the_ladder_is_ascii(self):
        self.write(record("cipher-mismatch", 1))
        env = {"LANG": "C", "LC_ALL": "", "LC_CTYPE": ""}
        text = run(self.log, "--no-follow", "--ladder", env=env).stdout
        self.assertTrue(all(b < 0x80 for b in text), text)
        self.assertRegex(text.decode(), r"\|- ClientHello -+>\|")
        self.assertRegex(text.decode(), r"\|<-+ Alert\(fatal,handshake_failure\) -\| X cipher_mismatch")


class HostilePeer(LogDir):
    def hostile_record(self):
        rec = record("expired-tls12", 66, sni=HOSTILE)
        rec["tlsglass"]["explanation"] = "cert for \x1b[8mhidden\u009b2J\u202eevil"
        rec["tlsglass"]["timeline"][1]["what"] = "Server\x1b[1A\x1b[KHello"
        return rec

    def test_escape_sequences_never_reach_the_output_raw(self):
        rec = self.hostile_record()
        raw = line(rec)
        self.assertIn(b"\\u001b[2J", raw)  # the log itself holds them escaped, as JSON does
        self.write(raw)
        for args in ((), ("--ladder",)):
            out = run(self.log, "--no-follow", *args, env={"LANG": "C.UTF-8"}).stdout
            self.assertNotIn(b"\x1b", out)
            self.assertNotIn(b"\x07", out)
            self.assertNotIn("\u009b".encode(), out)
            self.assertNotIn("\u202e".encode(), out)
            text = out.decode()
            self.assertIn(HOSTILE_SHOWN, text)
            self.assertIn("\\x1b[8mhidden\\x9b2J\\u{202e}evil", text)
        self.assertIn("Server\\x1b[1A\\x1b[KHello", text)

    def test_json_passthrough_keeps_the_record_escaped(self):
        rec = self.hostile_record()
        self.write(rec)
        out = run(self.log, "--no-follow", "--json").stdout
        self.assertEqual(out, line(rec))
        self.assertNotIn(b"\x1b", out)


class Following(LogDir):
    def test_new_records_appear_and_sigint_exits_0(self):
        self.write(record("curl-tls13", 1), record("curl-tls13", 2))
        tail = Follower(self, self.log, "-n", "1")
        tail.wait_for_conns([2])
        self.write(record("expired-tls12", 3))
        tail.wait_for_conns([2, 3])
        self.write(record("curl-tls13", 4), record("nosni", 5))
        tail.wait_for_conns([2, 3, 4, 5])
        self.assertEqual(tail.interrupt(), 0)
        self.assertEqual(bytes(tail.err), b"")

    def test_filters_apply_to_new_records(self):
        self.write(b"")
        tail = Follower(self, self.log, "--failed", "--json")
        self.write(record("curl-tls13", 1), record("cipher-mismatch", 2), record("curl-tls13", 3))
        expected = line(record("cipher-mismatch", 2))
        tail.wait_for("the failed record", lambda o, e: o == expected)
        self.write(record("wrongname-tls12", 4))
        tail.wait_for("both failed records",
                      lambda o, e: o == expected + line(record("wrongname-tls12", 4)))

    def test_a_file_that_does_not_exist_yet_is_waited_for(self):
        tail = Follower(self, self.log)
        tail.wait_for("that it waits", lambda o, e: b"handshakes.jsonl" in e)
        self.assertIsNone(tail.proc.poll())
        self.write(record("curl-tls13", 1), record("expired-tls12", 2))
        tail.wait_for_conns([1, 2])

    def test_rotation_finishes_the_old_file_then_reads_the_new_one(self):
        self.write(record("curl-tls13", 1))
        tail = Follower(self, self.log)
        tail.wait_for_conns([1])
        os.rename(self.log, self.log + ".1")
        # Still written by whoever had it open: tail -F reads it until the new file appears.
        self.write(record("curl-tls13", 2), path=self.log + ".1")
        tail.wait_for_conns([1, 2])
        self.write(record("expired-tls12", 3), record("curl-tls13", 4))
        tail.wait_for_conns([1, 2, 3, 4])
        self.write(record("curl-tls13", 5))
        tail.wait_for_conns([1, 2, 3, 4, 5])
        # Replaced in one step (a rename onto the name), with a record of the same size.
        other = os.path.join(self.dir, "new.jsonl")
        self.write(record("curl-tls13", 6), path=other)
        os.rename(other, self.log)
        tail.wait_for_conns([1, 2, 3, 4, 5, 6])
        self.assertEqual(tail.interrupt(), 0)
        self.assertNotIn(b"not a handshake record", bytes(tail.err))

    def test_truncation_reads_the_file_again_from_the_start(self):
        self.write(record("curl-tls13", 1), record("curl-tls13", 2), record("curl-tls13", 3))
        tail = Follower(self, self.log)
        tail.wait_for_conns([1, 2, 3])
        self.write(record("expired-tls12", 4), mode="wb")  # `> log`: shorter than before
        tail.wait_for_conns([1, 2, 3, 4])
        tail.wait_for("the first truncation", lambda o, e: e.count(b"truncated") == 1)
        os.truncate(self.log, 0)
        # Noticed before the new record is written: it may be no shorter than the old content.
        tail.wait_for("the second truncation", lambda o, e: e.count(b"truncated") == 2)
        self.write(record("curl-tls13", 5))
        tail.wait_for_conns([1, 2, 3, 4, 5])
        self.assertEqual(tail.interrupt(), 0)
        self.assertNotIn(b"not a handshake record", bytes(tail.err))

    def test_a_partial_line_waits_for_its_newline(self):
        self.write(record("curl-tls13", 1))
        tail = Follower(self, self.log)
        tail.wait_for_conns([1])
        whole = line(record("expired-tls12", 2))
        self.write(whole[:100])
        time.sleep(0.5)  # several polls: none may take the half line for a record
        self.write(whole[100:])
        tail.wait_for_conns([1, 2])
        self.assertEqual(tail.interrupt(), 0)
        self.assertEqual(bytes(tail.err), b"")

    def test_a_last_line_cut_short_is_finished_not_complained_about(self):
        whole = line(record("expired-tls12", 2))
        self.write(record("curl-tls13", 1), whole[:-50])
        tail = Follower(self, self.log)
        tail.wait_for_conns([1])
        self.write(whole[-50:])
        tail.wait_for_conns([1, 2])
        self.write(record("curl-tls13", 3), b"oops\n")
        tail.wait_for("the complaint", lambda o, e: b"line 4: not a handshake record" in e)
        # stdout and stderr are read by separate threads: record 3 may show after the complaint.
        tail.wait_for_conns([1, 2, 3])

    def test_a_line_that_never_ends_is_skipped_once_over_a_mebibyte(self):
        self.write(b"")
        tail = Follower(self, self.log)
        self.write(b"{" + b" " * (1024 * 1024 + 1))
        tail.wait_for("the complaint", lambda o, e: b"line 1: not a handshake record" in e)
        self.write(b" " * 65536 + b"}\n", record("curl-tls13", 7))
        tail.wait_for_conns([7])
        self.assertEqual(tail.interrupt(), 0)
        self.assertEqual(len(bytes(tail.err).splitlines()), 1, bytes(tail.err))


class Terminal(LogDir):
    """tail in a real terminal: a tmux pane of 160x50, read back with capture-pane."""

    def setUp(self):
        super().setUp()
        self.pane = support.TmuxPane(self, 160, 50, marker="BEFORE-TAIL")

    def tmux_cmd(self, *args, check=True):
        return self.pane.cmd(*args, check=check)

    def start(self, command, env=None):
        self.pane.start(command, env)

    def screen(self, escapes=False):
        return self.pane.screen(escapes, history=False)

    def wait_for_screen(self, what, predicate, escapes=False):
        return self.pane.wait_for(what, predicate, timeout=TIMEOUT, escapes=escapes, history=False)

    def tail(self, env=None):
        self.start(f"{BIN} tail {self.log}", env)

    def test_colour_and_a_ladder_under_each_failure(self):
        self.write(record("curl-tls13", 1), record("expired-tls12", 2))
        self.tail()
        plain = self.wait_for_screen("the ladder", lambda s: "✗" in s)
        rows = plain.splitlines()
        self.assertEqual(sum(1 for r in rows if re.match(r"^\s+client\s+server\s*$", r)), 1, plain)
        header = next(i for i, r in enumerate(rows) if re.match(r"^\s+client\s+server", r))
        self.assertIn(" #2 ", rows[header - 1])  # under the failure, not under the ok one
        self.assertRegex(plain, r"Alert\(fatal,certificate_expired\) ─+→│ ✗ cert_expired")
        self.assertRegex(plain, r"│─ ClientHello ─+→│")
        coloured = self.screen(escapes=True)
        self.assertRegex(coloured, r"\x1b\[(0;)?31mcert_expired")
        self.assertRegex(coloured, r"\x1b\[(0;)?32mok")
        self.write(record("cipher-mismatch", 3))
        self.wait_for_screen("the new failure", lambda s: "✗ cipher_mismatch" in s)

    def test_no_color_means_no_colour(self):
        self.write(record("curl-tls13", 1), record("expired-tls12", 2))
        self.tail(env={"NO_COLOR": "1"})
        self.wait_for_screen("the ladder", lambda s: "✗ cert_expired" in s)
        coloured = self.screen(escapes=True)
        self.assertNotRegex(coloured, r"\x1b\[[0-9;]*(3[0-9]|9[0-7])[0-9;]*m", coloured)

    def test_a_hostile_sni_shows_as_text_and_leaves_the_screen_alone(self):
        self.write(record("curl-tls13", 1))
        self.tail()
        self.wait_for_screen("the first record", lambda s: " #1 " in s)
        self.write(record("expired-tls12", 66, sni=HOSTILE), record("curl-tls13", 3))
        plain = self.wait_for_screen("the later record", lambda s: " #3 " in s)
        self.assertIn(HOSTILE_SHOWN, plain)
        # \x1b[2J would have wiped these; a raw \x1b[31m would have reddened what follows.
        self.assertIn("BEFORE-TAIL", plain)
        self.assertIn(" #1 ", plain)
        coloured = self.screen(escapes=True)
        hostile_row = next(r for r in coloured.splitlines() if "#66" in r)
        self.assertNotRegex(hostile_row.split("evil")[0], r"\x1b\[[0-9;]*31m")

    def test_ascii_fallback_in_a_c_locale(self):
        self.write(record("expired-tls12", 2))
        self.tail(env={"LANG": "C"})
        plain = self.wait_for_screen("the ladder", lambda s: "X cert_expired" in s)
        self.assertRegex(plain, r"\|- ClientHello -+>\|")
        self.assertNotIn("│", plain)

    def test_analyze_on_a_terminal_shows_the_line_and_the_ladder(self):
        directory = os.path.join(FIXTURES, "expired-tls12")
        self.start(f"{BIN} analyze --client {directory}/client.bin --server {directory}/server.bin")
        plain = self.wait_for_screen("analyze's view", lambda s: "EXITED" in s)
        self.assertIn("EXITED 0", plain)
        self.assertRegex(plain, r"-> app\.tlsglass\.test .*cert_expired")
        self.assertIn("verdict cert_expired", plain)
        self.assertRegex(plain, r"Alert\(fatal,certificate_expired\) ─+→│ ✗ cert_expired")
        self.assertRegex(plain, r"│←─+ ServerHello ─│")


if __name__ == "__main__":
    unittest.main(verbosity=2)
