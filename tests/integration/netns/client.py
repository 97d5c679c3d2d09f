#!/usr/bin/env python3
"""Test client: client.py tcp|udp HOST PORT [BIND] -> prints the server's line."""
import socket, sys

proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(3)
if len(sys.argv) > 4:
    s.bind((sys.argv[4], 0))
if proto == "tcp":
    s.connect((host, port))
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
else:
    s.sendto(b"q", (host, port))
    data = s.recv(4096)
sys.stdout.write(data.decode())
