#!/usr/bin/env bash
# A disk stopped on one node (vdiskctl disk stop, as the ocf:vdisk:vdisk
# agent's stop does it) is not served to that node's clients, and only
# there. vd1 has its primary path on n2 and no secondary; n3 has fio reading
# it over NBD when n3 stops it:
#   - disk list -l and disk show on other nodes show fio on n3 as a user;
#   - disk stop names the client it cuts off; fio's next request fails
#     (ESHUTDOWN: "Cannot send after transport endpoint shutdown"), and so
#     does a read of the device file through a descriptor opened before;
#   - on n3: no NBD export (nbdinfo --list lacks vd1, nbdinfo vd1 is refused,
#     qemu-img with "stopped on this node"), no device file (ls, open refused), disk
#     show says "Here: stopped";
#   - n1 still serves vd1, and n2's path serves it to n1 (reads and writes);
#   - the stop outlives a restart of n3's vdiskd (state_dir/stopped);
#   - disk start serves it on n3 again: data written through n1 while it
#     was stopped reads back on n3;
#   - refusals: an unknown disk (exit 1), a bad name (exit 2), nothing
#     changed (badinput.sh refuses a caller without the privilege).
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"

step "3 nodes, vd1 on n2's storage"
vdc up
disk_on_n2 vd1 256M
# vd2, never stopped, is listed whenever nbdinfo works: an empty list is no
# pass.
disk_on_n2 vd2 64M
assert_eq "n3 lists both" "$(nbd_exports n3)" "vd1 vd2"
[[ -e $VDC_DIR/n3/dev/vd1 ]] || fail "n3's device file of vd1 is missing before the stop"

step "n3 stops vd1 while fio reads it there"
# A file descriptor of n3's device file, open across the stop.
exec 9<"$VDC_DIR/n3/dev/vd1"
fio_bg reader n3 vd1 --rw=randread --bs=4k --iodepth=1 --size=64m --time_based --runtime=60 \
	--rate_iops=200
sleep 2
need_fio_running reader "the stop"
# Who has it open, cluster-wide, as any node lists it.
expect_ok "disk list -l on n1" ctl n1 disk list -l
grep -qE " vd1 +open on n3: 1 NBD client \(pid [0-9]+, fio\), 1 open of the device file \(pid [0-9]+, bash\)$" <<<"$OUT" ||
	fail "disk list -l on n1 does not show vd1 open on n3: $OUT"
expect_ok "disk show vd1 on n2" ctl n2 disk show vd1
grep -qE "^Open: +n3: 1 NBD client \(pid [0-9]+, fio\), 1 open of the device file \(pid [0-9]+, bash\)$" <<<"$OUT" ||
	fail "disk show on n2 does not show vd1 open on n3: $OUT"
expect_ok "disk stop vd1 on n3" ctl n3 disk stop vd1
echo "$OUT"
grep -qE "^vd1 is stopped on this node; its clients here were cut off \(their next request fails\): 1 NBD client \(pid [0-9]+, fio\), 1 open of the device file \(pid [0-9]+, bash\)$" <<<"$OUT" ||
	fail "disk stop does not name the fio it cut off: $OUT"
retry_until 10 bash -c "! kill -0 ${DP_FIO_PID[reader]} 2>/dev/null" ||
	fail "fio still runs 10 s after the stop: its requests are still served"
grep -qiE "Cannot send after transport endpoint shutdown|ESHUTDOWN" "$VDT_TMP/reader.err" ||
	fail "fio did not fail with ESHUTDOWN: $(head -c 600 "$VDT_TMP/reader.err")"
echo "ok: fio on n3 failed with: $(grep -m1 -iE 'shutdown' "$VDT_TMP/reader.err")"
unset "DP_FIO_PID[reader]"

step "n3 serves vd1 no more; n1 does"
assert_eq "n3 lists vd2 only" "$(nbd_exports n3)" vd2
rc=0
dd of=/dev/null bs=4k count=1 skip=1000 status=none <&9 2>"$VDT_TMP/dd.err" || rc=$?
exec 9<&-
((rc != 0)) || fail "a read of n3's device file opened before the stop succeeded after it"
grep -qF "Cannot send after transport endpoint shutdown" "$VDT_TMP/dd.err" ||
	fail "the open device file did not fail with ESHUTDOWN: $(cat "$VDT_TMP/dd.err")"
