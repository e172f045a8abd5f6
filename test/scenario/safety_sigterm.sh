#!/usr/bin/env bash
# Data safety when the primary's vdiskd is stopped (SIGTERM) while its
# storage still runs writes (I6: shutdown stops I/O, waits for the kernel's
# in-flight operations, then leaves the group; I2: no write lands after a
# newer write to the same block was acknowledged). vd1's primary path is n2
# through a FUSE file (nbdfuse -> nbdkit, file plugin with the pause
# filter), its secondary n3 directly on the same backing file. vdwriter on
# n1 keeps rewriting 16 blocks. nbdkit pauses, so n2's writes sit in its
# kernel; then n2's vdiskd gets SIGTERM. A vdiskd that leaves the CPG group
# first (as it did) lets n1 re-route to n3 at once: newer generations are
# acknowledged there, and when the storage resumes n2's stuck writes land
# over them. vdiskd now stops its data plane and waits for the kernel's I/O
# before it leaves (vdiskd(8), DATA SAFETY): the writer stalls until the
# storage resumes. Either way the writer stops before the storage resumes;
# then every block must hold its newest acknowledged generation, read from
# every node, and n2's log must show the data plane stopping before the
# node leaves the group.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

TIMEOUT_MS=3000
BLOCKS=16
# How long the storage stays paused after the SIGTERM: past the timeout and
# a probe's interval, long enough for a re-route to show.
HOLD_S=6

safety_cluster "$TIMEOUT_MS" nbdkit nbdfuse fusermount3

step "vd1: primary n2 through nbdfuse -> nbdkit (pause filter), secondary n3 direct"
ctl_sock=$VDT_TMP/pause.sock
shared_disk vd1 pause pause-control="$ctl_sock"
writer_on_n1 w1 vd1 "$BLOCKS"

step "n2's storage stalls (nbdkit pauses), then n2's vdiskd gets SIGTERM"
t_pause=$(now_ms)
pause_ctl "$ctl_sock" p
# The writes n2 took stay in its kernel; the writer's queue fills with them.
retry_until 5 bash -c "[[ \$(awk '\$1 == \"S\" && \$4 >= $t_pause' '$(vdw_log w1)' | wc -l) -ge 4 ]]" || true
sleep 0.5
vdw_inflight w1 >"$VDT_TMP/stuck"
echo "writes out when the storage stalled (blk gen): $(tr '\n' ';' <"$VDT_TMP/stuck")"
[[ -s $VDT_TMP/stuck ]] || fail "no write of the writer waits in n2's storage: the fault does not hold"
mark2=$(log_mark n2)
mark1=$(log_mark n1)
pid2=$(vdc pid n2 vdiskd)
t_term=$(now_ms)
# Not `vdc kill`, which waits for the exit: vdiskd may rightly wait for the
# storage, which resumes only once the writer has stopped.
kill -TERM "$pid2"
# A router that takes n2's disks over at once gets the stuck blocks' newer
# generations acknowledged through n3 within a second or so; one that
# waits for n2 stalls the writer. Either way the storage stays paused for
# HOLD_S seconds.
retry_until "$HOLD_S" vdw_acked_after w1 "$t_term" $((BLOCKS * 20)) || true
sleep_left=$((t_term + HOLD_S * 1000 - $(now_ms)))
((sleep_left <= 0)) || sleep "$(awk -v ms="$sleep_left" 'BEGIN { printf "%.3f", ms / 1000 }')"
acked=$(vdw_acks_after w1 "$t_term")
echo "acknowledged in the ${HOLD_S}s after the SIGTERM, storage still paused: $acked writes"
vdw_stop w1
# n2's storage is paused: a write it held that is acknowledged now was run
# again elsewhere while n2's copy may still land.
awk -v t="$t_term" 'NR == FNR { held[$1 " " $2] = 1; next }
	$1 == "A" && ($2 " " $3) in held { printf "write blk %s gen %s, held in n2'\''s storage, acknowledged %+d ms after the SIGTERM (storage still paused: by another path)\n", $2, $3, $4 - t }' \
	"$VDT_TMP/stuck" "$(vdw_log w1)"
# Everything n2 took while paused may still be in its storage.
vdw_inflight w1 >>"$VDT_TMP/stuck"
awk -v t="$t_pause" '$1 == "S" && $4 >= t { print $2, $3 }' "$(vdw_log w1)" >>"$VDT_TMP/stuck"
if vdc pid n2 vdiskd >/dev/null 2>&1; then
	echo "n2's vdiskd still runs $(elapsed_s "$t_term")s after SIGTERM (waits for its storage)"
else
	echo "n2's vdiskd exited within $(elapsed_s "$t_term")s of SIGTERM, with writes still in its storage"
fi

step "n2's storage resumes"
t_resume=$(now_ms)
pause_ctl "$ctl_sock" r
retry_until 20 bash -c "! '$VDC_HARNESS' pid n2 vdiskd" ||
	fail "n2's vdiskd still runs $(elapsed_s "$t_term")s after SIGTERM, $(elapsed_s "$t_resume")s after its storage resumed"
echo "n2's vdiskd gone $(elapsed_s "$t_term")s after SIGTERM ($(elapsed_s "$t_resume")s after the storage resumed)"
# What n2's kernel still ran lands now; a landing shows in the check from
# n3, whose path is the same file.
retry_until 5 vdw_check_bad n3 vd1 w1 || true
wait_members n1 2 15
vdiskd_alive n1 n3

step "n2's log: the data plane stopped before the node left the group"
log_since n2 "$mark2" | grep -iE 'terminat|signal|data plane|left the|leav|shutting down|in flight|still' | head -n 10 || true
stopped=$(log_since n2 "$mark2" | grep -n -m1 'data plane stopped' | cut -d: -f1 || true)
left=$(log_since n2 "$mark2" | grep -n -m1 'left the cluster group' | cut -d: -f1 || true)
[[ -n $stopped && -n $left ]] ||
	fail "$VDT_NAME: n2's log has no 'data plane stopped' or 'left the cluster group' line: the shutdown order cannot be checked (I6)"
((stopped < left)) || fail "$VDT_NAME: n2 left the CPG group (log line $left) before its data plane stopped (line $stopped): I6"
echo "ok: n2 stopped its data plane (line $stopped) before leaving the group (line $left)"

echo "n1 saw n2 leave: $(log_since n1 "$mark1" | grep -m1 -E 'CPG group .*: 2 members' || echo never)"

step "n2's vdiskd back, then every block holds its newest acknowledged generation, from every node"
vdc start n2 vdiskd
for n in n1 n2 n3; do vdc wait-synced "$n" 20; done
wait_nbd n2 vd1
vdw_stale_report "$VDT_TMP/stuck" n3 vd1 w1 || true
vdw_check_all vd1 w1
no_sanitizer n1 n2 n3
pass "safety_sigterm"
