#!/usr/bin/env python3
"""Bulk transfer across the split, to exercise the link's MTU.

usage: bulk.py serve ADDR PORT      count the bytes of each connection, answer
                                    "got N" after the client's half-close
       bulk.py send HOST PORT N     send N bytes, half-close, print the answer
"""
import socket, sys


def serve(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        c.sendall(b"got %d\n" % n)
        c.close()


def send(host, port, n):
    s = socket.create_connection((host, port), timeout=5)
    chunk = bytes(range(256)) * 256
    left = n
    while left:
        left -= s.send(chunk[:left])
    s.shutdown(socket.SHUT_WR)
    sys.stdout.write(s.recv(100).decode())


if sys.argv[1] == "serve":
    serve(sys.argv[2], int(sys.argv[3]))
else:
    send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
