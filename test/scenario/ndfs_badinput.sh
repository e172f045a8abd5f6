#!/usr/bin/env bash
# Device filesystem, bad input: creating, renaming, linking or removing in the
# mount, truncating, setting times, setuid/setgid/sticky bits, chown or chgrp
# to ids this node does not know (through the mount and through vdiskctl
# perm set alike), writing past the end of the disk, and chmod on a node
# without quorum each fail with a clear error; the database (its generation
# and every row) and the disk's bytes stay as they were.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "3 nodes, 2 links; vd1 on n2 (16 MiB, 0640), its first block known"
vdc up
size=$((16 * 1024 * 1024))
f1=$(backing n2 vd1 16M)
expect_ok "create vd1" ctl n1 disk create vd1 --primary "n2:$f1" --mode 0640
mnt=$VDC_DIR/n1/dev
retry_until 2 test -e "$mnt/vd1" || fail "vd1 not in n1's mount"
expect_ok "write the first block" dd if=/dev/urandom of="$mnt/vd1" bs=4096 count=1 \
	conv=notrunc,fsync status=none
sum0=$(head -c 4096 "$mnt/vd1" | cksum)
converged 2
g0=$(generation n1)
l0=$(disk_list n1)
ls0=$(ls -l "$mnt")

uid=54321
while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
gid=54321
while getent group "$gid" >/dev/null; do gid=$((gid + 1)); done

step "nothing is created, removed, renamed or linked"
EPERM="Operation not permitted"
expect_fail "touch a new file" 1 "$EPERM" touch "$mnt/new"
expect_fail "cp into the mount" 1 "$EPERM" cp /etc/hostname "$mnt/copy"
expect_fail "mkfifo" 1 "$EPERM" mkfifo "$mnt/fifo"
expect_fail "mkdir" 1 "$EPERM" mkdir "$mnt/dir"
expect_fail "mv vd1 vd2" 1 "$EPERM" mv "$mnt/vd1" "$mnt/vd2"
expect_fail "mv out of the mount" 1 "$EPERM" mv "$mnt/vd1" "$VDT_TMP/vd1"
expect_fail "rm vd1" 1 "$EPERM" rm -f "$mnt/vd1"
expect_fail "rmdir vd1" 1 "Not a directory" rmdir "$mnt/vd1"
expect_fail "rmdir the mount" 1 "Device or resource busy" rmdir "$mnt"
expect_fail "ln -s" 1 "$EPERM" ln -s vd1 "$mnt/link"
expect_fail "hard link" 1 "$EPERM" ln "$mnt/vd1" "$mnt/hard"

step "the size and the times are the disk's"
expect_fail "truncate -s 1M" 1 "$EPERM" truncate -s 1M "$mnt/vd1"
expect_fail "truncate -s +1M" 1 "$EPERM" truncate -s +1M "$mnt/vd1"
# shellcheck disable=SC2016
expect_fail "> vd1 (O_TRUNC)" 1 "$EPERM" bash -c ': >"$1"' bash "$mnt/vd1"
expect_fail "touch -d 2000-01-01" 1 "$EPERM" touch -d 2000-01-01 "$mnt/vd1"
expect_fail "write past the end" 1 "No space left on device" \
	dd if=/dev/zero of="$mnt/vd1" bs=4096 seek=$((size / 4096)) count=1 conv=notrunc status=none
assert_eq "a read past the end is empty" \
	"$(dd if="$mnt/vd1" bs=4096 skip=$((size / 4096)) count=1 status=none | wc -c)" 0
expect_ok "touch (now) is accepted" touch "$mnt/vd1"

step "no special bits, no unknown ids"
expect_fail "chmod u+s" 1 "$EPERM" chmod u+s "$mnt/vd1"
expect_fail "chmod g+s" 1 "$EPERM" chmod g+s "$mnt/vd1"
expect_fail "chmod +t" 1 "$EPERM" chmod +t "$mnt/vd1"
expect_fail "chmod the mount's root" 1 "$EPERM" chmod 0700 "$mnt"
expect_fail "chown to unknown uid $uid" 1 "Invalid argument" chown "$uid" "$mnt/vd1"
expect_fail "chgrp to unknown gid $gid" 1 "Invalid argument" chgrp "$gid" "$mnt/vd1"
grep -q "unknown user id $uid" "$VDC_DIR/n1/vdiskd.log" ||
	fail "n1's vdiskd.log does not say why the chown was refused"
echo "ok: the log names the unknown user id"
# vdiskctl perm set agrees with the mount
SPECIAL="setuid, setgid and sticky bits are not allowed on a virtual disk"
expect_fail "perm set --mode 4755" 2 "--mode '4755': $SPECIAL" ctl n1 perm set vd1 --mode 4755
expect_fail "perm set --mode 1640" 2 "--mode '1640': $SPECIAL" ctl n2 perm set vd1 --mode 1640
expect_fail "perm set --owner $uid" 1 "unknown user '$uid'" ctl n2 perm set vd1 --owner "$uid"
expect_fail "perm set --group $gid" 1 "unknown group '$gid'" ctl n3 perm set vd1 --group "$gid"

step "chmod on a node without quorum"
vdc isolate n3
vdc wait-quorum n3 no 15
unquorate() { status_json n3 | jq -e '.quorate == false' >/dev/null; }
retry_until 5 unquorate || fail "n3's vdiskd still quorate: $(status_json n3)"
expect_fail "chmod on n3 without quorum" 1 "Read-only file system" \
	chmod 0600 "$VDC_DIR/n3/dev/vd1"
assert_eq "n3 still shows 0640" "$(stat -c %a "$VDC_DIR/n3/dev/vd1")" 640
vdc heal n3
vdc wait-quorum n3 yes 20
vdc wait-synced n3 20

step "nothing changed anywhere"
converged 5
for n in n1 n2 n3; do
	assert_eq "generation on $n" "$(generation "$n")" "$g0"
done
assert_eq "disk list" "$(disk_list n3)" "$l0"
assert_eq "ls -l" "$(ls -l "$mnt")" "$ls0"
assert_eq "the first block" "$(head -c 4096 "$VDC_DIR/n3/dev/vd1" | cksum)" "$sum0"
