#!/usr/bin/env python3
"""Make captures/examples/: one small capture per cause of DESIGN.md, each a real connection
between a real client and a real server on 127.0.0.1 through `tlsglass proxy --capture-dir`.

Run by captures/make-examples.sh (which builds tlsglass first). The set-ups are the scenario
suite's (tests/scenarios/scenario_support.py: certificates made for the run with the dates they
need, openssl s_server, nginx, the suite's own resetting and silent servers); each capture is
replayed with `tlsglass replay` afterwards and kept only if the replay names the cause it was
made for.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "scenarios"))
sys.dont_write_bytecode = True
import scenario_support as ss  # noqa: E402
from scenario_support import support  # noqa: E402

CHACHA = "ECDHE-RSA-CHACHA20-POLY1305"


class Case:
    """The little of unittest.TestCase the scenario helpers use: cleanups and assertions."""

    def __init__(self):
        self._cleanups = []

    def addCleanup(self, fn, *args, **kw):
        self._cleanups.append((fn, args, kw))

    def cleanup(self):
        while self._cleanups:
            fn, args, kw = self._cleanups.pop()
            try:
                fn(*args, **kw)
            except Exception as error:  # a cleanup failure must not hide the others
                print(f"  cleanup: {error}", file=sys.stderr)

    def assertEqual(self, a, b, msg=""):
        if a != b:
            raise AssertionError(f"{a!r} != {b!r} {msg}")

    def assertTrue(self, value, msg=""):
        if not value:
            raise AssertionError(msg or f"{value!r} is not true")


class ClosedPort:
    """A port nothing listens on: connecting to it is refused."""

    def __init__(self):
        self.port = support.free_port()

    def stop(self):
        pass


def server_for(case, tmp, kind, *flags, cert="rsa"):
    if kind == "s_server":
        return ss.start(case, ss.SServer(tmp, *flags, cert=cert))
    if kind == "nginx_sni_only":
        return ss.start(case, ss.NginxSniOnly(tmp))
    if kind == "nginx_plain":
        return ss.start(case, ss.NginxPlain(tmp))
    if kind == "reset":
        return ss.start(case, ss.ResetAfterHello())
    if kind == "silent":
        return ss.start(case, ss.Silent())
    if kind == "closed":
        return ClosedPort()
    raise ValueError(kind)


# name, cause, mode, server (kind, flags, cert), client(route), client wait in seconds
# (None: run to completion).
EXAMPLES = [
    ("ok-tls13", "ok", "forward", ("s_server", ("-tls1_3", "-alpn", "http/1.1"), "rsa"),
     lambda r: ss.curl(r), None),
    ("ok-tls12", "ok", "forward", ("s_server", ("-tls1_2",), "rsa"),
     lambda r: ss.s_client(r, "-tls1_2"), None),
    ("ok-connect-tls13", "ok", "connect", ("s_server", ("-tls1_3",), "rsa"),
     lambda r: ss.curl(r), None),
    ("ok-hello-retry-request", "ok", "forward", ("s_server", ("-tls1_3", "-groups", "P-256"), "rsa"),
     lambda r: ss.s_client(r, "-tls1_3", "-groups", "X25519:P-256"), None),
    ("no_sni", "no_sni", "forward", ("nginx_sni_only", (), None),
     lambda r: ss.s_client(r, sni=None), None),
    ("cert_expired", "cert_expired", "forward", ("s_server", ("-tls1_2",), "expired"),
     lambda r: ss.curl(r), None),
    ("cert_not_yet_valid", "cert_not_yet_valid", "forward", ("s_server", ("-tls1_2",), "notyet"),
     lambda r: ss.s_client(r), None),
    ("hostname_mismatch", "hostname_mismatch", "forward", ("s_server", ("-tls1_2",), "wrong"),
     lambda r: ss.curl(r), None),
    ("untrusted_cert", "untrusted_cert", "forward", ("s_server", ("-tls1_2",), "rogue"),
     lambda r: ss.curl(r), None),
    ("cipher_mismatch", "cipher_mismatch", "forward",
     ("s_server", ("-tls1_2", "-cipher", "AES128-SHA"), "rsa"),
     lambda r: ss.s_client(r, "-no_tls1_3", "-cipher", CHACHA), None),
    ("version_mismatch", "version_mismatch", "forward", ("s_server", ("-tls1_3",), "rsa"),
     lambda r: ss.s_client(r, "-tls1_2"), None),
    ("reset_mid_handshake", "reset_mid_handshake", "forward", ("reset", (), None),
     lambda r: ss.curl(r), None),
    # The replay's --handshake-timeout defaults to the proxy's (10 s): the client waits longer.
    ("timeout", "timeout", "forward", ("silent", (), None),
     lambda r: ss.curl_argv(r, "--max-time", "60"), 11.5),
    ("not_tls-http-server", "not_tls", "forward", ("nginx_plain", (), None),
     lambda r: ss.curl(r), None),
    # The proxy answers the CONNECT with 502 (the port refuses): the capture shows that answer.
    ("upstream_unreachable-connection-refused", "upstream_unreachable", "connect",
     ("closed", (), None), lambda r: ss.curl(r), None),
    ("alert_other-no-application-protocol", "alert_other", "forward",
     ("s_server", ("-alpn", "h2"), "rsa"),
     lambda r: ss.s_client(r, "-alpn", "http/1.1"), None),
]


def make(name, cause, mode, server, client, wait, out_dir):
    case = Case()
    try:
        tmp = support.make_tmp(case, prefix="tlsglass-example-")
        kind, flags, cert = server
        srv = server_for(case, tmp, kind, *flags, cert=cert or "rsa")
        captures = tmp / "captures"
        captures.mkdir()
        proxy, route = ss.start_route(case, tmp, mode, srv.port, "--capture-dir", str(captures),
                                      "--capture", "all")
        if wait is None:
            client(route)
        else:
            process = support.Process(client(route), tmp, "client.log", env=ss.client_env())
            case.addCleanup(process.stop)
            time.sleep(wait)
            process.stop()
        proxy.wait_records(1, timeout=30)
        records = support.stop_and_read(case, proxy)
        files = sorted(captures.glob("*.pcap"))
        if len(files) != 1 or len(records) != 1:
            raise AssertionError(f"{len(files)} captures and {len(records)} records: {records}")
        live = records[0]["tlsglass"]["cause"]
        if live != cause:
            raise AssertionError(f"the live record says {live}: {records[0]['tlsglass']}")
        target = out_dir / f"{name}.pcap"
        shutil.copyfile(files[0], target)
        target.chmod(0o644)
        replayed = subprocess.run([support.BIN, "replay", "--json", str(target)],
                                  capture_output=True, text=True, timeout=60)
        lines = [json.loads(line) for line in replayed.stdout.splitlines() if line.strip()]
        got = [r["tlsglass"]["cause"] for r in lines]
        if got != [cause]:
            target.unlink()
            raise AssertionError(f"replay of {target.name} gives {got}: {replayed.stderr}")
        print(f"  {target.name}: {cause} ({target.stat().st_size} bytes)")
    finally:
        case.cleanup()


def main():
    out_dir = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else HERE / "examples")
    out_dir.mkdir(parents=True, exist_ok=True)
    support.need_tlsglass()
    support.pki()
    ss.dated_pki()
    failed = []
    for name, cause, mode, server, client, wait in EXAMPLES:
        try:
            make(name, cause, mode, server, client, wait, out_dir)
        except Exception as error:  # report every example, then fail
            failed.append(name)
            print(f"  {name}: FAILED: {error}", file=sys.stderr)
    if failed:
        print(f"make-examples: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