echo "ok: the device file opened before the stop: $(cat "$VDT_TMP/dd.err")"
# nbdinfo (libnbd) shows only the error's code, NBD_REP_ERR_UNKNOWN;
# qemu-img shows the server's message too.
client_refused "nbdinfo vd1 on n3" "server replied with error to opt_go request: No such file or directory" \
	vdc exec n3 nbdinfo "$(nbd_uri n3 vd1)"
client_refused "qemu-img info vd1 on n3" "'vd1' is stopped on this node: not served to its clients here" \
	vdc exec n3 qemu-img info "$(nbd_uri n3 vd1)"
[[ ! -e $VDC_DIR/n3/dev/vd1 ]] || fail "n3's device file of vd1 is still there"
expect_fail "open of n3's device file" 1 "No such file or directory" \
	dd if="$VDC_DIR/n3/dev/vd1" of=/dev/null bs=4k count=1 status=none
expect_ok "disk show vd1 on n3" ctl n3 disk show vd1
grep -qE "^Here: +stopped: no NBD export, no device file on this node \(vdiskctl disk start\)$" <<<"$OUT" ||
	fail "disk show on n3 does not say vd1 is stopped there: $OUT"
expect_ok "disk show vd1 on n1" ctl n1 disk show vd1
grep -qE "^Here: +served to this node's clients$" <<<"$OUT" ||
	fail "disk show on n1 does not say vd1 is served there: $OUT"
assert_eq "n1 lists both" "$(nbd_exports n1)" "vd1 vd2"
expect_ok "disk list -l on n2" ctl n2 disk list -l
grep -qE " vd1 +not open$" <<<"$OUT" || fail "disk list -l does not show vd1 unused after the stop: $OUT"
printf 'written through n1 while n3 stopped vd1 %s\n' "$RANDOM$RANDOM" >"$VDT_TMP/stamp"
expect_ok "write through n1" vdc exec n1 nbdcopy "$VDT_TMP/stamp" "$(nbd_uri n1 vd1)"
expect_ok "disk stop again: nothing to do" ctl n3 disk stop vd1
assert_eq "second stop" "$OUT" "vd1 was already stopped on this node"

step "the stop outlives a restart of n3's vdiskd"
old=$(vdc pid n3 vdiskd)
vdc restart n3 vdiskd
vdc wait-synced n3 20
[[ $(vdc pid n3 vdiskd) != "$old" ]] || fail "n3's vdiskd was not restarted"
grep -qE "'vd1' \(id [0-9]+\) stays stopped on this node" "$VDC_DIR/n3/vdiskd.log" ||
	fail "n3's restarted vdiskd did not log that vd1 stays stopped"
assert_eq "n3 lists vd2 only after the restart" "$(nbd_exports n3)" vd2
[[ ! -e $VDC_DIR/n3/dev/vd1 ]] || fail "n3's device file of vd1 is back after the restart"
echo "ok: still stopped on n3 after the restart"

step "refusals change nothing"
expect_fail "disk stop of a disk that does not exist" 1 "no such disk 'vd9' (vdiskctl disk list shows the disks)" \
	ctl n3 disk stop vd9
expect_fail "disk stop with a bad name" 2 "invalid disk name 'bad/name'" ctl n3 disk stop "bad/name"
assert_eq "n3 still lists vd2 only" "$(nbd_exports n3)" vd2

step "n3 serves vd1 again"
expect_ok "disk start vd1 on n3" ctl n3 disk start vd1
assert_eq "disk start" "$OUT" "vd1 is served on this node again"
assert_eq "n3 lists both again" "$(nbd_exports n3)" "vd1 vd2"
len=$(stat -c %s "$VDT_TMP/stamp")
cmp <(head -c "$len" "$VDC_DIR/n3/dev/vd1") "$VDT_TMP/stamp" ||
	fail "n3's device file does not read what n1 wrote while vd1 was stopped on n3"
echo "ok: n3's device file reads what n1 wrote meanwhile"
expect_ok "disk show vd1 on n3" ctl n3 disk show vd1
grep -qE "^Here: +served to this node's clients$" <<<"$OUT" || fail "disk show on n3: $OUT"
no_sanitizer n1 n2 n3

pass "$VDT_NAME"
