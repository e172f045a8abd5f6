#!/usr/bin/env bash
# Device filesystem across restarts: a clean stop unmounts it; a vdiskd killed
# with SIGKILL leaves a dead mount (ENOTCONN) that the next start detaches
# before it mounts again, and the file reads the same bytes afterwards. A
# read waiting for a path when vdiskd stops fails with EIO.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

mnt=

# mounted: n2's mount point carries ndfs.
mounted() { [[ $(findmnt -n -o FSTYPE "$mnt") == fuse.ndfs ]]; }

# reads_back: n2's file holds what was written into the backing file.
reads_back() { cmp -n 1048576 "$mnt/vd1" "$VDT_TMP/pattern"; }

step "3 nodes, 2 links; vd1 on n1, 1 MiB pattern written through n3"
vdc up
mnt=$VDC_DIR/n2/dev
f1=$(backing n1 vd1 16M)
expect_ok "create vd1" ctl n1 disk create vd1 --primary "n1:$f1"
head -c 1048576 /dev/urandom >"$VDT_TMP/pattern"
retry_until 2 test -e "$VDC_DIR/n3/dev/vd1" || fail "vd1 not in n3's mount"
expect_ok "write through n3" dd if="$VDT_TMP/pattern" of="$VDC_DIR/n3/dev/vd1" bs=64k \
	conv=notrunc,fsync status=none
retry_until 2 reads_back || fail "n2 does not read the pattern: $(reads_back 2>&1)"
echo "ok: n2 reads the pattern"

step "a clean stop unmounts, a start mounts again"
expect_ok "stop vdiskd on n2" vdc stop n2 vdiskd
mounted && fail "$mnt still mounted after vdiskd stopped: $(findmnt "$mnt")"
echo "ok: nothing mounted on $mnt"
expect_ok "start vdiskd on n2" vdc start n2 vdiskd
expect_ok "n2 synced" vdc wait-synced n2 10
mounted || fail "$mnt not mounted after the start"
retry_until 2 reads_back || fail "n2 does not read the pattern after the restart"
echo "ok: mounted again, same bytes"

step "SIGKILL leaves a dead mount; the next start replaces it"
expect_ok "kill -9 vdiskd on n2" vdc kill n2 vdiskd KILL
expect_fail "the dead mount answers ENOTCONN" 1 "Transport endpoint is not connected" \
	stat "$mnt/vd1"
reads_back >/dev/null 2>&1 && fail "a dead mount read back the pattern"
retry_until 2 test -e "$VDC_DIR/n1/dev/vd1" || fail "n1's mount lost vd1 while n2 was down"
echo "ok: n1's mount still works"
expect_ok "start vdiskd on n2 over the dead mount" vdc start n2 vdiskd
expect_ok "n2 synced" vdc wait-synced n2 10
grep -q "detaching the stale mount" "$VDC_DIR/n2/vdiskd.log" ||
	fail "vdiskd on n2 did not say it detached the stale mount"
echo "ok: vdiskd detached the stale mount"
mounted || fail "$mnt not mounted after the start over a dead mount"
assert_eq "one mount on $mnt" "$(findmnt -n -o TARGET "$mnt" | wc -l)" 1
retry_until 2 reads_back || fail "n2 does not read the pattern after the restart"
echo "ok: mounted again, same bytes"

step "a read waiting for a path when vdiskd stops gets an error, not a hang"
expect_ok "kill -9 vdiskd on n1 (vd1's only path)" vdc kill n1 vdiskd KILL
wait_members n2 2 10
dd if="$mnt/vd1" of=/dev/null bs=4096 count=1 status=none 2>"$VDT_TMP/dd.err" &
rpid=$!
sleep 1
kill -0 "$rpid" 2>/dev/null || fail "the read did not wait for a path: $(cat "$VDT_TMP/dd.err")"
echo "ok: the read waits"
expect_ok "stop vdiskd on n2" vdc stop n2 vdiskd
rc=0
wait "$rpid" || rc=$?
((rc != 0)) || fail "the read succeeded without a path"
grep -q "Input/output error" "$VDT_TMP/dd.err" || fail "the read failed otherwise: $(cat "$VDT_TMP/dd.err")"
echo "ok: the read failed with EIO when vdiskd stopped"
mounted && fail "$mnt still mounted after vdiskd stopped"
echo "ok: nothing mounted on $mnt"
