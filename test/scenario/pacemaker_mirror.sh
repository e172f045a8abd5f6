#!/usr/bin/env bash
# A mirrored disk under Pacemaker (docs/pacemaker.md): vm's replicas are on
# n1 (the writer) and n2, created without --assume-clean, so n2's replica
# is copied whole first, at 2 MiB/s ([mirror] resync_rate on n1): 32 s.
#   (a) vm-clone is promoted on n1; n2's promotion score is -INFINITY while
#       its replica is not up to date (outdated, then syncing), as n3's
#       (no replica);
#   (b) pcs resource move vm-clone n2 --promoted is refused while n2's
#       replica is copied: the writer stays n1, nothing is left behind;
#   (c) once copied, n2's score is 50 and vm's replicas are identical;
#   (d) pcs node standby n1 --wait moves the writer to n2 (the agent's
#       demote hands it over in one cycle) and n2 is promoted. No failed
#       action anywhere.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster/pcmk_lib.sh
source "$VDISK_SRC/test/cluster/pcmk_lib.sh"

R1=$VDC_DIR/n1/vm.img
R2=$VDC_DIR/n2/vm.img

# The rate is in n1's configuration before the disk exists: the copy must
# still run when Pacemaker has started everything (at full speed it would
# be over, and n1's stop before Pacemaker takes vdiskd over would hand the
# writer to n2's up-to-date replica: failover.h).
mirror_create() {
	printf '[mirror]\nresync_rate = 2\n' >>"$VDC_DIR/n1/vdisk.conf"
	vdc restart n1 vdiskd
	vdc wait-synced n1 20
	truncate -s 64M "$R1" "$R2"
	# bytes on n1 only: the copy must carry them
	head -c 1M /dev/urandom | dd of="$R1" bs=1M seek=10 conv=notrunc status=none
	expect_ok "disk create vm --mirror" ctl n1 disk create vm --mirror "n1:$R1,n2:$R2"
}

step "3 nodes, vm mirrored on n1 and n2 (n2's replica to be copied), Pacemaker"
cluster_up mirror_create
create_resources
disk_resource_create vm

step "(a) vm promoted on n1, n2's score -INFINITY while its replica is copied"
wait_roles n1 vm-clone Promoted n1 30
wait_roles n1 vm-clone Unpromoted "n2 n3" 30
state2() { disk_json n1 vm | jq -r '.mirror.states[1]'; }
[[ $(state2) != uptodate ]] || fail "n2's replica is up to date already: nothing to test"
echo "n2's replica: $(state2)"
assert_eq "promotion score of vm on n2 (replica $(state2))" "$(score n2 vm)" -INFINITY
assert_eq "promotion score of vm on n3 (no replica)" "$(score n3 vm)" -INFINITY

step "(b) pcs resource move vm-clone n2 --promoted while n2's replica is copied"
rc=0
out=$(timeout 120 "$PCMK" exec n1 pcs resource move vm-clone n2 --promoted 2>&1) || rc=$?
echo "pcs exited $rc: $out"
((rc != 124)) || fail "pcs resource move hung"
assert_eq "vm's writer" "$(primary_of vm)" n1
wait_roles n1 vm-clone Promoted n1 10
pcmk exec n1 pcs resource clear vm-clone >/dev/null 2>&1 || true

step "(c) the copy ends: n2's score 50, the replicas identical"
retry_until 60 eval '[[ $(state2) == uptodate ]]' || fail "n2's replica not up to date after 60 s: $(state2)"
retry_until 30 eval '[[ $(score n2 vm) == 50 ]]' || fail "n2's score is $(score n2 vm), not 50"
echo "ok: n2's score is 50"
cmp "$R1" "$R2" || fail "vm's replicas differ after the copy"
echo "ok: the replica files are byte-identical"

step "(d) pcs node standby n1: the writer moves to n2"
expect_ok "pcs node standby n1 --wait" pcmk exec n1 pcs node standby n1 --wait=60
wait_roles n2 vm-clone Promoted n2 30
assert_eq "vm's writer with n1 in standby" "$(primary_of vm n2)" n2
expect_ok "pcs node unstandby n1 --wait" pcmk exec n2 pcs node unstandby n1 --wait=60
no_failures n2
pass "pacemaker_mirror"
