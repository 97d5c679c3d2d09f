#!/usr/bin/env python3
"""Request latency: lat.py HOST PORT N [raw] -> "median_us p99_us" over N
sequential requests (connect, read the server's answer until it closes);
with raw, every sample (us, space separated) instead."""
import socket, sys, time

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
samples = []
for _ in range(n):
    t0 = time.perf_counter()
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((host, port))
    while s.recv(4096):
        pass
    s.close()
    samples.append((time.perf_counter() - t0) * 1e6)
if sys.argv[4:] == ["raw"]:
    print(" ".join("%.0f" % v for v in samples))
    sys.exit(0)
samples.sort()
print("%.0f %.0f" % (samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]))
