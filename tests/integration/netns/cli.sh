#!/bin/bash
# heteropod-netns CLI contract: translate exit codes and messages, --help.
. "$TOP/tests/lib.sh"
HPN=$BUILD/bin/heteropod-netns
IN=$SHARED/corpus/istio-inpod
SC=$SHARED/corpus/istio-sidecar

ok=0 bad=
for g in "$IN"/iptables/*.golden "$IN"/nftables/*.golden; do
	for h in cpu dpu; do
		if $HPN translate --half $h --pod-ip 10.0.0.5,fd00::5 "$g" >/dev/null 2>&1; then
			ok=$((ok + 1))
		else
			bad="$bad $h:$(basename "$g")"
		fi
	done
done
if [ $ok = 56 ]; then pass "translate: 28 in-pod goldens x 2 halves exit 0"; else
	fail "translate in-pod goldens" "failed:$bad"; fi

check "translate reads stdin" sh -c \
	"$HPN translate --half dpu --pod-ip 10.0.0.5 - <$IN/nftables/default.golden | grep -q 'redirect to :15001'"

out=$($HPN translate --half cpu --pod-ip 10.0.0.5 "$SC/iptables/tproxy.golden" 2>&1 >/dev/null); rc=$?
if [ $rc = 2 ] && echo "$out" | grep -q "^$SC/iptables/tproxy.golden:[0-9]*: cannot translate '-A ISTIO_TPROXY"; then
	pass "translate: sidecar TPROXY set exits 2 naming each rule"; else
	fail "translate sidecar refusal" "rc=$rc $(echo "$out" | head -2)"; fi

f=$(mktemp); at_exit rm -f "$f"
printf '*nat\n-A OUTPUT -p tcp --dport 70000 -j ACCEPT\nCOMMIT\n' >"$f"
out=$($HPN translate --half cpu --pod-ip 10.0.0.5 "$f" 2>&1); rc=$?
if [ $rc = 2 ] && [ "${out%%: bad port*}" = "$f:2:26" ]; then
	pass "translate: malformed input exits 2 with FILE:LINE:COL"; else
	fail "translate malformed" "rc=$rc $out"; fi

out=$($HPN translate --half cpu --pod-ip nonsense "$f" 2>&1); rc=$?
[ $rc = 2 ] && pass "translate: bad --pod-ip exits 2" || fail "bad --pod-ip" "rc=$rc"

for c in translate split unsplit ports; do
	out=$($HPN $c --help); rc=$?
	if [ $rc = 0 ] && echo "$out" | grep -q "usage: heteropod-netns $c"; then
		pass "$c --help"; else fail "$c --help" "rc=$rc"; fi
done
$HPN split --cpu x >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && pass "split without required options exits 2" || fail "split usage" "rc=$rc"
