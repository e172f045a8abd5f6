#!/usr/bin/env bash
# The reconfiguration cycle on a 3-node cluster. vd1 has its primary path on
# n2 and its secondary on n3 (one file both open: a dual-ported device).
#   (a) map promote under fio load from n1, there and back: no client error;
#       prints the I/O hold time; the hooks ran on every node with the disk,
#       phase and change;
#   (b) a pre-change hook that fails cancels the cycle, mapping unchanged;
#   (c) a member that does not ack (vdiskd SIGSTOPped) cancels the cycle
#       after ack_timeout_ms and I/O goes on with the old mapping;
#   (d) the coordinator killed mid-cycle: the lowest remaining node cancels,
#       I/O goes on;
#   (e) suspend holds I/O cluster-wide until resume;
#   (f) map set moves the paths, keeps the secondary unless told
#       (--secondary none, said); bad input changes nothing;
#   (g) a primary whose path broke on its node steps down all the same.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"

ACK_MS=3000

# primary_of DISK [NODE]: the primary path's node name.
primary_of() { ctl "${2:-n1}" --json disk show "$1" | jq -r .disk.primary.node_name; }

# fio_job NAME NODE SECS: 4 KiB random writes at depth 8 on 2 connections,
# verified, about SECS seconds long.
fio_job() {
	local kib=$(($3 * 1000))
	fio_bg "$1" "$2" vd1 --rw=randwrite --bs=4k --iodepth=8 --numjobs=2 \
		--size="${kib}k" --offset_increment="${kib}k" --rate_iops=500 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_backlog=512
}

step "3 nodes, 2 links; hooks on every node, ack timeout ${ACK_MS} ms"
vdc up
for n in n1 n2 n3; do
	d=$VDC_DIR/$n
	# The hook logs its arguments and environment; files in VDT_TMP make
	# it slow (hook.sleep holds seconds) or fail on one node.
	cat >"$d/hook" <<EOF
#!/bin/sh
echo "\$1 \$2 change=\$VDISK_CHANGE primary=\$VDISK_PRIMARY secondary=\$VDISK_SECONDARY coordinator=\$VDISK_COORDINATOR txid=\$VDISK_TXID" >>"$d/hook.log"
[ -e "$VDT_TMP/hook.sleep" ] && [ "\$2" = prepare ] && sleep "\$(cat "$VDT_TMP/hook.sleep")"
[ -e "$VDT_TMP/hook.fail.$n" ] && [ "\$2" = prepare ] && exit 3
exit 0
EOF
	chmod +x "$d/hook"
	printf '[reconfig]\nack_timeout_ms = %s\npre_hook = %s\npost_hook = %s\n' \
		"$ACK_MS" "$d/hook" "$d/hook" >>"$d/vdisk.conf"
	vdc restart "$n" vdiskd
done
for n in n1 n2 n3; do expect_ok "$n synced" vdc wait-synced "$n" 15; done
f=$VDC_DIR/shared.img
truncate -s 256M "$f"
expect_ok "disk create vd1" ctl n1 disk create vd1 --primary "n2:$f" --secondary "n3:$f"
converged 5
wait_nbd n1 vd1

# ------------------------------------------------------------------ (a)
step "(a) map promote under load, from n1 and back from n3"
fio_job promote n1 12
sleep 3
need_fio_running promote "the first promote"
t_promote=$(now_ms)
expect_ok "map promote vd1 n3 (on n1)" ctl n1 map promote vd1 n3
echo "$OUT"
assert_eq "primary after the promote" "$(primary_of vd1 n2)" n3
held=$(sed -nE 's/.*I\/O held ([0-9.]+) ms.*/\1/p' <<<"$OUT")
[[ -n $held ]] || fail "map promote did not report the I/O hold time: $OUT"
grep -qE "^In use: n1: 2 NBD clients \(pid [0-9]+, fio.*\); their I/O goes on, on the paths above$" <<<"$OUT" ||
	fail "map promote does not name fio on n1 as vd1's user: $OUT"
echo "HOLD map-promote: $held ms (I/O held on the coordinator n1)"
sleep 2
need_fio_running promote "the promote back"
t_back=$(now_ms)
expect_ok "map promote vd1 n2 (on n3)" ctl n3 map promote vd1 n2
echo "$OUT"
assert_eq "primary after the promote back" "$(primary_of vd1)" n2
t_after=$(now_ms)
fio_wait promote 60
fio_summary promote
ph=$(fio_phases promote "before=0" "promote=$t_promote" "between=$((t_promote + 1000))" \
	"back=$t_back" "after=$((t_after + 500))")
