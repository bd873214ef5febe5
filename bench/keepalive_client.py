"""Sends N identical GET requests, one after another, on one keep-alive HTTP/1.1 connection, and
reads each response whole (Content-Length framing). The load generator of bench/instructions.sh:
a fixed number of requests, where wrk runs for a fixed time.

Usage: python3 bench/keepalive_client.py PORT N PATH [HEADER: value]...
"""

import socket
import sys


def main() -> None:
    port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    extra = "".join(f"{h}\r\n" for h in sys.argv[4:])
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    for _ in range(n):
        conn.sendall(request)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = buf[:end].decode("latin-1").split("\r\n")
                if not head[0].startswith("HTTP/1.1 200"):
                    sys.exit(f"unexpected answer: {head[0]}")
                length = next(
                    (int(v) for k, v in (line.split(":", 1) for line in head[1:])
                     if k.strip().lower() == "content-length"),
                    0,
                )
                if len(buf) >= end + 4 + length:
                    buf = buf[end + 4 + length:]
                    break
            data = conn.recv(65536)
            if not data:
                sys.exit("the server closed the connection")
            buf += data


if __name__ == "__main__":
    main()
