#!/usr/bin/env python3
"""--capture-dir: the pcaps the proxy writes are read by tshark (not by tlsglass) without
warnings other than the connection's own close, and show the SNI and cipher suites the record
logged; --capture failed keeps only failed connections; files are mode 0600."""
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
