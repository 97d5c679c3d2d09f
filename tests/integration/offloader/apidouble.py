#!/usr/bin/python3
"""Kubernetes API server double for the agent's watch client.

Serves /api/v1/pods (list with limit/continue and fieldSelector
spec.nodeName=..., watch with resourceVersion, allowWatchBookmarks,
timeoutSeconds), /api/v1/namespaces, /api/v1/nodes/NAME and POST of Events,
starting from the recorded real PodList in $SHARED/corpus/k8s-objects and
applying a timeline of adds/modifies/deletes.  Faults (--faults a,b,...):

  drop        each watch is closed cleanly after 1-3 events
  gone-event  every 3rd watch gets an ERROR event with a 410 Status
  gone-http   every 3rd watch gets HTTP 410
  gone-cont   the first continue token of the first two lists has expired (410)
  5xx         every 4th request gets 503 with Retry-After: 1
  split       watch bodies written in chunks of 1-7 or 8-900 bytes
  slow        2 ms between chunks
  truncate    every 2nd watch is cut in the middle of an event
  token       the bearer token rotates every 5 requests (old one -> 401)

--tls CERT KEY serves HTTPS (--client-ca CA: client certificates required);
--host picks the address (127.0.0.1 or ::1).  --pods N adds N clones of the recorded pods; --burst N answers every watch
with N MODIFIED events in one chunk (benchmarks).
--objects FILE adds Namespaces, Nodes and Pods (a JSON array).  PATCHes and
POSTed Events are recorded.  GET /debug/state answers {"done", "pods":
{"ns/name": rv}, "min_retry_gap", "requests", "events_posted", "patches"}.  The port is printed on stdout's first line.
"""
import argparse, base64, copy, json, os, random, re, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

NODE = "v1.36-control-plane"


class World:
    def __init__(self, args):
        self.lock = threading.Condition()
        self.args = args
        self.faults = set(filter(None, args.faults.split(",")))
        self.rng = random.Random(args.seed)
        with open(os.path.join(args.corpus, "k8s-openapi-v1-36-pod-list.response.json")) as f:
            lst = json.load(f)
        self.rv = int(lst["metadata"]["resourceVersion"])
        self.templates = lst["items"]
        self.pods = {}
        for p in lst["items"]:
            self.pods[key(p)] = p
        for i in range(args.pods):
            p = copy.deepcopy(self.templates[i % len(self.templates)])
            p["metadata"]["name"] = "bulk-%d" % i
            p["metadata"]["uid"] = "uid-bulk-%d" % i
            p["metadata"]["namespace"] = "bulk"
            self.pods[key(p)] = p
        self.burst = None
        if args.burst:
            ev = copy.deepcopy(self.templates[0])
            lines = []
            for i in range(args.burst):
                ev["metadata"]["resourceVersion"] = str(self.rv + 1 + i)
                lines.append(json.dumps({"type": "MODIFIED", "object": ev},
                                        separators=(",", ":")).encode() + b"\n")
            self.burst = b"".join(lines)
        self.others = {"namespaces": {}, "nodes": {}}
        self.generic = {}   # collection path -> {name: object}
        self.patches = []
        if args.objects:
            with open(args.objects) as f:
                for o in json.load(f):
                    o.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
                    if o["kind"] == "Pod":
                        self.pods[key(o)] = o
                    elif "/" in o.get("apiVersion", "v1") or o["kind"] == "ConfigMap":
                        self.generic.setdefault(collection_of(o), {})[o["metadata"]["name"]] = o
                    else:
                        self.others[o["kind"].lower() + "s"][o["metadata"]["name"]] = o
        self.history = []          # (rv, type, obj)
        self.compacted = self.rv   # watches from below this get 410
        self.done = False
        self.requests = 0
        self.watches = 0
        self.last_503 = None
        self.min_gap = None
        self.events_posted = []
        self.token_gen = 0
        self.write_token()

    def write_token(self):
        if not self.args.token_file:
            return
        tmp = self.args.token_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("tok-%d\n" % self.token_gen)
        os.rename(tmp, self.args.token_file)

    def token_ok(self, hdr):
        if not self.args.token_file:
            return True
        return hdr == "Bearer tok-%d" % self.token_gen

    def mutate(self):
        """One random change, recorded in the history."""
        with self.lock:
            self.rv += 1
            keys = sorted(self.pods)
            op = self.rng.choice(["add", "add", "mod", "del"]) if keys else "add"
            if op == "add":
                p = copy.deepcopy(self.rng.choice(self.templates))
                n = "gen-%d" % self.rv
                p["metadata"]["name"] = n
                p["metadata"]["uid"] = "uid-%d" % self.rv
                if self.rng.random() < 0.2:
                    p["spec"]["nodeName"] = "other-node"
                typ = "ADDED"
            elif op == "mod":
                p = copy.deepcopy(self.pods[self.rng.choice(keys)])
                p["metadata"].setdefault("labels", {})["touch"] = str(self.rv)
                typ = "MODIFIED"
            else:
                p = copy.deepcopy(self.pods[self.rng.choice(keys)])
                typ = "DELETED"
            p["metadata"]["resourceVersion"] = str(self.rv)
            if typ == "DELETED":
                del self.pods[key(p)]
            else:
                self.pods[key(p)] = p
            self.history.append((self.rv, typ, p))
            if len(self.history) > 400:
                self.history = self.history[-200:]
                self.compacted = self.history[0][0] - 1
            self.lock.notify_all()

    def run_timeline(self):
        time.sleep(self.args.start_delay)
        for _ in range(self.args.changes):
            self.mutate()
            time.sleep(self.args.interval)
        with self.lock:
            self.done = True
            self.lock.notify_all()

    def state(self):
        with self.lock:
            pods = {k: p["metadata"]["resourceVersion"] for k, p in self.pods.items()
                    if p["spec"].get("nodeName") == NODE}
            return {"done": self.done, "pods": pods, "min_retry_gap": self.min_gap,
                    "requests": self.requests, "watches": self.watches,
                    "events_posted": self.events_posted, "patches": self.patches,
                    "objects": self.generic}


