#!/usr/bin/env bash
# Mirrored disks (docs/mirror.md): vm has one replica on n1 (the writer)
# and one on n2, each its node's own file; n3 has none and is a client.
# Writers on all three nodes stamp every block with a generation; every
# node reads the newest acknowledged one and the two replica files end
# byte-identical. Then n2's vdiskd is killed under the writers: the writes
# go on with n1 alone once n2's lease ran out, the database outdates n2's
# replica (a new data generation), nothing acknowledged is lost, and n2,
# back, reads from n1 (its own replica missed writes), never from its file.
# A promotion of the outdated replica is refused, naming the generation.
# Then n2's replica is copied back, only the regions it missed (counted),
# and the two files end byte-identical. Last, vf is created without
# --assume-clean: its second replica is copied whole, at [mirror]
# resync_rate, while writers run; disk show gives the progress, and the
# files end identical with every acknowledged write in both. Last, vm's
# writer n1 is killed: n2 promotes itself, n1's replica is outdated in the
# same change and copied whole when n1 is back.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

BLOCKS=64

# writer NAME NODE DISK: NODE's verifying writer on DISK, its writer id and
# blocks from the node's number, 150 writes/s at depth 4, a flush every 16.
writer() {
	local k=${2#n}
	vdw_start "$1" "$2" "$3" --writer "$k" --first $(((k - 1) * BLOCKS)) --blocks "$BLOCKS" \
		--qd 4 --rate 150 --flush-every 16
}

# longest_stall NAME MS: the longest gap between writer NAME's
# acknowledgements from a second before MS on.
longest_stall() {
	awk -v t="$(($2 - 1000))" '$1 == "A" && $4 > t { if (p && $4 - p > m) m = $4 - p; p = $4 }
		END { print m + 0 }' "$(vdw_log "$1")"
}

safety_cluster 3000
printf '[mirror]\nresync_rate = 16\n' >>"$VDC_DIR/n1/vdisk.conf"
vdc restart n1 vdiskd
vdc wait-synced n1 20
R1=$VDC_DIR/n1/vm.img
R2=$VDC_DIR/n2/vm.img
truncate -s 64M "$R1" "$R2"
truncate -s 1M "$VDC_DIR/n1/vo.img" "$VDC_DIR/n2/vo.img"

step "refusals: both replicas on one node, one replica, a mirror with --primary"
expect_fail "one node" 1,2 "a mirror needs two nodes" ctl n1 disk create vx --mirror "n1:$R1,n1:$R2"
expect_fail "one replica" 1,2 "NODE:DEVICE,NODE:DEVICE" ctl n1 disk create vx --mirror "n1:$R1"
expect_fail "with --primary" 1,2 "without --primary" ctl n1 disk create vx --mirror "n1:$R1,n2:$R2" \
	--primary "n1:$R1"

step "a mirror without --assume-clean: the second replica starts outdated"
expect_ok "create vo" ctl n1 disk create vo --mirror "n1:$VDC_DIR/n1/vo.img,n2:$VDC_DIR/n2/vo.img" \
	--size 1M
assert_jq "vo: n1's replica up to date, n2's outdated" "$(disk_json n1 vo)" \
	'.mirror.states == ["uptodate", "outdated"] and (.mirror.datagen | test("^[0-9a-f]{16}$"))'
expect_fail "promote the outdated replica" 1 "is outdated (the disk's data generation" \
	ctl n1 map promote vo n2
expect_ok "delete vo" ctl n1 disk delete vo

step "vm: replicas on n1 (writer) and n2, both clean (new zeroed files)"
expect_ok "create vm" ctl n1 disk create vm --mirror "n1:$R1,n2:$R2" --assume-clean
! grep -q "tie-breaker" <<<"$OUT" || fail "a mirror on three nodes got the two-node note: $OUT"
converged 5
show=$(ctl n3 disk show vm)
echo "$show"
grep -q "Mirror: *2 replicas" <<<"$show" || fail "disk show does not say vm is a mirror"
grep -q "\[uptodate\]" <<<"$show" || fail "disk show does not give the replicas' states"
list=$(ctl n3 disk list)
echo "$list"
grep -q "n2:.*\[uptodate\]" <<<"$list" || fail "disk list does not give the replicas' states"
gen0=$(disk_json n1 vm | jq -r .mirror.datagen)
for n in n1 n2 n3; do wait_nbd "$n" vm; done

step "writers on n1, n2 and n3, $BLOCKS blocks each, flushes every 16"
writer w1 n1 vm
writer w2 n2 vm
writer w3 n3 vm
for w in w1 w2 w3; do
	retry_until 15 vdw_acked_after "$w" 0 300 || fail "vdwriter $w: $(cat "$VDT_TMP/$w.err")"
done
for w in w1 w2 w3; do vdw_stop "$w"; done
vdw_check_all vm w1 w2 w3
cmp "$R1" "$R2" || fail "the replicas differ with both up to date"
echo "ok: the two replica files are byte-identical"

step "n2's vdiskd killed under the writers: writes go on with n1's replica alone"
writer w1 n1 vm
writer w3 n3 vm
retry_until 15 vdw_acked_after w3 0 300 || fail "vdwriter w3: $(cat "$VDT_TMP/w3.err")"
t_kill=$(now_ms)
vdc kill n2 vdiskd KILL
retry_until 30 vdw_acked_after w3 "$((t_kill + 100))" 300 ||
	fail "writes through n3 do not go on without n2 ($(vdw_acks_after w3 "$t_kill") acknowledged since)"
retry_until 30 vdw_acked_after w1 "$((t_kill + 100))" 300 ||
	fail "writes on n1 do not go on without n2"
# The longest gap between acknowledgements through n3 around the kill: n2's
# lease (its replica outdated only once n2 can no longer serve reads).
echo "longest stall through n3 after the kill: $(longest_stall w3 "$t_kill") ms"
assert_jq "n2's replica is outdated, with a new data generation" "$(disk_json n1 vm)" \
	".mirror.states == [\"uptodate\", \"outdated\"] and .mirror.datagen != \"$gen0\""
assert_eq "n3's CMAP says n2's replica is outdated" "$(cmap_get n3 vdisk.disk.vm.secondary.state)" \
	outdated
vdw_stop w1
vdw_stop w3

cmp -s "$R1" "$R2" && fail "n2's replica has the writes it missed: the test saw no outdated replica"
echo "ok: n2's file lacks what it missed"
expect_fail "promote n2's outdated replica" 1 "is outdated (the disk's data generation" ctl n1 map promote vm n2

step "n2 back: its replica is copied, only the regions it missed, and is up to date again"
mark=$(log_mark n1)
vdc start n2 vdiskd
vdc wait-synced n2 20
wait_members n1 3 20
retry_until 30 eval '[[ $(disk_json n1 vm | jq -c .mirror.states) == "[\"uptodate\",\"uptodate\"]" ]]' ||
	fail "n2's replica is not up to date again: $(disk_json n1 vm | jq -c .mirror)"
copied=$(log_since n1 "$mark" | sed -n 's/.*copying \([0-9]*\) bytes to the secondary replica.*/\1/p' | head -n1)
[[ -n $copied ]] || fail "n1's log does not say what it copied"
((copied > 0 && copied <= 3 * BLOCKS * 4096 + 3 * 65536)) ||
	fail "n1 copied $copied bytes: not only the regions n2 missed (writers touch $((3 * BLOCKS)) blocks)"
echo "ok: $copied bytes copied of $((64 << 20)) (the regions the writers touched while n2 was out)"
cmp "$R1" "$R2" || fail "the replicas differ after the resync"
echo "ok: the replica files are byte-identical again"
wait_nbd n2 vm
vdw_check_all vm w1 w2 w3

step "vf without --assume-clean: copied whole at 16 MiB/s while writers run"
truncate -s 64M "$VDC_DIR/n1/vf.img" "$VDC_DIR/n2/vf.img"
head -c 1M /dev/urandom >"$VDC_DIR/n1/vf.img.seed"
dd if="$VDC_DIR/n1/vf.img.seed" of="$VDC_DIR/n1/vf.img" bs=1M seek=40 conv=notrunc status=none
expect_ok "create vf" ctl n1 disk create vf --mirror "n1:$VDC_DIR/n1/vf.img,n2:$VDC_DIR/n2/vf.img"
for n in n1 n2 n3; do wait_nbd "$n" vf; done
writer f1 n1 vf
writer f3 n3 vf
retry_until 15 eval 'ctl n1 disk show vf | grep -q "syncing, [0-9]*% at"' ||
	fail "disk show on n1 gives no resync progress: $(ctl n1 disk show vf)"
ctl n1 disk show vf | grep Secondary
vdw_stop f1

step "vf's writer n1 killed during the copy: n2's replica, half copied, is not promoted"
t_kill=$(now_ms)
vdc kill n1 vdiskd KILL
sleep 1.5
assert_jq "n1 still writes vf, n2's replica still syncing" "$(disk_json n2 vf)" \
	'.primary.node_name == "n1" and .mirror.states == ["uptodate", "syncing"]'
held=$(vdw_acks_after f3 "$((t_kill + 200))")
((held == 0)) || fail "$held writes acknowledged through n3 without vf's writer"
echo "ok: no write acknowledged without the writer"
expect_fail "promote n2's half-copied replica" 1 "is syncing" ctl n2 map promote vf n2
vdc start n1 vdiskd
vdc wait-synced n1 20
retry_until 40 eval '[[ $(disk_json n1 vf | jq -c .mirror.states) == "[\"uptodate\",\"uptodate\"]" ]]' ||
	fail "vf's second replica is not up to date: $(disk_json n1 vf | jq -c .mirror)"
vdw_acked_after f3 "$(now_ms)" 0
retry_until 15 vdw_acked_after f3 "$((t_kill + 200))" 100 || fail "writes through n3 do not go on"
vdw_stop f3
cmp "$VDC_DIR/n1/vf.img" "$VDC_DIR/n2/vf.img" || fail "vf's replicas differ after a full copy under writes"
echo "ok: vf's replica files are byte-identical after the copy"
vdw_check_all vf f1 f3

step "vm's writer n1 killed under writers on n2 and n3: n2 promotes itself, n1's replica is outdated"
writer g2 n2 vm
writer g3 n3 vm
retry_until 15 vdw_acked_after g3 0 300 || fail "vdwriter g3: $(cat "$VDT_TMP/g3.err")"
t_kill=$(now_ms)
vdc kill n1 vdiskd KILL
retry_until 30 vdw_acked_after g3 "$((t_kill + 100))" 300 ||
	fail "writes through n3 do not go on without the writer ($(vdw_acks_after g3 "$t_kill") since)"
retry_until 30 vdw_acked_after g2 "$((t_kill + 100))" 300 || fail "writes on n2 do not go on"
echo "longest stall through n3 after the writer's kill: $(longest_stall g3 "$t_kill") ms"
assert_jq "n2 writes vm, n1's replica is outdated" "$(disk_json n2 vm)" \
	'.primary.node_name == "n2" and .mirror.states == ["uptodate", "outdated"]'
vdw_stop g2
vdw_stop g3

step "n1 back: copied whole from n2 (n2 does not know what n1 wrote alone), identical"
mark=$(log_mark n2)
vdc start n1 vdiskd
vdc wait-synced n1 20
wait_members n2 3 20
retry_until 30 eval '[[ $(disk_json n2 vm | jq -c .mirror.states) == "[\"uptodate\",\"uptodate\"]" ]]' ||
	fail "n1's replica is not up to date again: $(disk_json n2 vm | jq -c .mirror)"
log_has n2 "$mark" "copying $((64 << 20)) bytes to the secondary replica" ||
	fail "n2 did not copy the whole of vm to n1: $(log_since n2 "$mark" | grep copying)"
cmp "$R1" "$R2" || fail "vm's replicas differ after n1's full copy"
echo "ok: vm's replica files are byte-identical again"
wait_nbd n1 vm
vdw_check_all vm w1 w2 w3 g2 g3
no_sanitizer n1 n2 n3
pass "mirror"