stall_line map-promote "$ph" promote
stall_line map-promote-back "$ph" back
for n in n1 n2 n3; do
	log=$VDC_DIR/$n/hook.log
	grep -q "^vd1 prepare change=map primary=n3:$f secondary=n2:$f coordinator=n1" "$log" ||
		fail "$n: the pre-change hook of the promote did not run as expected: $(cat "$log")"
	grep -q "^vd1 commit change=map primary=n3:$f secondary=n2:$f coordinator=n1" "$log" ||
		fail "$n: the post-change hook of the promote did not run as expected: $(cat "$log")"
done
echo "ok: pre- and post-change hooks ran on every node with disk, phase and change"
echo "ok: (a) no client error across two promotes"

# ------------------------------------------------------------------ (b)
step "(b) a pre-change hook failing on n2 cancels"
touch "$VDT_TMP/hook.fail.n2"
expect_fail "map promote with a failing hook" 1 "pre-change hook" ctl n1 map promote vd1 n3
grep -q "n2: pre-change hook $VDC_DIR/n2/hook: exit status 3" <<<"$ERR" ||
	fail "the cancel does not name n2's hook and its exit status: $ERR"
rm -f "$VDT_TMP/hook.fail.n2"
assert_eq "primary after the cancelled promote" "$(primary_of vd1)" n2
grep -q "^vd1 cancel change=map" "$VDC_DIR/n3/hook.log" ||
	fail "n3: the post-change hook did not run for the cancel"
echo "ok: (b) cancelled, mapping unchanged, post-change hook saw the cancel"

# ------------------------------------------------------------------ (c)
step "(c) n3's vdiskd stopped (SIGSTOP): no ack, the cycle is cancelled, I/O goes on"
fio_job noack n1 12
sleep 2
need_fio_running noack "the SIGSTOP"
vdc kill n3 vdiskd STOP
t0=$(now_ms)
expect_fail "map promote with n3 stopped" 1 "no acknowledgement within $ACK_MS ms from n3" \
	ctl n1 map promote vd1 n3
echo "the cycle ended after $(elapsed_s "$t0")s"
vdc kill n3 vdiskd CONT
assert_eq "primary after the cancelled promote" "$(primary_of vd1)" n2
fio_wait noack 60
fio_summary noack
echo "ok: (c) cancelled on a missing ack, fio on n1 without error"
expect_ok "n3 synced again" vdc wait-synced n3 15

# ------------------------------------------------------------------ (d)
step "(d) the coordinator n1 dies mid-cycle: n2 cancels"
echo 4 >"$VDT_TMP/hook.sleep"
mark2=$(log_mark n2)
mark3=$(log_mark n3)
ctl n1 map promote vd1 n3 >"$VDT_TMP/d.out" 2>&1 &
ppid=$!
retry_until 5 log_has n2 "$mark2" "holding I/O" || fail "n2 never saw the PREPARE"
vdc kill n1 vdiskd KILL
wait "$ppid" || true
step "(d) n1 killed"
retry_until 8 log_has n2 "$mark2" "cancelled \(cancelled: the coordinator n1 left" ||
	fail "n2 did not cancel the orphaned cycle: $(log_since n2 "$mark2" | tail -n 20)"
retry_until 3 log_has n3 "$mark3" "cancelled \(cancelled: the coordinator n1 left" ||
	fail "n3 did not see the cancel"
rm -f "$VDT_TMP/hook.sleep"
echo "ok: n2 and n3 logged: $(log_since n3 "$mark3" | grep -m1 'cancelled (' | sed 's/^.*\] //')"
assert_eq "primary after the orphaned cycle" "$(primary_of vd1 n3)" n2
fio_job orphan n3 3
fio_wait orphan 60
echo "ok: (d) I/O through n3 goes on after the cancel"
step "(d) n1 restarts"
expect_ok "start vdiskd on n1" vdc start n1 vdiskd
expect_ok "n1 synced" vdc wait-synced n1 15

# ------------------------------------------------------------------ (e)
step "(e) suspend holds I/O cluster-wide until resume"
expect_ok "suspend vd1" ctl n2 suspend vd1
grep -qx "In use: nowhere" <<<"$OUT" || fail "suspend does not say vd1 is used nowhere: $OUT"
assert_jq "vd1 suspended" "$(ctl n1 --json disk show vd1)" '.disk.suspended == true' 
vdc exec n3 nbdcopy "$(nbd_uri n3 vd1)" - --requests=1 2>"$VDT_TMP/copy.err" | head -c 4096 >/dev/null &
cpid=$!
sleep 2
kill -0 "$cpid" 2>/dev/null || fail "a read of a suspended disk was not held: $(cat "$VDT_TMP/copy.err")"
echo "ok: a read on n3 waits while vd1 is suspended"
expect_ok "resume vd1" ctl n1 resume vd1
grep -qE "^In use: n3: 1 NBD client \(pid [0-9]+, nbdcopy\); their I/O goes on" <<<"$OUT" ||
	fail "resume does not name the waiting nbdcopy on n3: $OUT"
