#!/usr/bin/env bash
# A lost node's disks wait for its fence to be confirmed (I4, with
# `[io] fence_command`: the way DLM waits for Pacemaker's fencing). vd1's
# primary path is n2, its secondary n3, one file; a writer on n1. Every node
# runs with `fence_command` = a script standing in for
# vdisk-fence-pacemaker: it logs its arguments and exits 0 only once the
# test has "fenced" the node (a file). n2 is killed whole (corosync and
# vdiskd). Without the command n1 would serve vd1 through n3 once n2's lease
# ran out; with it, n1's writer gets nothing until the fence is confirmed,
# however long that takes (here: lease + 4 s), and goes on within a few
# seconds after. The command is run as `COMMAND n2 SINCE 2` (SINCE: when n2
# was lost, seconds since the epoch), again every second while it fails.
# Also: vdiskd refuses a fence_command it cannot execute, at start-up.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

step "vdiskd refuses a fence_command it cannot execute"
printf '[io]\nfence_command = %s/no-such-fence\n' "$VDT_TMP" >"$VDT_TMP/bad.conf"
expect_fail "vdiskd with a missing fence_command" 1 "no-such-fence: No such file or directory" \
	"$VDISK_BUILD/service/vdiskd" -f -c "$VDT_TMP/bad.conf"

safety_cluster 3000

FENCE=$VDT_TMP/fence-test
cat >"$FENCE" <<EOF
#!/bin/sh
# The test's fence command: NODE SINCE NODEID
echo "\$(date +%s%3N) \$*" >>"$VDT_TMP/fence.log"
test -e "$VDT_TMP/fenced.\$1"
EOF
chmod 755 "$FENCE"
step "every node: [io] fence_command = $FENCE"
for n in 1 2 3; do
	echo "fence_command = $FENCE" >>"$VDC_DIR/n$n/vdisk.conf"
	vdc restart "n$n" vdiskd
done
for n in n1 n2 n3; do vdc wait-synced "$n" 20; done

lease_line=$(grep -m1 -E 'lease: [0-9]+ ms \(corosync token' "$VDC_DIR/n1/vdiskd.log") ||
	fail "n1 logged no lease"
lease_ms=$(sed -E 's/.*lease: ([0-9]+) ms.*/\1/' <<<"$lease_line")
echo "n1: ${lease_line#*] }"

step "vd1: primary n2, secondary n3, one file; vdwriter on n1"
shared_disk vd1
vdw_start w1 n1 vd1 --writer 1 --first 0 --blocks 64 --qd 4 --rate 200 --reconnect-ms 100
retry_until 10 vdw_acked_after w1 0 200 || fail "vdwriter on n1 acknowledged nothing: $(cat "$VDT_TMP/w1.err")"

step "n2 killed whole (corosync and vdiskd)"
mark1=$(log_mark n1)
t_kill=$(now_ms)
vdc kill n2 corosync KILL
vdc kill n2 vdiskd KILL
wait_pat='lease: node n2 left; its disks wait until .*fence-test says it is fenced'
retry_until 15 log_has n1 "$mark1" "$wait_pat" ||
	fail "n1 does not wait for the fence command: $(log_since n1 "$mark1" | grep 'lease:' | tail -n 3)"
t_leave=$(now_ms)
echo "n1, $((t_leave - t_kill)) ms after the kill: $(log_since n1 "$mark1" | grep -m1 -E "$wait_pat" | sed 's/.*\] //')"

step "no fence confirmed: vd1 waits past the lease (until n2 left + lease + 4 s)"
hold_end=$((t_leave + lease_ms + 4000))
sleep "$(awk -v ms="$((hold_end - $(now_ms)))" 'BEGIN { printf "%.3f", ms / 1000 }')"
# A write may still be answered by n3 before n1 saw n2 leave (n2 silent
# for two heartbeat timeouts plus a second: its attempts are dead); after
# the departure plus a second, nothing.
held=$(vdw_acks_after w1 "$((t_leave + 1000))")
((held == 0)) || fail "vd1 did not wait for the fence: $held writes acknowledged through n3 after n2 left + 1 s, before the fence command succeeded"
runs=$(grep -c ' n2 ' "$VDT_TMP/fence.log" || true)
echo "ok: no write acknowledged from n2 leaving + 1 s to + $((hold_end - t_leave)) ms; the fence command ran $runs times on the survivors"
((runs >= 4)) || fail "the fence command ran $runs times in $(((hold_end - t_leave) / 1000)) s: it should run again every second while it fails"
log_has n1 "$mark1" 'fence-test n2 [0-9]+: exit status 1 \(run 1\)' ||
	fail "n1 does not log the fence command's failure: $(log_since n1 "$mark1" | grep 'lease:' | tail -n 3)"
read -r _ node since id < <(grep ' n2 ' "$VDT_TMP/fence.log" | head -n1)
echo "its arguments: $node $since $id"
[[ $node == n2 && $id == 2 ]] || fail "the fence command was run as '$node $since $id', not 'n2 SINCE 2'"
((since * 1000 >= t_kill - 2000 && since * 1000 <= t_leave + 1000)) ||
	fail "SINCE $since is not when n2 was lost (killed at $((t_kill / 1000)), seen gone at $((t_leave / 1000)))"

step "the fence confirmed: vd1 goes on through n3"
t_fenced=$(now_ms)
touch "$VDT_TMP/fenced.n2"
retry_until 10 vdw_acked_after w1 "$t_fenced" 50 ||
	fail "vd1 does not go on after the fence command succeeded ($(vdw_acks_after w1 "$t_fenced") acknowledged)"
first=$(awk -v t="$t_fenced" '$1 == "A" && $4 > t { print $4; exit }' "$(vdw_log w1)")
echo "ok: first write acknowledged $((first - t_fenced)) ms after the fence was confirmed"
log_has n1 "$mark1" 'fence-test n2 [0-9]+ says node n2 is fenced; its disks go on without it' ||
	fail "n1 does not log the confirmation"

step "n2 back; every block holds its newest acknowledged generation"
vdc start n2 corosync >/dev/null
vdc start n2 vdiskd >/dev/null
wait_members n1 3 30
for n in n1 n2 n3; do vdc wait-synced "$n" 20; done
vdw_stop w1
vdiskd_alive n1 n3
vdw_check_all vd1 w1
no_sanitizer n1 n2 n3
pass "safety_fence_command"
