# Helpers for integration scripts (source it).  Scripts report each case as
# "PASS: name", "FAIL: name: why" or "SKIP: name: why" for tests/run.
#
#   . "$TOP/tests/lib.sh"
#   require_root || exit 0
#   hp_ns ns a             # $ns = a fresh namespace, removed at exit
#   check "name" cmd args  # PASS if cmd succeeds, else FAIL with its output
set -u
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$TOP/build}
SHARED=${SHARED:-$(cd "$TOP/.." && pwd)/shared}
HP_TEST=$(basename "$0" .sh)

pass() { echo "PASS: $HP_TEST: $1"; }
fail() { echo "FAIL: $HP_TEST: $1${2:+: $2}"; }
skip() { echo "SKIP: $HP_TEST: $1${2:+: $2}"; }

# check NAME CMD...: run CMD, PASS on success, FAIL with its output otherwise.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -5 | tr '\n' ' ')"; fi
}

# require_root: SKIP the whole script (returns 1) unless running as root.
require_root() {
	[ "$(id -u)" = 0 ] && return 0
	skip all "needs root (network namespaces)"
	return 1
}

# Cleanup actions run at exit in reverse order of registration.
HP_CLEANUP=()
at_exit() { HP_CLEANUP=("$*" "${HP_CLEANUP[@]+"${HP_CLEANUP[@]}"}"); }
hp_run_cleanup() { local c; for c in "${HP_CLEANUP[@]+"${HP_CLEANUP[@]}"}"; do eval "$c" >/dev/null 2>&1; done; }
trap hp_run_cleanup EXIT
trap 'exit 130' INT TERM

# hp_ns VAR TAG: create a uniquely named namespace (lo up), deleted at exit,
# and store its name in VAR.  (Not in $(...): the cleanup must be registered
# in this shell.)
hp_ns() {
	local n="hpt-$2-$$"
	ip netns add "$n" || return 1
	ip -n "$n" link set lo up
	at_exit ip netns del "$n"
	printf -v "$1" '%s' "$n"
}

# guest_result PREFIX LOG RC PASSMSG [REQUIRED]: the verdict on a qemu guest
# run (make -C kernel qemu-run) whose output is LOG and make's status RC:
# no end marker from the guest's /init, a FAIL marker, make failing without
# a FAIL line, or REQUIRED (a line the run must print) missing each fail
# "PREFIX guest ..."; otherwise PASS: PASSMSG.
guest_result() {
	local pre=$1 log=$2 rc=$3 msg=$4 req=${5:-}
	if ! grep -q '^HSOCK-GUEST END' "$log"; then
		fail "${pre}guest run" "no end marker (build failed, crash or timeout): $(grep -v '^HSOCK' "$log" | tail -8 | tr '\n' ' ')"
	elif grep -q '^HSOCK-TEST FAIL' "$log"; then
		fail "${pre}guest" "$(grep '^HSOCK-TEST FAIL' "$log" | head -3 | tr '\n' ' ')"
	elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$log"; then
		fail "${pre}guest run" "make exited $rc: $(tail -5 "$log" | tr '\n' ' ')"
	elif [ -n "$req" ] && ! grep -q "$req" "$log"; then
		fail "${pre}guest run" "no line '$req': $(grep -v '^HSOCK' "$log" | tail -5 | tr '\n' ' ')"
	else
		pass "$msg"
	fi
}

# hs_versus [--sort] PROG CASE BAD KEY MIN: run "PROG CASE PORT" over plain
# TCP and under hsock-run --stats (a fresh $port each, $tmp for the stats
# file); pass when the plain run printed something and no line matching
# BAD, both runs printed the same (--sort: the same lines, in any order:
# processes that print concurrently), and the hsock run's stat KEY is at
# least MIN.
hs_versus() {
	local order=cat plain hs n
	[ "$1" = --sort ] && { order=sort; shift; }
	local prog=$1 c=$2 bad=$3 key=$4 min=$5
	port=$((port + 2))
	plain=$(timeout 30 "$prog" "$c" "$port" 2>&1 | $order)
	hs=$(timeout 30 "$BUILD/hsock/hsock-run" --stats "$tmp/$c" -- "$prog" "$c" $((port + 1)) 2>&1 | $order)
	n=$(awk -v k="$key" '$1 == k { print $2 }' "$tmp/$c" 2>/dev/null)
	if [ -z "$plain" ] || echo "$plain" | grep -q "$bad"; then
		fail "$c" "plain TCP run is wrong: $(echo $plain)"
	elif [ "$plain" != "$hs" ]; then
		fail "$c" "plain: $(echo $plain) / hsock: $(echo ${hs:-nothing (timed out)})"
	elif [ "${n:-0}" -lt "$min" ]; then
		fail "$c" "the stats show $key ${n:-0}, under $min"
	else
		pass "$c ($(echo $hs | cut -c1-60); $key $n)"
	fi
}
