#!/usr/bin/env bash
# Cluster database replication: create, perm set and delete, each issued on a
# different node, are seen identically by every node within a second, with
# the same generation, mirrored into every node's CMAP.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "3 nodes, 2 links"
vdc up

# cmap_generation_is NODE GEN: NODE's CMAP mirror is at generation GEN.
cmap_generation_is() { [[ $(cmap_get "$1" vdisk.generation) == "$2" ]]; }

# check_everywhere GEN: all nodes report generation GEN and the CMAP mirror
# carries it.
check_everywhere() {
	local gen=$1 n g
	for n in n1 n2 n3; do
		g=$(generation "$n")
		assert_eq "generation on $n" "$g" "$gen"
		retry_until 1 cmap_has "$n" vdisk.generation ||
			fail "$n: no vdisk.generation in CMAP: $(cmap_dump "$n" 2>&1 | head -n 20)"
		retry_until 1 cmap_generation_is "$n" "$gen" ||
			fail "$n: CMAP vdisk.generation is '$(cmap_get "$n" vdisk.generation)', want $gen"
	done
}

g0=$(generation n1)
assert_jq "empty database at start" "$(ctl n1 --json disk list)" '.disks == []'
assert_jq "status on n1" "$(status_json n1)" \
	'.node.id == 1 and .node.name == "n1" and .quorate == true and .synced == true and (.members | length) == 3 and .disks == 0'

step "create vd1 on n1 (primary n2, mode 0660)"
f1=$(backing n2 vd1 64M)
expect_ok "disk create vd1 on n1" ctl n1 disk create vd1 --primary "n2:$f1" --mode 0660
converged 1
g1=$(generation n1)
assert_eq "generation grew by one" "$g1" "$((g0 + 1))"
check_everywhere "$g1"
for n in n1 n2 n3; do
	d=$(disk_json "$n" vd1) || fail "$n: vd1 missing from disk list"
	assert_jq "vd1 fields on $n" "$d" "
		.primary.node == 2 and .primary.node_name == \"n2\" and
		.primary.device == \"$f1\" and .secondary == null and
		.size == 67108864 and .mode == 432 and
		.uid == 0 and .owner == \"root\" and (.group | type) == \"string\" and
		(.mtime | type) == \"number\" and .mtime > 1600000000 and
		(.id | type) == \"number\""
	assert_eq "vd1's default group on $n matches its gid" \
		"$(getent group "$(jq -r .group <<<"$d")" | cut -d: -f3)" "$(jq -r .gid <<<"$d")"
	retry_until 1 cmap_has "$n" vdisk.disk.vd1.primary.node ||
		fail "$n: CMAP lacks vdisk.disk.vd1.primary.node: $(cmap_dump "$n" 2>&1 | head -n 30)"
done
assert_jq "status counts 1 disk" "$(status_json n3)" ".disks == 1 and .generation == $g1"
expect_ok "disk show vd1 on n3" ctl n3 --json disk show vd1
assert_jq "disk show vd1 equals the list entry" "$OUT" \
	".disk == $(disk_json n3 vd1 | jq -c .)"

step "create vd2 on n2 (primary n3, secondary n1, size, owner/group)"
f2=$(backing n3 vd2 128M)
truncate -s 128M "$VDC_DIR/n1/vd2-b.img"
expect_ok "disk create vd2 on n2" ctl n2 disk create vd2 --primary "n3:$f2" \
	--secondary "n1:$VDC_DIR/n1/vd2-b.img" --size 33554432 \
	--owner nobody --group nogroup --mode 0600
converged 1
g2=$(generation n2)
assert_eq "generation grew by one" "$g2" "$((g1 + 1))"
check_everywhere "$g2"
d=$(disk_json n1 vd2) || fail "vd2 missing on n1"
assert_jq "vd2 fields" "$d" "
	.primary.node == 3 and .primary.device == \"$f2\" and
	.secondary.node == 1 and .secondary.node_name == \"n1\" and
	.secondary.device == \"$VDC_DIR/n1/vd2-b.img\" and
	.size == 33554432 and .mode == 384 and
	.owner == \"nobody\" and .group == \"nogroup\" and .uid == 65534 and .gid == 65534"
