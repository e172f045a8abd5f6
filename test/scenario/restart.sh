#!/usr/bin/env bash
# Whole-cluster restart: the database survives stopping vdiskd and corosync
# everywhere (state_dir persistence), both through the stop/start subcommands
# and through a full `down` (keeping the directory) and `up --keep-state`; and
# a node that comes back first with an older state does not win.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "3 nodes, 2 links"
vdc up

expect_ok "create vd1 on n1" ctl n1 disk create vd1 --primary "n1:$(backing n1 vd1)" --mode 0640
expect_ok "create vd2 on n2" ctl n2 disk create vd2 --primary "n2:$(backing n2 vd2)" \
	--secondary "n3:$(backing n3 vd2b)" --owner nobody
expect_ok "create vd3 on n3" ctl n3 disk create vd3 --primary "n3:$(backing n3 vd3)"
expect_ok "perm set vd2 on n1" ctl n1 perm set vd2 --mode 0606
expect_ok "delete vd3 on n2" ctl n2 disk delete vd3
converged 1
g=$(generation n1)
want=$(disk_list n1)

check_state() {
	local n
	converged 2
	for n in n1 n2 n3; do
		assert_eq "generation on $n $1" "$(generation "$n")" "$g"
	done
	assert_eq "disk list $1" "$(disk_list n2)" "$want"
	for n in n1 n2 n3; do
		retry_until 2 cmap_has "$n" vdisk.disk.vd1.primary.node vdisk.disk.vd2.primary.node ||
			fail "$n: CMAP mirror incomplete $1: $(cmap_dump "$n" 2>&1 | head -n 20)"
	done
}

step "stop vdiskd and corosync everywhere"
for n in n1 n2 n3; do vdc stop "$n" vdiskd; done
for n in n1 n2 n3; do vdc stop "$n" corosync; done
for n in n1 n2 n3; do
	[[ -n $(find "$VDC_DIR/$n/state" -type f -size +0 2>/dev/null) ]] ||
		fail "$n: nothing persisted under $VDC_DIR/$n/state"
	if vdc pid "$n" vdiskd >/dev/null || vdc pid "$n" corosync >/dev/null; then
		fail "$n: a process survived the stop"
	fi
done
echo "ok: everything stopped, state persisted on every node"

step "start corosync, then vdiskd, everywhere"
for n in n1 n2 n3; do vdc start "$n" corosync; done
for n in n1 n2 n3; do vdc wait-quorum "$n" yes 30; done
for n in n1 n2 n3; do vdc start "$n" vdiskd; done
for n in n1 n2 n3; do vdc wait-synced "$n" 20; done
for n in n1 n2 n3; do wait_members "$n" 3 10; done
check_state "after stop/start"

step "down (keeping the directory) and up --keep-state"
VDC_KEEP=1 vdc down
[[ -d $VDC_DIR/n1/state ]] || fail "VDC_KEEP=1 down removed $VDC_DIR"
vdc up --keep-state
check_state "after down/up"

step "a node with an older state comes back first"
vdc stop n3 vdiskd
expect_ok "create vd4 on n1 while n3 is away" ctl n1 disk create vd4 --primary "n1:$(backing n1 vd4)"
converged 1 n1 n2
g=$(generation n1)
want=$(disk_list n1)
for n in n1 n2; do vdc stop "$n" vdiskd; done
# n3 (older state) starts alone and runs alone for a moment; when the others
# come back, their newer state must win over n3's older one.
vdc start n3 vdiskd
retry_until 10 status_json n3 || fail "n3's vdiskd does not answer: $(status_json n3 2>&1)"
sleep 1
vdc start n1 vdiskd
vdc start n2 vdiskd
for n in n1 n2 n3; do vdc wait-synced "$n" 20; done
for n in n1 n2 n3; do wait_members "$n" 3 10; done
check_state "after n3 came back first"
assert_jq "vd4 survived" "$(ctl n3 --json disk list)" '[.disks[].name] == ["vd1", "vd2", "vd4"]'
