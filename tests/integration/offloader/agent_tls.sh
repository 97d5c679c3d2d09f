#!/bin/bash
# API access over TLS as a real cluster offers it: in-cluster (service
# account token and ca.crt, KUBERNETES_SERVICE_HOST as an IPv6 literal) and
# a kubeconfig with a client certificate and inline (base64) CA; a server
# certificate from another CA is refused.  No root needed.
. "$TOP/tests/lib.sh"
. "$TOP/tests/integration/offloader/lib-agent.bash"

agent_tmp T
cd "$T" || exit 1
mk_ca() { openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$1" \
	-keyout "$1.key" -out "$1.crt" 2>/dev/null; }
mk_cert() { # NAME CA [SAN]
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 1 \
		${3:+-extfile <(printf 'subjectAltName=%s' "$3")} -out "$1.crt" 2>/dev/null
}
mk_ca ca && mk_ca other && mk_ca clients
mk_cert server ca "IP:127.0.0.1,IP:::1"
mk_cert agent clients
mk_cert wrong other "IP:127.0.0.1,IP:::1"
NODE=v1.36-control-plane

run_double() { # PORTFILE ARGS...
	local pf=$1
	shift
	/usr/bin/python3 "$HERE/apidouble.py" --corpus "$SHARED/corpus/k8s-objects" --changes 3 "$@" >"$pf" &
	at_exit kill "$!"
	wait_for 5 test -s "$pf"
}
synced() { status_json "$1" | jpy "assert any(p['name'].startswith('etcd-') for p in d['pods'])"; }
cfg() { printf 'heartbeat:\n  interval: 100ms\nkube:\n  watch-timeout: 2\nserviceaccount-dir: %s\n' "$1" >"$2"; }

# In-cluster over IPv6: token file and ca.crt from the service account dir.
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	mkdir -p sa st1
	cp ca.crt sa/ca.crt
	run_double p1 --tls server.crt server.key --host ::1 --token-file sa/token
	cfg "$T/sa" c1.yaml
	KUBERNETES_SERVICE_HOST=::1 KUBERNETES_SERVICE_PORT=$(head -1 p1) \
		start_agent A1 a1.log --role host --node $NODE --in-cluster --config c1.yaml --state-dir st1
	if wait_for 10 synced st1; then pass "in-cluster: IPv6 service host, CA and token"
	else fail "in-cluster" "$(tail -3 a1.log)"; fi
else
	skip "in-cluster over IPv6" "no IPv6 loopback"
fi

# kubeconfig: client certificate, CA inline as base64.
mkdir -p st2
run_double p2 --tls server.crt server.key --client-ca clients.crt
cat >kc <<EOT
current-context: t
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:$(head -1 p2)", certificate-authority-data: $(base64 -w0 ca.crt)}
users:
- name: u
  user: {client-certificate: agent.crt, client-key: agent.key}
contexts:
- name: t
  context: {cluster: c, user: u}
EOT
cfg "$T/sa" c2.yaml
start_agent A2 a2.log --role host --node $NODE --kubeconfig kc --config c2.yaml --state-dir st2
if wait_for 10 synced st2; then pass "kubeconfig: client certificate and inline CA"
else fail "kubeconfig TLS" "$(tail -3 a2.log)"; fi

# A server whose certificate another CA signed is refused (nothing listed).
mkdir -p st3
run_double p3 --tls wrong.crt wrong.key
sed "s/127.0.0.1:$(head -1 p2)/127.0.0.1:$(head -1 p3)/" kc >kc3
start_agent A3 a3.log --role host --node $NODE --kubeconfig kc3 --config c2.yaml --state-dir st3
sleep 1.5
refused() { status_json st3 | jpy 'assert d["pods"] == [], d["pods"]'; }
check "untrusted server certificate refused" refused
