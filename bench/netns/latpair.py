#!/usr/bin/env python3
"""Interleaved request latency of several targets, each reached from its
own network namespace, so machine noise hits all of them alike.

latpair.py N LABEL:NETNS:HOST:PORT ...   -> one line per target:
    LABEL median_us p99_us
"""
import ctypes, os, socket, sys, time

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def enter(ns):
    fd = os.open(ns if "/" in ns else "/var/run/netns/" + ns, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET):
        raise OSError(ctypes.get_errno(), "setns " + ns)
    os.close(fd)


def once(host, port):
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(3)
    s.connect((host, port))
    while s.recv(4096):
        pass
    s.close()
    return (time.perf_counter() - t0) * 1e6


n = int(sys.argv[1])
targets = [a.split(":", 3) for a in sys.argv[2:]]
samples = {t[0]: [] for t in targets}
for i in range(n):
    for label, ns, host, port in targets:
        enter(ns)
        samples[label].append(once(host, int(port)))
for label, _, _, _ in targets:
    v = sorted(samples[label])
    print("%s %.0f %.0f" % (label, v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]))