retry_until 10 bash -c "! kill -0 $cpid 2>/dev/null" || fail "the held read did not go on after resume"
wait "$cpid" 2>/dev/null || true
assert_jq "vd1 resumed" "$(ctl n3 --json disk show vd1)" '.disk.suspended == false' 
expect_ok "resume again (nothing to change)" ctl n1 resume vd1
grep -q "nothing to change" <<<"$OUT" || fail "a second resume did not say so: $OUT"
echo "ok: (e) held while suspended, released by resume"

# ------------------------------------------------------------------ (f)
step "(f) map set, and bad input"
expect_ok "map set vd1 to n1 and n3" ctl n2 map set vd1 --primary "n1:$f" --secondary "n3:$f"
assert_eq "primary after map set" "$(primary_of vd1 n3)" n1
gen=$(generation n1)
expect_fail "map set to a missing device" 1 "n2: $VDC_DIR/missing.img: No such file or directory" \
	ctl n1 map set vd1 --primary "n2:$VDC_DIR/missing.img"
expect_fail "promote a node without a path" 1 "n2 has no path to 'vd1'" ctl n1 map promote vd1 n2
expect_fail "promote an unknown node" 1 "unknown node 'n9'" ctl n1 map promote vd1 n9
expect_fail "promote an unknown disk" 1 "no such disk 'vd9'" ctl n1 map promote vd9 n1
expect_fail "map set without --primary" 2 "--primary NODE:DEVICE is required" \
	ctl n1 map set vd1 --secondary "n2:$f"
expect_fail "map promote without a node" 2 "missing NODE" ctl n1 map promote vd1
assert_eq "generation unchanged by bad input" "$(generation n1)" "$gen"
assert_eq "primary unchanged by bad input" "$(primary_of vd1 n2)" n1
expect_fail "map set --primary the current secondary" 1 \
	"n3:$f is the secondary path of 'vd1' already: to make it the primary, run map promote vd1 n3" \
	ctl n1 map set vd1 --primary "n3:$f"
assert_eq "generation unchanged by the refusal" "$(generation n1)" "$gen"
expect_ok "map set vd1 --primary n2 (the secondary is kept)" ctl n1 map set vd1 --primary "n2:$f"
assert_jq "vd1 keeps its secondary" "$(ctl n3 --json disk show vd1)" \
	'.disk.primary.node_name == "n2" and .disk.secondary.node_name == "n3"'
expect_ok "map set vd1 --secondary none" ctl n2 map set vd1 --primary "n1:$f" --secondary none
grep -q "^vd1 now has no secondary path" <<<"$OUT" ||
	fail "removing the secondary was not said: $OUT"
assert_jq "vd1 has no secondary" "$(ctl n3 --json disk show vd1)" \
	'.disk.primary.node_name == "n1" and .disk.secondary == null'
expect_ok "map set vd1 back to n1 and n3" ctl n2 map set vd1 --primary "n1:$f" --secondary "n3:$f"
fio_job final n2 2
fio_wait final 60
echo "ok: (f) I/O on the new mapping"
# ------------------------------------------------------------------ (g)
step "(g) the primary's path is broken on its node: promoting the other one works"
f2=$VDC_DIR/shared2.img
truncate -s 64M "$f2"
ln -s "$f2" "$VDC_DIR/n2/vd2.img"
expect_ok "disk create vd2" ctl n1 disk create vd2 --primary "n2:$VDC_DIR/n2/vd2.img" \
	--secondary "n3:$f2"
rm "$VDC_DIR/n2/vd2.img"
expect_fail "n2's path fails" 1 "No such file or directory" ctl n2 disk check vd2
mark2=$(log_mark n2)
expect_ok "map promote vd2 n3 (n2's broken path becomes the secondary)" ctl n1 map promote vd2 n3
assert_eq "vd2's primary" "$(primary_of vd2)" n3
log_has n2 "$mark2" "secondary path n2: $VDC_DIR/n2/vd2.img: No such file" ||
	fail "n2 did not warn about its broken secondary path"
expect_fail "but a new path that does not work is refused" 1 "No such file or directory" \
	ctl n1 map set vd2 --primary "n3:$f2" --secondary "n1:$VDC_DIR/n1/nothing.img"
expect_fail "and so is a new path that is vd1's storage" 1 \
	"n1: $f is the storage of disk 'vd1' already (its primary path n1:$f): a device backs one virtual disk; give another device, or --force to share it" \
	ctl n1 map set vd2 --primary "n3:$f2" --secondary "n1:$f"
expect_ok "unless forced" ctl n1 map set vd2 --primary "n3:$f2" --secondary "n1:$f" --force
echo "ok: (g) a broken path steps down, a broken new one is refused"
no_sanitizer n1 n2 n3
pass "reconfig"
