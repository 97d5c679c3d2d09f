#!/usr/bin/env python3
"""Tagged test server: answers every TCP connection / UDP datagram with
"TAG local=IP:PORT orig=IP:PORT peer=IP:PORT" (orig = SO_ORIGINAL_DST when
the connection was REDIRECTed, else the local address), then closes.

usage: tagsrv.py tcp|tcp6|udp|both ADDR PORT TAG
  (ADDR :: is dual stack for tcp; tcp6 and udp on :: are IPv6 only)
"""
import socket, struct, sys, threading

SO_ORIGINAL_DST = 80
IP_PKTINFO = 8  # linux/in.h (not exported by every Python build)
IP6T_SO_ORIGINAL_DST = 80


def orig_dst(s):
    try:
        if s.family == socket.AF_INET6:
            raw = s.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, 28)
            port = struct.unpack_from("!H", raw, 2)[0]
            ip = socket.inet_ntop(socket.AF_INET6, raw[8:24])
            if ip.startswith("::ffff:"):
                ip = ip[7:]
            return "%s:%d" % (ip, port)
        raw = s.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, ip = struct.unpack_from("!2xH4s", raw)
        return "%s:%d" % (socket.inet_ntoa(ip), port)
    except OSError:
        a = s.getsockname()
        return "%s:%d" % (a[0].replace("::ffff:", ""), a[1])


def fmt(a):
    return "%s:%d" % (a[0].replace("::ffff:", ""), a[1])


def tcp(addr, port, tag, v6only=False):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    s.listen(64)
    while True:
        c, peer = s.accept()
        try:
            c.sendall(("%s local=%s orig=%s peer=%s\n" % (
                tag, fmt(c.getsockname()), orig_dst(c), fmt(peer))).encode())
        except OSError:
            pass
        c.close()


def udp(addr, port, tag):
    """Replies from the address each datagram was sent to (IP_PKTINFO), as
    a UDP server on a multi-homed host must for conntrack to match."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        lvl, typ = socket.IPPROTO_IP, IP_PKTINFO
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        lvl, typ = socket.IPPROTO_IPV6, socket.IPV6_PKTINFO
    s.bind((addr, port))
    while True:
        _, anc, _, peer = s.recvmsg(2048, 256)
        cm = []
        for level, ctype, data in anc:
            if level == lvl and ctype == typ:
                if fam == socket.AF_INET:  # ifindex, spec_dst, addr
                    dst = data[8:12]
                    cm = [(lvl, typ, struct.pack("=i4s4s", 0, dst, b"\0" * 4))]
                else:
                    cm = [(lvl, typ, data[:16] + struct.pack("=i", 0))]
        s.sendmsg([("%s udp peer=%s\n" % (tag, fmt(peer))).encode()], cm, 0, peer)


def main():
    proto, addr, port, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    threads = []
    if proto in ("udp", "both"):
        threads.append(threading.Thread(target=udp, args=(addr, port, tag), daemon=True))
    if proto == "tcp6":
        threads.append(threading.Thread(target=tcp, args=(addr, port, tag, True), daemon=True))
    if proto in ("tcp", "both"):
        threads.append(threading.Thread(target=tcp, args=(addr, port, tag), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


main()
