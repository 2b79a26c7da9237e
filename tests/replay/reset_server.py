#!/usr/bin/env python3
"""A server that resets by itself: `reset_server.py ADDR PORT` accepts connections, reads the
ClientHello's record, then closes with RST (SO_LINGER 0) - what scenario_support.ResetAfterHello
does, as a program of its own so that it can run in another network namespace (`ip netns exec`).
It prints "listening" once it is ready and one line per connection it reset."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenarios"))
sys.dont_write_bytecode = True
import scenario_support  # noqa: E402


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((addr, port))
    server.listen(16)
    print("listening", flush=True)
    while True:
        conn, peer = server.accept()
        hello = scenario_support.read_tls_record(conn)
        scenario_support.reset(conn)
        print(f"reset {peer[0]}:{peer[1]} after {len(hello)} bytes", flush=True)


if __name__ == "__main__":
    main()
