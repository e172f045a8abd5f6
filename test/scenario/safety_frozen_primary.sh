#!/usr/bin/env bash
# Data safety, a frozen primary (I2: no write lands after a newer write to
# the same block was acknowledged). vd1's primary path is on n2, its
# secondary on n3, both the same file (a dual-ported device). vdwriter on n1
# keeps rewriting 16 blocks. n2's vdiskd is stopped with SIGSTOP for
# FREEZE_S: corosync goes on, so the membership never changes, but n2
# answers nothing. The writes out to n2 must not be re-issued on n3 while n2
# is only silent: a stopped vdiskd may have handed them to its kernel's
# io_uring workers, which stop with it and run them when it goes on, past
# any deadline, over what n3 wrote meanwhile (the torture suite saw that,
# seed 22, cycle 330, when the router took a silence of 3 s for death). So
# vd1 waits: nothing is acknowledged while n2 is stopped. Then n2 goes on
# (SIGCONT) and answers, the writer goes on, and every block holds its
# newest acknowledged generation, read from every node.
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

FREEZE_S=$((TIMEOUT_MS / 1000 + 4))
step "SIGSTOP n2's vdiskd for ${FREEZE_S}s, past the timeout and two heartbeat timeouts + 1 s"
t_stop=$(now_ms)
vdc kill n2 vdiskd STOP
sleep 0.5
vdw_inflight w1 >"$VDT_TMP/frozen"
echo "writes out when n2 froze (blk gen): $(tr '\n' ';' <"$VDT_TMP/frozen")"
sleep "$((FREEZE_S - 1))"
held=$(vdw_acks_after w1 "$((t_stop + 500))")
((held == 0)) ||
	fail "$held writes acknowledged while n2's vdiskd was stopped: they went to n3 while n2 might still run them"
echo "ok: nothing acknowledged from n2's stop + 0.5 s to + $((FREEZE_S - 1)).5 s"

step "SIGCONT n2's vdiskd: vd1 goes on"
t_cont=$(now_ms)
vdc kill n2 vdiskd CONT
retry_until 15 vdw_acked_after w1 "$t_cont" $((BLOCKS * 10)) ||
	fail "the writer does not go on after n2's vdiskd did ($(vdw_acks_after w1 "$t_cont") acknowledged)"
echo "acknowledged since n2 went on: $(vdw_acks_after w1 "$t_cont") writes"
vdw_stop w1
wait_members n1 3 10
vdiskd_alive n1 n2 n3

step "every block holds its newest acknowledged generation, from every node"
vdw_stale_report "$VDT_TMP/frozen" n3 vd1 w1 || true
vdw_check_all vd1 w1
no_sanitizer n1 n2 n3
pass "safety_frozen_primary"
