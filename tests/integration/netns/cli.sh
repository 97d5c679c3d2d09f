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

for c in translate split unsplit ports half unhalf; do
	out=$($HPN $c --help); rc=$?
	if [ $rc = 0 ] && echo "$out" | grep -q "usage: heteropod-netns $c"; then
		pass "$c --help"; else fail "$c --help" "rc=$rc"; fi
done
$HPN split --cpu x >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && pass "split without required options exits 2" || fail "split usage" "rc=$rc"

# half: option errors name the option and what is accepted (exit 2)
bad_opt() { # NAME WANT ARGS...: exit 2 and stderr containing WANT
	local name=$1 want=$2 out rc
	shift 2
	out=$($HPN half --half cpu --netns x --pod-ip 10.0.0.5 "$@" 2>&1 >/dev/null); rc=$?
	if [ $rc = 2 ] && [[ $out == *"$want"* ]]; then pass "half: $name"; else
		fail "half: $name" "rc=$rc $out"; fi
}
T="--vni 7 --underlay-local 192.0.2.1 --underlay-remote 192.0.2.2"
bad_opt "unknown link kind" "bad --link-kind 'gre', accepted: veth, geneve, vxlan" --link-kind gre $T
bad_opt "VNI out of range" "bad --vni '16777216', accepted: 1..16777215" \
	--link-kind vxlan --vni 16777216 --underlay-local 192.0.2.1 --underlay-remote 192.0.2.2
bad_opt "underlay families differ" "bad --underlay-remote 'fd00::2', accepted: an address of --underlay-local's family" \
	--link-kind geneve --vni 7 --underlay-local 192.0.2.1 --underlay-remote fd00::2
bad_opt "tunnel options without a tunnel" "bad --link-kind 'veth'" $T
bad_opt "tunnel without --vni" "usage: heteropod-netns half" --link-kind vxlan \
	--underlay-local 192.0.2.1 --underlay-remote 192.0.2.2
out=$($HPN ports --netns x --add tcp/70000 2>&1); rc=$?
if [ $rc = 2 ] && [[ $out == *"bad --add 'tcp/70000', accepted: tcp/PORT or udp/PORT"* ]]; then
	pass "ports --netns: bad port exits 2"; else fail "ports --add bad" "rc=$rc $out"; fi
