#!/usr/bin/python3
"""Fake ZDS peers for the agent's tests, speaking Istio's wire format with
hand-written protobuf encoding (independent of the agent's protobuf-c code).

  zdsfake.py cni --socket PATH --out FILE --workload UID=NETNS...
      istio-cni: listen, read ZdsHello, send AddWorkload for each UID with
      the fd of /var/run/netns/NETNS as SCM_RIGHTS, then SnapshotSent,
      waiting for each ack; write {"hello": .., "acks": [..]} to FILE and
      keep the connection open until SIGTERM; SIGUSR1 sends DelWorkload for
      the last UID.
  zdsfake.py ztunnel --socket PATH --out FILE
      ztunnel: connect, send ZdsHello, ack every request until SnapshotSent;
      write {"seq": [types], "adds": [{"uid", "ino", "dev", "sa"}]} to FILE.
"""
import array, json, os, signal, socket, sys, time


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, payload):
    """Length-delimited field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def parse(buf):
    """{field number: [values]} of one message (varints and bytes only)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def add_workload(uid, name, ns, sa):
    info = field(1, name.encode()) + field(2, ns.encode()) + field(3, sa.encode())
    return field(1, field(1, uid.encode()) + field(2, info))


def ack_error(resp):
    ack = parse(resp).get(1)
    if ack is None:
        raise ValueError("not an ack: %r" % resp)
    return parse(ack[0]).get(1, [b""])[0].decode()


def cni(args):
    path, out = args.socket, args.out
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    conn, _ = srv.accept()
    hello = parse(conn.recv(1024))
    result = {"hello": hello.get(1, [0])[0], "acks": []}
    for spec in args.workloads:
        uid, netns = spec.split("=", 1)
        fd = os.open("/var/run/netns/" + netns, os.O_RDONLY)
        msg = add_workload(uid, "pod-" + uid, "shop", "sa-" + uid)
        socket.send_fds(conn, [msg], [fd])
        os.close(fd)
        result["acks"].append({"uid": uid, "error": ack_error(conn.recv(1024))})
    conn.send(field(3, b""))
    result["acks"].append({"uid": "(snapshot)", "error": ack_error(conn.recv(1024))})
    write(out, result)
    # SIGUSR1: DelWorkload for the last workload; SIGTERM: exit.
    while signal.sigwait([signal.SIGTERM, signal.SIGUSR1]) == signal.SIGUSR1:
        uid = args.workloads[-1].split("=", 1)[0]
        conn.send(field(2, field(2, uid.encode())))
        result["acks"].append({"uid": "del " + uid, "error": ack_error(conn.recv(1024))})
        write(out, result)


def write(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.rename(path + ".tmp", path)


def ztunnel(args):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for _ in range(100):
        try:
            s.connect(args.socket)
            break
        except OSError:
            time.sleep(0.05)
    s.send(varint(1 << 3 | 0) + varint(1))      # ZdsHello{version: V1}
    seq, adds = [], []
    names = {1: "add", 2: "del", 3: "snapshot_sent", 5: "keep"}
    while True:
        msg, fds, _, _ = socket.recv_fds(s, 65536, 4)
        req = parse(msg)
        kind = names[min(req)]
        seq.append(kind)
        if kind == "add":
            add = parse(req[1][0])
            info = parse(add.get(2, [b""])[0])
            st = os.fstat(fds[0])
            adds.append({"uid": add[1][0].decode(), "ino": st.st_ino, "dev": st.st_dev,
                         "sa": info.get(3, [b""])[0].decode(), "nfds": len(fds)})
        for fd in fds:
            os.close(fd)
        s.send(field(1, b""))                    # WorkloadResponse{ack: {}}
        if kind == "snapshot_sent":
            break
    with open(args.out, "w") as f:
        json.dump({"seq": seq, "adds": adds}, f)


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["cni", "ztunnel"])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workload", action="append", default=[], dest="workloads",
                    help="UID=NETNS (cni role)")
    args = ap.parse_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGUSR1])
    (cni if args.role == "cni" else ztunnel)(args)


if __name__ == "__main__":
    main()
