#!/bin/bash
# One nftables batch per change: a batch the kernel rejects leaves the
# previous heteropod table in place, unchanged.
. "$TOP/tests/lib.sh"
require_root || exit 0
. "$TOP/tests/integration/netns/topo.inc"

topo_create || { fail "topology"; exit 0; }
g=$SHARED/corpus/istio-inpod/nftables/default.golden
check "split with Istio's default rules" $HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4 --rules "$g"
before=$(ip netns exec "$CPU" nft -s list table inet heteropod; ip netns exec "$DPU" nft -s list table inet heteropod)

# Valid text, translatable, but a jump loop: nf_tables rejects the batch.
bad=$(mktemp); at_exit rm -f "$bad"
cat >"$bad" <<'NFT'
add chain inet t output { type nat hook output priority -100 ; }
add chain inet t a
add chain inet t b
add rule inet t output jump a
add rule inet t a meta l4proto tcp jump b
add rule inet t b meta l4proto udp jump a
add rule inet t b meta l4proto tcp redirect to :15001
NFT
out=$($HPN split --cpu "$CPU" --dpu "$DPU" --pod-ip $POD4 --rules "$bad" 2>&1); rc=$?
if [ $rc = 1 ] && echo "$out" | grep -qi "too many"; then
	pass "a rejected batch fails the split (chain loop: EMLINK)"; else fail "rejected batch" "rc=$rc $out"; fi
after=$(ip netns exec "$CPU" nft -s list table inet heteropod; ip netns exec "$DPU" nft -s list table inet heteropod)
if [ -n "$before" ] && [ "$before" = "$after" ]; then
	pass "previous heteropod tables intact after the rejected batch"; else
	fail "previous tables intact" "$(diff <(echo "$before") <(echo "$after") | head -3 | tr '\n' ' ')"; fi
check "unsplit" $HPN unsplit --cpu "$CPU" --dpu "$DPU"
