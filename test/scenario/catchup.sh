#!/usr/bin/env bash
# Catch-up: a vdiskd that was away (stopped cleanly, or killed with SIGKILL)
# while the others changed the database adopts the newer state when it
# comes back, and its own older copy never wins.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "3 nodes, 2 links"
vdc up

f1=$(backing n1 vd1)
expect_ok "create vd1 on n1" ctl n1 disk create vd1 --primary "n1:$f1"
converged 1

step "stop vdiskd on n3 (SIGTERM), change the database on n1 and n2"
vdc stop n3 vdiskd
wait_members n1 2
f2=$(backing n2 vd2)
# (No path on n3 now: a path's device is checked by its node's vdiskd.)
f3=$(backing n1 vd3)
expect_ok "create vd2 on n1" ctl n1 disk create vd2 --primary "n2:$f2"
expect_ok "create vd3 on n2" ctl n2 disk create vd3 --primary "n1:$f3" --mode 0600
expect_ok "perm set vd1 on n1" ctl n1 perm set vd1 --mode 0604
expect_ok "delete vd2 on n2" ctl n2 disk delete vd2
converged 1 n1 n2
g=$(generation n1)
want=$(disk_list n1)

step "start vdiskd on n3: it catches up"
vdc start n3 vdiskd
vdc wait-synced n3 20
converged 1
assert_eq "generation on n3 after catch-up" "$(generation n3)" "$g"
assert_jq "n3's disks" "$(ctl n3 --json disk list)" \
	'[.disks[].name] == ["vd1", "vd3"] and (.disks[] | select(.name == "vd1") | .mode) == 388'
assert_jq "n3 counts 3 members" "$(status_json n3)" '(.members | length) == 3 and .quorate == true'
cmap_gen_is() { [[ $(cmap_get "$1" vdisk.generation) == "$2" ]]; }
retry_until 2 cmap_gen_is n3 "$g" ||
	fail "n3's CMAP mirror has generation '$(cmap_get n3 vdisk.generation)', want $g"
cmap_lacks n3 vdisk.disk.vd2. || fail "n3's CMAP still holds the deleted vd2"
echo "ok: n3's CMAP mirror caught up"

step "kill -9 vdiskd on n2, change the database, restart n2"
vdc kill n2 vdiskd
wait_members n1 2
f4=$(backing n1 vd4)
expect_ok "create vd4 on n3" ctl n3 disk create vd4 --primary "n1:$f4"
expect_ok "perm set vd3 on n1" ctl n1 perm set vd3 --owner daemon
converged 1 n1 n3
g=$(generation n1)
vdc start n2 vdiskd
vdc wait-synced n2 20
converged 1
assert_eq "generation on n2 after kill -9 and restart" "$(generation n2)" "$g"

step "kill -9 two vdiskds one after the other, updates in between"
vdc kill n1 vdiskd
wait_members n2 2
f5=$(backing n2 vd5)
expect_ok "create vd5 on n2 while n1's vdiskd is dead" ctl n2 disk create vd5 --primary "n2:$f5"
vdc start n1 vdiskd
vdc wait-synced n1 20
wait_members n1 3
vdc kill n3 vdiskd
wait_members n1 2
expect_ok "perm set vd5 on n1 while n3's vdiskd is dead" ctl n1 perm set vd5 --mode 0644
converged 1 n1 n2
g=$(generation n2)
want=$(disk_list n2)
vdc start n3 vdiskd
vdc wait-synced n3 20
converged 1
assert_eq "generation on n3" "$(generation n3)" "$g"
assert_eq "n3's list equals n2's" "$(disk_list n3)" "$want"
assert_jq "the disks on n3" "$(ctl n3 --json disk list)" \
	'[.disks[].name] == ["vd1", "vd3", "vd4", "vd5"] and (.disks[] | select(.name == "vd5") | .mode) == 420'

step "corosync killed under a running vdiskd: it reconnects and catches up"
vdc kill n2 corosync
f6=$(backing n1 vd6)
expect_ok "create vd6 on n1 while n2's corosync is dead" ctl n1 disk create vd6 --primary "n1:$f6"
vdc start n2 corosync
vdc wait-quorum n2 yes 20
vdc wait-synced n2 20
wait_members n2 3 15
converged 2
assert_jq "n2 has vd6" "$(ctl n2 --json disk list)" '[.disks[].name] | index("vd6") != null'

step "rapid restart of one vdiskd under updates"
for i in 1 2 3; do
	vdc restart n3 vdiskd
	f=$(backing n1 "r$i" 1M)
	expect_ok "create r$i on n1 during n3's restart" ctl n1 disk create "r$i" --primary "n1:$f"
	vdc wait-synced n3 20
done
converged 2
assert_eq "generation everywhere" "$(generation n3)" "$(generation n1)"
