#!/usr/bin/env bash
# vdwriter_selftest.sh VDWRITER — vdwriter against nbdkit (file plugin on a
# file in /dev/shm), no cluster: two writers and a restart check clean;
# nbdkit killed and restarted under a writer (it reconnects, still clean);
# SIGTERM ends a run cleanly; then the image is changed behind the writers'
# backs, each time through NBD with `vdwriter forge` (or dd for zeros), and
# check must exit 1 naming the right kind: an older acknowledged generation
# (I1), zeros where a write was acknowledged (I1), an older generation that
# was never acknowledged (I2), a flipped byte, an unknown generation
# (corrupt), a write answered with an error that landed (errored_landed).
set -euo pipefail

VDW=$(readlink -f "${1:?usage: vdwriter_selftest.sh VDWRITER}")
command -v nbdkit >/dev/null || {
	echo "FAIL: nbdkit not found (scripts/install-deps.sh)" >&2
	exit 1
}
command -v jq >/dev/null || {
	echo "FAIL: jq not found (scripts/install-deps.sh)" >&2
	exit 1
}

T=$(mktemp -d /dev/shm/vdwriter-selftest.XXXXXX)
IMG=$T/disk.img
SOCK=$T/nbd.sock
NBDKIT_PID=
cleanup() {
	local rc=$?
	[[ -n $NBDKIT_PID ]] && kill "$NBDKIT_PID" 2>/dev/null
	rm -rf "$T"
	if ((rc == 0)); then echo "PASS: vdwriter_selftest"; fi
	exit "$rc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

nbdkit_start() {
	rm -f "$SOCK" "$T/nbdkit.pid"
	nbdkit --unix "$SOCK" --pidfile "$T/nbdkit.pid" file "$IMG" || fail "nbdkit did not start"
	for _ in $(seq 50); do
		[[ -s $T/nbdkit.pid ]] && break
		sleep 0.1
	done
	NBDKIT_PID=$(cat "$T/nbdkit.pid")
}

# check LOG... : runs vdwriter check --json; its output in $CHK, exit in $RC.
CHK=
RC=
check() {
	local -a args=()
	local l
	for l in "$@"; do args+=(--log "$l"); done
	RC=0
	CHK=$("$VDW" check --socket "$SOCK" --export "" --json "${args[@]}") || RC=$?
}

# expect_kind DESC KIND: the last check exited 1 and counted KIND.
expect_kind() {
	((RC == 1)) || fail "$1: check exited $RC, expected 1: $CHK"
	jq -e --arg k "$2" '.violations[$k] > 0' <<<"$CHK" >/dev/null ||
		fail "$1: check does not count $2: $CHK"
	echo "ok: $1: $(jq -c --arg k "$2" '[.examples[] | select(.kind == $k)][0]' <<<"$CHK")"
}

# acked_gens LOG BLOCK: the block's acknowledged generations, oldest first.
acked_gens() { awk -v b="$2" '$1 == "A" && $2 == b { print $3 }' "$1"; }

truncate -s 64M "$IMG"
nbdkit_start

# ------------------------------------------------------------ clean runs
"$VDW" run --socket "$SOCK" --export "" --writer 1 --first 0 --blocks 256 --qd 8 \
	--flush-every 16 --fua-every 7 --seconds 2 --log "$T/w1.log" >"$T/w1.json" &
w1=$!
"$VDW" run --socket "$SOCK" --export "" --writer 2 --first 256 --blocks 256 --qd 4 \
	--seconds 2 --log "$T/w2.log" >"$T/w2.json"
wait "$w1" || fail "writer 1 exited $?"
for w in w1 w2; do
	jq -e '.sent > 100 and .acked == .sent and .errors == 0 and .unknown == 0' "$T/$w.json" \
		>/dev/null || fail "$w: unexpected summary: $(cat "$T/$w.json")"
	echo "ok: $w: $(cat "$T/$w.json")"
done
jq -e '.flushes_ok > 0 and .flushes_failed == 0' "$T/w1.json" >/dev/null ||
	fail "writer 1 sent no flush: $(cat "$T/w1.json")"

# A second run of writer 1 appends to its log; its generations go on growing.
"$VDW" run --socket "$SOCK" --export "" --writer 1 --first 0 --blocks 256 --qd 8 \
	--seconds 1 --log "$T/w1.log" >/dev/null
check "$T/w1.log" "$T/w2.log"
((RC == 0)) || fail "check of clean runs exited $RC: $CHK"
jq -e '.blocks_checked == .blocks_verified and .blocks_checked > 400' <<<"$CHK" >/dev/null ||
	fail "clean check: $CHK"
echo "ok: clean runs check clean: $CHK"

# ------------------------------------------------------------ reconnect
"$VDW" run --socket "$SOCK" --export "" --writer 3 --first 512 --blocks 64 --qd 4 \
	--seconds 3 --reconnect-ms 100 --log "$T/w3.log" >"$T/w3.json" &
w3=$!
sleep 1
kill -KILL "$NBDKIT_PID"
sleep 0.5
nbdkit_start
wait "$w3" || fail "writer 3 exited $?"
jq -e '.connection_failures >= 1 and .connects >= 2 and .acked > 0' "$T/w3.json" >/dev/null ||
	fail "writer 3 did not reconnect: $(cat "$T/w3.json")"
grep -q '^C .* connection lost' "$T/w3.log" || fail "no connection loss in writer 3's log"
check "$T/w3.log"
((RC == 0)) || fail "check after a server restart exited $RC: $CHK"
echo "ok: writer 3 reconnected: $(cat "$T/w3.json")"

# ------------------------------------------------------------ SIGTERM
"$VDW" run --socket "$SOCK" --export "" --writer 4 --first 600 --blocks 16 \
	--log "$T/w4.log" >"$T/w4.json" &
w4=$!
sleep 0.5
kill -TERM "$w4"
wait "$w4" || fail "writer 4 exited $? after SIGTERM"
jq -e '.unknown == 0 and .acked > 0' "$T/w4.json" >/dev/null ||
	fail "writer 4 after SIGTERM: $(cat "$T/w4.json")"
echo "ok: SIGTERM: $(cat "$T/w4.json")"

# ------------------------------------------------------------ usage
rc=0
"$VDW" run --socket "$SOCK" --export "" >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "run without its options exited $rc, want 2"
rc=0
"$VDW" check --socket "$T/nowhere.sock" --export "" --log "$T/w4.log" >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "check without a server exited $rc, want 2"
echo "ok: usage and connection errors exit 2"

# ------------------------------------------------------------ violations
# A block of writer 1 with at least two acknowledged generations.
blk=$(awk '$1 == "A" { n[$2]++ } END { for (b in n) if (n[b] >= 2) { print b; exit } }' "$T/w1.log")
[[ -n $blk ]] || fail "no block of writer 1 was written twice"
mapfile -t gens < <(acked_gens "$T/w1.log" "$blk")
old=${gens[0]} new=${gens[-1]}

"$VDW" forge --socket "$SOCK" --export "" --block "$blk" --writer 1 --gen "$old"
check "$T/w1.log"
expect_kind "an older acknowledged generation" I1
"$VDW" forge --socket "$SOCK" --export "" --block "$blk" --writer 1 --gen "$new"
check "$T/w1.log"
((RC == 0)) || fail "the newest generation put back, check exited $RC: $CHK"

dd if=/dev/zero of="$IMG" bs=4096 seek="$blk" count=1 conv=notrunc status=none
check "$T/w1.log"
expect_kind "zeros where a write was acknowledged" I1

# An attempt sent between two acknowledged ones and never answered (as a
# connection loss leaves it), landing late.
cp "$T/w1.log" "$T/w1-stale.log"
stale=$((old + 1))
while grep -q "^[SAE] $blk $stale " "$T/w1.log"; do stale=$((stale + 1)); done
((stale < new)) || fail "no free generation between $old and $new"
echo "S $blk $stale 1" >>"$T/w1-stale.log"
"$VDW" forge --socket "$SOCK" --export "" --block "$blk" --writer 1 --gen "$stale"
check "$T/w1-stale.log"
expect_kind "an older generation never acknowledged" I2

"$VDW" forge --socket "$SOCK" --export "" --block "$blk" --writer 1 --gen "$new" --flip 100
check "$T/w1.log"
expect_kind "a flipped byte" corrupt
"$VDW" forge --socket "$SOCK" --export "" --block "$blk" --writer 1 --gen $((new + 1000000000))
check "$T/w1.log"
expect_kind "a generation no log sent" corrupt
"$VDW" forge --socket "$SOCK" --export "" --block "$blk" --writer 9 --gen "$new"
check "$T/w1.log"
expect_kind "a writer no log names" corrupt

late=$((new + 1000000000))
{
	echo "S $blk $late 2"
	echo "E $blk $late 5 3"
} >>"$T/w1-stale.log"
"$VDW" forge --socket "$SOCK" --export "" --block "$blk" --writer 1 --gen "$late"
check "$T/w1-stale.log"
# An error leaves the block unknown: reported apart, not a violation...
((RC == 0)) || fail "a write answered with EIO that landed: check exited $RC, expected 0: $CHK"
jq -e --arg b "$blk" '.errored_landed == 1 and
	([.examples[] | select(.kind == "errored_landed" and .block == ($b | tonumber))] | length == 1)' \
	<<<"$CHK" >/dev/null || fail "a write answered with EIO that landed is not reported: $CHK"
echo "ok: a write answered with EIO that landed: reported apart, exit 0"
# ... unless a newer write to the block was acknowledged after it: then it
# landed late, over that one.
echo "S $blk $((late + 1)) 4" >>"$T/w1-stale.log"
echo "A $blk $((late + 1)) 5" >>"$T/w1-stale.log"
check "$T/w1-stale.log"
expect_kind "a write answered with EIO that landed over a newer acknowledged one" I2

# The text summary names the kind and the block.
rc=0
out=$("$VDW" check --socket "$SOCK" --export "" --log "$T/w1.log") || rc=$?
((rc == 1)) || fail "text check exited $rc"
grep -q "^corrupt block $blk: " <<<"$out" || fail "text summary lacks the example: $out"
echo "ok: text summary: $(head -n 1 <<<"$out")"
