#!/usr/bin/env bash
# Data safety when the primary's vdiskd is stopped (SIGTERM; I6: shutdown
# stops I/O, waits for the kernel's in-flight operations, then leaves the
# group; I1: no acknowledged write lost). vd5's primary path is n2, its
# secondary n3, the same file. vdwriter on n1 (through n2 over the
# transport) and a second one on n2 itself (n2's own NBD socket) write while
# n2's vdiskd gets SIGTERM. After it is gone the writer on n1 goes on
# through n3; then every block is checked from n1 and n3 against both logs.
# n2's log must show no sanitizer report and, when it logs them, the data
# plane stopping before the node leaves the CPG group.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

TIMEOUT_MS=3000

step "3 nodes, 2 links, [io] timeout_ms = $TIMEOUT_MS"
vdc up
io_timeout "$TIMEOUT_MS"

step "vd5: primary n2, secondary n3, one file"
mkdir -p "$VDC_DIR/shared"
f=$VDC_DIR/shared/vd5.img
truncate -s 64M "$f"
expect_ok "disk create vd5" ctl n1 disk create vd5 --primary "n2:$f" --secondary "n3:$f"
converged 5
wait_nbd n1 vd5
wait_nbd n2 vd5

step "vdwriter on n1 (blocks 0-63) and on n2 (blocks 64-127), qd 8, flush every 32"
vdw_start w1 n1 vd5 --writer 1 --first 0 --blocks 64 --qd 8 --flush-every 32
vdw_start w2 n2 vd5 --writer 2 --first 64 --blocks 64 --qd 8 --flush-every 32 --reconnect-ms 100
retry_until 10 vdw_acked_after w1 0 500 || fail "vdwriter on n1 acknowledged nothing: $(cat "$VDT_TMP/w1.err")"
retry_until 10 vdw_acked_after w2 0 500 || fail "vdwriter on n2 acknowledged nothing: $(cat "$VDT_TMP/w2.err")"

step "SIGTERM n2's vdiskd under load"
mark2=$(log_mark n2)
t_term=$(now_ms)
vdc kill n2 vdiskd TERM
echo "n2's vdiskd exited $(elapsed_s "$t_term")s after SIGTERM"
wait_members n1 2 15
retry_until 20 vdw_acked_after w1 "$(now_ms)" 200 ||
	fail "the writer on n1 does not go on through n3 after n2's vdiskd left"
vdw_stop w1
vdw_stop w2
echo "writes unanswered when n2 stopped: n1 $(jq .unknown "$VDT_TMP/w1.json"), n2 $(jq .unknown "$VDT_TMP/w2.json")"

step "n2's log: no sanitizer report; the data plane stopped before the node left the group"
no_sanitizer n2
log_since n2 "$mark2" | grep -iE 'terminated|data plane|left the group|leav|shutting down|in flight' | head -n 10 || true
stopped=$(log_since n2 "$mark2" | grep -n -m1 -i 'data plane stopped' | cut -d: -f1 || true)
left=$(log_since n2 "$mark2" | grep -n -m1 -i 'left the group' | cut -d: -f1 || true)
if [[ -n $stopped && -n $left ]]; then
	((stopped < left)) || fail "$VDT_NAME: n2 left the CPG group (log line $left) before its data plane stopped (line $stopped): I6"
	echo "ok: n2 stopped its data plane (line $stopped) before leaving the group (line $left)"
else
	echo "note: n2 logs no 'data plane stopped' / 'left the group' lines; only the data is checked"
fi

step "no acknowledged write lost, read from n1 and n3"
for n in n1 n3; do
	vdw_check "$n" vd5 w1 w2
	echo "check of vd5 from $n (exit $CHK_RC):"
	if ((CHK_RC == 2)); then fail "check from $n could not run: $CHK"; fi
	vdw_verdict_lines
	((CHK_RC == 0)) || {
		cp "$VDT_TMP"/*.log "$VDC_DIR/" 2>/dev/null || true
		fail "$VDT_NAME: data-safety violation on vd5 read from $n: $(jq -r '[.violations | to_entries[] | select(.value > 0) | .key] | join(",")' <<<"$CHK")"
	}
done
echo "ok: vd5 checks clean from n1 and n3"
vdiskd_alive n1 n3
no_sanitizer n1 n3
pass "safety_sigterm"
