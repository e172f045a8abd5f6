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
# joined the membership, seconds since the epoch), again every second while
# it fails.
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

T_START=$(now_ms)
safety_cluster 3000

FENCE=$VDT_TMP/fence-test
cat >"$FENCE" <<EOF
#!/bin/sh
# The test's fence command: NODE SINCE NODEID
echo "\$(date +%s%3N) \$*" >>"$VDT_TMP/fence.log"
test -e "$VDT_TMP/fenced.\$1"
EOF
chmod 755 "$FENCE"
fence_setup "$FENCE"

step "vd1: primary n2, secondary n3, one file"
shared_disk vd1
writer_on_n1 w1 vd1 64

step "n2 killed whole (corosync and vdiskd)"
kill_n2() {
	vdc kill n2 corosync KILL
	vdc kill n2 vdiskd KILL
}
fence_lose_n2 fence-test kill_n2
fence_held w1 fence-test
runs=$(grep -c ' n2 ' "$VDT_TMP/fence.log" || true)
echo "the fence command ran $runs times on the survivors"
((runs >= 4)) || fail "the fence command ran $runs times in $(((LEASE_MS + 4000) / 1000)) s: it should run again every second while it fails"
read -r _ node since id < <(grep ' n2 ' "$VDT_TMP/fence.log" | head -n1)
echo "its arguments: $node $since $id"
[[ $node == n2 && $id == 2 ]] || fail "the fence command was run as '$node $since $id', not 'n2 SINCE 2'"
((since * 1000 >= T_START - 1000 && since * 1000 <= T_KILL)) ||
	fail "SINCE $since is not when n1 or n3 saw n2 join (the cluster came up at $((T_START / 1000)), n2 was killed at $((T_KILL / 1000)))"

step "the fence confirmed: vd1 goes on through n3"
t_fenced=$(now_ms)
touch "$VDT_TMP/fenced.n2"
fence_released w1 fence-test "$t_fenced"

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
