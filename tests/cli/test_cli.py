#!/usr/bin/env python3
"""The command line as a user meets it: exit codes, one-line errors, and `analyze` over real
recorded streams (binary and the hex dump formats engineers paste)."""
import json
import os
import subprocess
import tempfile
import unittest

BIN = os.environ["TLSGLASS_BIN"]
DATA = os.environ.get("TLSGLASS_TEST_DATA", "tests/data")
FIXTURE = os.path.join(DATA, "fixtures", "curl-tls13")


def run(*args, stdin=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, input=stdin, timeout=60)


def analyze(client, server=None, *extra):
    args = ["analyze", "--client", client] + (["--server", server] if server else []) + list(extra)
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def without_time(record):
    record = dict(record)
    record.pop("@timestamp", None)
    record["event"] = {k: v for k, v in record["event"].items() if k != "duration"}
    return record


def xxd(data):
    """The layout of `xxd`: offset, eight 2-byte groups, two spaces, ASCII."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        groups = " ".join(chunk[i:i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}: {groups:<39}  {text}")
    return "\n".join(lines) + "\n"


def tshark_x(data):
    """The layout of `tshark -x`: offset, 16 bytes split 8+8, three spaces, ASCII."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        left = " ".join(f"{b:02x}" for b in chunk[:8])
        right = " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {left}  {right:<23}   {text}")
    return "\n".join(lines) + "\n"


class CommandLine(unittest.TestCase):
    def assert_usage_error(self, result):
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertTrue(result.stderr.startswith("tlsglass: "), result.stderr)

    def test_unknown_flag_is_a_one_line_usage_error(self):
        self.assert_usage_error(run("--no-such-flag"))

    def test_missing_client_file_is_a_usage_error(self):
        self.assert_usage_error(run("analyze"))
        self.assert_usage_error(run("analyze", "--client", "/nonexistent/file"))

    def test_no_subcommand_is_a_usage_error(self):
        self.assert_usage_error(run())

    def test_version_and_help(self):
        version = run("--version")
        self.assertEqual(version.returncode, 0)
        self.assertTrue(version.stdout.startswith("tlsglass "))
        self.assertEqual(run("analyze", "--help").returncode, 0)


class Analyze(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIXTURE, "expected.json")) as f:
            cls.expected = json.load(f)
        cls.client = os.path.join(FIXTURE, "client.bin")
        cls.server = os.path.join(FIXTURE, "server.bin")

    def test_record_matches_tshark(self):
        record = analyze(self.client, self.server)
        self.assertEqual(record["tls"]["client"]["server_name"], self.expected["sni"])
        self.assertEqual(record["tls"]["client"]["ja3"], self.expected["ja3"])
        self.assertEqual(record["tlsglass"]["cause"], "ok")
        self.assertTrue(record["tls"]["established"])

    def test_hex_dumps_give_the_same_record(self):
        binary = without_time(analyze(self.client, self.server))
        with open(self.client, "rb") as f:
            client = f.read()
        with open(self.server, "rb") as f:
            server = f.read()
        for name, fmt in (("plain", lambda d: d.hex() + "\n"), ("xxd", xxd), ("tshark", tshark_x)):
            with self.subTest(format=name), tempfile.TemporaryDirectory() as tmp:
                paths = []
                for side, data in (("client", client), ("server", server)):
                    path = os.path.join(tmp, side + ".txt")
                    with open(path, "w") as f:
                        f.write(fmt(data))
                    paths.append(path)
                self.assertEqual(without_time(analyze(*paths, "--hex")), binary)

    def test_openssl_msg_layout(self):
        # `openssl s_client -msg`: header lines, then indented bytes, 16 per line.
        with open(self.client, "rb") as f:
            client = f.read()
        record_len = 5 + int.from_bytes(client[3:5], "big")
        header, body = client[:5], client[5:record_len]
        text = ">>> TLS 1.3, RecordHeader [length 0005]\n    " + " ".join(f"{b:02x}" for b in header) + "\n"
        text += ">>> TLS 1.3, Handshake [length %04x], ClientHello\n" % len(body)
        for off in range(0, len(body), 16):
            text += "    " + " ".join(f"{b:02x}" for b in body[off:off + 16]) + "\n"
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write(text)
            f.flush()
            record = analyze(f.name, None, "--hex")
        self.assertEqual(record["tls"]["client"]["server_name"], self.expected["sni"])

    def test_bad_hex_is_a_one_line_error(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write("16 03 01 zz\n")
            f.flush()
            result = run("analyze", "--client", f.name, "--hex")
        self.assertEqual(result.returncode, 1)
        self.assertIn(":1:", result.stderr)

    def test_garbage_is_recorded_not_fatal(self):
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            f.write(os.urandom(65536))
            f.flush()
            record = analyze(f.name)
        self.assertIn(record["tlsglass"]["cause"], ("not_tls", "incomplete"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
