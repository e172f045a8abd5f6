#!/usr/bin/env bash
# Data safety, a frozen primary (I2: no write lands after a newer write to
# the same block was acknowledged). vd1's primary path is on n2, its
# secondary on n3, both the same file (a dual-ported device). vdwriter on n1
# keeps rewriting 16 blocks. n2's vdiskd is stopped with SIGSTOP: corosync
# goes on, so the membership never changes, but n2 answers nothing. The
# writes out to n2 go unanswered past `[io] timeout_ms`, are re-issued on
# n3 and acknowledged, and the writer goes on writing newer generations of
# the same blocks through n3. The writer stops; then n2's vdiskd goes on
# (SIGCONT) and finds the old writes in its sockets. None of them may land:
# every block must still hold its newest acknowledged generation, as read
# from every node.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

TIMEOUT_MS=3000
BLOCKS=16

safety_cluster "$TIMEOUT_MS"

step "vd1: primary n2, secondary n3, one file"
shared_disk vd1

step "vdwriter on n1 rewrites $BLOCKS blocks (qd 4, 200 writes/s)"
vdw_start w1 n1 vd1 --writer 1 --first 0 --blocks "$BLOCKS" --qd 4 --rate 200
retry_until 10 vdw_acked_after w1 0 200 || fail "vdwriter acknowledged nothing: $(cat "$VDT_TMP/w1.err")"

step "SIGSTOP n2's vdiskd"
t_stop=$(now_ms)
vdc kill n2 vdiskd STOP
# The writes out to n2 when it froze are the ones that must never land.
sleep 0.2
vdw_inflight w1 >"$VDT_TMP/frozen"
echo "writes out when n2 froze (blk gen): $(tr '\n' ';' <"$VDT_TMP/frozen")"
# Re-issued on n3 after the timeout and acknowledged, then a good second of
# newer generations of every block through n3.
retry_until 30 vdw_acked_after w1 $((t_stop + TIMEOUT_MS + 1000)) $((BLOCKS * 10)) ||
	fail "no writes acknowledged through n3 after n2 froze ($(vdw_acks_after w1 "$t_stop") since)"
echo "acknowledged since n2 froze: $(vdw_acks_after w1 "$t_stop") writes"
vdw_stop w1
vdiskd_alive n1 n3

step "SIGCONT n2's vdiskd"
vdc kill n2 vdiskd CONT
# n2 reads what waited in its sockets and the frames n1 sends again; a
# landing shows in the check (from n3, whose path is the same file). Give
# it a few seconds; the verdict comes from every node after.
retry_until 8 vdw_check_bad n3 vd1 w1 || true
wait_members n1 3 10
vdiskd_alive n1 n2 n3

step "every block holds its newest acknowledged generation, from every node"
vdw_stale_report "$VDT_TMP/frozen" n3 vd1 w1 || true
vdw_check_all vd1 w1
no_sanitizer n1 n2 n3
pass "safety_frozen_primary"