PLURAL = {"Gateway": "gateways", "Lease": "leases", "ConfigMap": "configmaps"}


def collection_of(o):
    av = o.get("apiVersion", "v1")
    base = "/api/v1" if av == "v1" else "/apis/" + av
    return "%s/namespaces/%s/%s" % (base, o["metadata"]["namespace"], PLURAL[o["kind"]])


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def key(p):
    return p["metadata"]["namespace"] + "/" + p["metadata"]["name"]


def status(code, reason, msg):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": msg, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    world = None

    def log_message(self, fmt, *a):
        if os.environ.get("APIDOUBLE_LOG"):
            sys.stderr.write("%.3f %s\n" % (time.monotonic(), fmt % a))

    # -- plumbing --
    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        w = self.world
        pieces = [data]
        if "split" in w.faults:
            pieces, i = [], 0
            while i < len(data):
                n = w.rng.randint(1, 7) if w.rng.random() < 0.5 else w.rng.randint(8, 900)
                pieces.append(data[i:i + n])
                i += n
        for p in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            self.wfile.flush()
            if "slow" in w.faults:
                time.sleep(0.002)

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def gate(self):
        """Common faults; True when the request was answered here."""
        w = self.world
        now = time.monotonic()
        with w.lock:
            w.requests += 1
            n = w.requests
            if w.last_503 is not None:
                gap = now - w.last_503
                w.min_gap = gap if w.min_gap is None else min(w.min_gap, gap)
                w.last_503 = None
            if "token" in w.faults and n % 5 == 0:
                w.token_gen += 1
                w.write_token()
            ok = w.token_ok(self.headers.get("Authorization"))
        if not ok:
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return True
        if "5xx" in w.faults and n % 4 == 0:
            with w.lock:
                w.last_503 = time.monotonic()
            self.send_json(503, status(503, "ServiceUnavailable", "try later"),
                           {"Retry-After": "1"})
            return True
        return False

    # -- GET --
    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/debug/state":
            return self.send_json(200, self.world.state())
        if self.gate():
            return
        if u.path == "/api/v1/pods":
            if q.get("watch") in ("1", "true"):
                return self.watch(q)
            return self.list(q)
        if u.path in ("/api/v1/namespaces", "/api/v1/nodes"):
            return self.other(u.path.rsplit("/", 1)[1], q)
        if self.generic_call("GET", u.path, None):
            return
        self.send_json(404, status(404, "NotFound", "no " + u.path))

    def selected(self, q):
        sel = q.get("fieldSelector", "")
        want = sel.split("=", 1)[1] if sel.startswith("spec.nodeName=") else None
        return lambda p: want is None or p["spec"].get("nodeName") == want

    def list(self, q):
        w = self.world
        limit = int(q.get("limit", "0") or 0)
        cont = q.get("continue")
        if cont:
            rv, off, first = json.loads(base64.b64decode(cont))
            if first and "gone-cont" in w.faults and w.expired_once < 2:
                w.expired_once += 1
                return self.send_json(410, status(410, "Expired", "continue token expired"))
            snap = w.snapshots.get(rv)
            if snap is None:
                return self.send_json(410, status(410, "Expired", "snapshot gone"))
        else:
            with w.lock:
                rv = w.rv
                want = self.selected(q)
                snap = [copy.deepcopy(p) for k, p in sorted(w.pods.items()) if want(p)]
                w.snapshots[rv] = snap
            off, first = 0, True
        end = off + limit if limit else len(snap)
        meta = {"resourceVersion": str(rv)}
        if end < len(snap):
            meta["continue"] = base64.b64encode(json.dumps([rv, end, False]).encode()).decode()
            if first:
                meta["continue"] = base64.b64encode(json.dumps([rv, end, True]).encode()).decode()
        self.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                             "items": snap[off:end]})

    def watch(self, q):
        w = self.world
        with w.lock:
            w.watches += 1
            nw = w.watches
        since = int(q.get("resourceVersion") or 0)
        if "gone-http" in w.faults and nw % 3 == 0 or since < w.compacted:
            return self.send_json(410, status(410, "Expired", "too old resource version"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if w.burst is not None:
            # Benchmark: the whole burst in one chunk, then the end.
            self.chunk(w.burst)
            return self.end_chunks()
        if "gone-event" in w.faults and nw % 3 == 0:
            ev = {"type": "ERROR", "object": status(410, "Expired", "too old resource version")}
            self.chunk(json.dumps(ev).encode() + b"\n")
            return self.end_chunks()
        deadline = time.monotonic() + int(q.get("timeoutSeconds", "5"))
        budget = w.rng.randint(1, 3) if "drop" in w.faults else None
        trunc = "truncate" in w.faults and nw % 2 == 0
        want = self.selected(q)
        bookmark_at = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            with w.lock:
                evs = [e for e in w.history if e[0] > since]
                if not evs:
                    w.lock.wait(0.1)
                cur = w.rv
            for rv, typ, obj in evs:
                since = rv
                if not want(obj):
                    continue
                line = json.dumps({"type": typ, "object": obj}, separators=(",", ":")).encode() + b"\n"
                if trunc:
                    self.chunk(line[:len(line) // 2])
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.chunk(line)
                if budget is not None:
                    budget -= 1
                    if budget == 0:
                        return self.end_chunks()
            if q.get("allowWatchBookmarks") == "true" and time.monotonic() > bookmark_at:
                bm = {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                      "metadata": {"resourceVersion": str(max(since, 0))}}}
                self.chunk(json.dumps(bm).encode() + b"\n")
                bookmark_at = time.monotonic() + 0.3
        self.end_chunks()

    def other(self, kind, q):
        """Namespaces and Nodes: static, listed and watched (no changes)."""
        w = self.world
        sel = q.get("fieldSelector", "")
        name = sel.split("=", 1)[1] if sel.startswith("metadata.name=") else None
        if q.get("watch") in ("1", "true"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            time.sleep(min(int(q.get("timeoutSeconds", "1")), 1))
            return self.end_chunks()
        items = [o for n, o in sorted(w.others[kind].items()) if name in (None, n)]
        self.send_json(200, {"kind": "List", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(w.rv)}, "items": items})

    GENERIC = re.compile(r"^((?:/api/v1|/apis/[^/]+/[^/]+)/namespaces/[^/]+/"
                         r"(?:gateways|leases|configmaps))(?:/([^/]+))?$")

    def generic_call(self, method, path, body):
        """Gateways, Leases, ConfigMaps: GET, POST, PUT, PATCH."""
        w = self.world
        m = self.GENERIC.match(path)
        if not m:
            return False
        coll, name = m.group(1), m.group(2)
        with w.lock:
            items = w.generic.setdefault(coll, {})
            if method == "GET" and name is None:
                return self.send_json(200, {"kind": "List", "apiVersion": "v1", "metadata":
                                      {"resourceVersion": str(w.rv)},
                                      "items": list(items.values())}) or True
            if method == "GET":
                if name not in items:
                    return self.send_json(404, status(404, "NotFound", name)) or True
                return self.send_json(200, items[name]) or True
            w.rv += 1
            if method == "POST":
                name = body["metadata"]["name"]
                if name in items:
                    return self.send_json(409, status(409, "AlreadyExists", name)) or True
                body["metadata"]["resourceVersion"] = str(w.rv)
                items[name] = body
                w.patches.append({"path": path, "body": body, "method": method,
                                  "type": self.headers.get("Content-Type")})
                return self.send_json(201, body) or True
            if name not in items:
                return self.send_json(404, status(404, "NotFound", name)) or True
            w.patches.append({"path": path, "body": body, "method": method,
                              "type": self.headers.get("Content-Type")})
            if method == "DELETE":
                del items[name]
                return self.send_json(200, status(200, "Deleted", name)) or True
            if method == "PUT":
                want = body.get("metadata", {}).get("resourceVersion")
                if want and want != items[name]["metadata"]["resourceVersion"]:
                    return self.send_json(409, status(409, "Conflict", name)) or True
                items[name] = body
            else:
                items[name] = merge_patch(items[name], body)
            items[name]["metadata"]["resourceVersion"] = str(w.rv)
            return self.send_json(200, items[name]) or True

    def do_DELETE(self):
        if not self.generic_call("DELETE", urlparse(self.path).path, None):
            self.send_json(404, status(404, "NotFound", self.path))

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        if not self.generic_call("PUT", urlparse(self.path).path, body):
            self.send_json(404, status(404, "NotFound", self.path))

    def do_PATCH(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        if self.generic_call("PATCH", urlparse(self.path).path, body):
            return
        with self.world.lock:
            self.world.patches.append({"path": self.path, "body": body,
                                       "type": self.headers.get("Content-Type")})
        self.send_json(200, body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        if self.gate():
            return
        path = urlparse(self.path).path
        if not path.endswith("/events"):
            if not self.generic_call("POST", path, body):
                self.send_json(404, status(404, "NotFound", path))
            return
        with self.world.lock:
            self.world.events_posted.append(body)
        self.send_json(201, body)


class Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--faults", default="")
    ap.add_argument("--token-file")
    ap.add_argument("--changes", type=int, default=40)
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--start-delay", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pods", type=int, default=0, help="extra pods (clones) on the node")
    ap.add_argument("--burst", type=int, default=0,
                    help="benchmark: every watch gets this many MODIFIED events at once")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS")
    ap.add_argument("--client-ca", help="with --tls: require a client certificate from this CA")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--objects", help="JSON array of extra Namespaces, Nodes, Pods")
    args = ap.parse_args()
    w = World(args)
    w.snapshots = {}
    w.expired_once = 0
    Handler.world = w
    Quiet.address_family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    srv = Quiet((args.host, 0), Handler)
    srv.daemon_threads = True
    if args.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    threading.Thread(target=w.run_timeline, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