assert_jq "vd1 and vd2 have distinct ids" "$(ctl n1 --json disk list)" \
	'[.disks[].id] | unique | length == 2'
for n in n1 n2 n3; do
	retry_until 1 cmap_has "$n" vdisk.disk.vd2.primary.node ||
		fail "$n: CMAP lacks vdisk.disk.vd2.primary.node"
done

step "perm set vd1 on n3"
mtime1=$(disk_json n1 vd1 | jq .mtime)
sleep 1.1 # so that mtime must move
expect_ok "perm set vd1 on n3" ctl n3 perm set vd1 --mode 0640 --owner daemon --group disk
converged 1
g3=$(generation n3)
assert_eq "generation grew by one" "$g3" "$((g2 + 1))"
check_everywhere "$g3"
d=$(disk_json n2 vd1)
assert_jq "vd1 permissions changed" "$d" \
	".mode == 416 and .owner == \"daemon\" and .group == \"disk\" and .uid == 1 and .gid == 6 and .mtime > $mtime1"
for n in n1 n2 n3; do
	l=$(ctl "$n" disk list -l) || fail "disk list -l on $n failed"
	grep -E '(^|[[:space:]])-rw-r-----[[:space:]]' <<<"$l" | grep -qw vd1 ||
		fail "$n: disk list -l does not show vd1 as -rw-r-----:
$l"
	grep -E '(^|[[:space:]])-rw-------[[:space:]]' <<<"$l" | grep -qw vd2 ||
		fail "$n: disk list -l does not show vd2 as -rw-------:
$l"
	grep -w vd1 <<<"$l" | grep -qw daemon || fail "$n: disk list -l lacks vd1's owner daemon:
$l"
done
echo "ok: disk list -l shows mode strings and owners on every node"

step "delete vd2 on n3"
expect_ok "disk delete vd2 on n3" ctl n3 disk delete vd2
converged 1
g4=$(generation n1)
assert_eq "generation grew by one" "$g4" "$((g3 + 1))"
check_everywhere "$g4"
assert_jq "only vd1 is left" "$(ctl n2 --json disk list)" '[.disks[].name] == ["vd1"]'
for n in n1 n2 n3; do
	retry_until 1 cmap_lacks "$n" vdisk.disk.vd2. ||
		fail "$n: CMAP still has vdisk.disk.vd2 keys: $(cmap_dump "$n" | grep vd2)"
done
expect_fail "disk show of the deleted vd2" 1 "vd2" ctl n1 disk show vd2

step "delete vd1 on n2"
expect_ok "disk delete vd1 on n2" ctl n2 disk delete vd1
converged 1
g5=$(generation n3)
assert_eq "generation grew by one" "$g5" "$((g4 + 1))"
check_everywhere "$g5"
assert_jq "database empty again" "$(ctl n3 --json disk list)" ".disks == [] and .generation == $g5"
for n in n1 n2 n3; do
	retry_until 1 cmap_lacks "$n" vdisk.disk. ||
		fail "$n: CMAP still has vdisk.disk keys: $(cmap_dump "$n" | grep vdisk.disk.)"
done

step "a burst of updates from all nodes"
for i in 1 2 3 4 5 6; do
	n=n$(((i % 3) + 1))
	f=$(backing "$n" "b$i" 1M)
	expect_ok "create b$i on $n" ctl "$n" disk create "b$i" --primary "$n:$f"
done
converged 1
assert_eq "burst generation" "$(generation n2)" "$((g5 + 6))"
assert_jq "six disks everywhere" "$(ctl n1 --json disk list)" '.disks | length == 6'

step "scan: n2 lists its devices (libblkid) and they are what every node mirrors"
expect_ok "scan on n2" ctl n2 --json scan
scanned=$(jq '.devices | length' <<<"$OUT")
assert_jq "scan names n2 and lists devices" "$OUT" '.node.name == "n2" and (.devices | all(.path and .size > 0))'
for n in n1 n3; do
	assert_eq "n2's device count in $n's CMAP" "$(cmap_get "$n" vdisk.node.2.devices)" "$scanned"
done
assert_eq "an unchanged scan publishes nothing" "$(generation n2)" "$((g5 + 6))"
