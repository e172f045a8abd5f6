#!/usr/bin/env bash
# A real block device on any node, and failover beneath it. vd1 is
# dual-ported: its primary path is on n1, its secondary on n2 (one backing
# file). n3, which has no path, puts ext4 on a loop device over its ndfs file
# (mkfs, mount, write files, fstrim, unmount); n2 mounts the same filesystem
# through its own ndfs file: clean, every file intact. Then n3 mounts it
# again and keeps writing and fsyncing while n1 (vdiskd and corosync) is
# killed: no write fails, the kernel logs no I/O error, ext4 stays
# read-write, and after an unmount it is clean with every file as written.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

loop=
mnt=
mns=
wpid=

# inns CMD...: CMD in the test's own mount namespace. Mounting there keeps
# the filesystem out of the namespaces other clusters' corosyncs copy from
# the host (unshare -m): a copy would keep it, and the loop device, busy
# after our umount.
inns() { nsenter -t "$mns" -m "$@"; }

# Loop devices and mounts outlive the cluster unless undone before `down`.
loop_cleanup() {
	if [[ -n $wpid ]]; then kill "$wpid" 2>/dev/null || true; fi
	if [[ -n $mns ]]; then
		inns umount "$mnt" 2>/dev/null || true
		kill "$mns" 2>/dev/null || true
	fi
	if [[ -n $loop ]]; then losetup -d "$loop" || true; fi
}
trap 'rc=$?; set +e; loop_cleanup; (exit $rc); _vdt_cleanup' EXIT

# attach NODE: a loop device over NODE's vd1 file, in $loop.
attach() {
	loop=$(losetup -f --show "$VDC_DIR/$1/dev/vd1") || fail "losetup on $1's vd1 failed"
	assert_eq "$loop over $1's vd1: size" "$(blockdev --getsize64 "$loop")" $((256 * 1024 * 1024))
}

detach() {
	expect_ok "umount" inns timeout 60 umount "$mnt"
	expect_ok "losetup -d $loop" losetup -d "$loop"
	loop=
}

# files_intact SUMS: every file listed in SUMS (relative to $mnt) reads back.
files_intact() {
	# shellcheck disable=SC2016
	expect_ok "$(wc -l <"$1") files intact" \
		inns bash -c 'cd "$1" && sha256sum -c --quiet "$2"' bash "$mnt" "$1"
}

# writer SECONDS: for SECONDS, rewrites 64 files of 1 MiB in turn, each with
# fsync, inside the namespace; the checksums of their last contents go to
# $VDT_TMP/sums2. Stops at the first error.
writer() {
	# shellcheck disable=SC2016
	inns bash -c '
		end=$((SECONDS + $1)) i=0
		declare -A sums=()
		while ((SECONDS < end)); do
			f=w/f$((i % 64))
			head -c 1048576 /dev/urandom >"$3/src"
			dd if="$3/src" of="$2/$f" bs=256k conv=fsync status=none || exit 1
			sums[$f]=$(sha256sum <"$3/src" | cut -d" " -f1)
			i=$((i + 1))
		done
		for f in "${!sums[@]}"; do echo "${sums[$f]}  $f"; done >"$3/sums2"
		echo "$i files written"' bash "$1" "$mnt" "$VDT_TMP"
}

step "3 nodes, 2 links; vd1 (256 MiB): primary path on n1, secondary on n2"
vdc up
f1=$(backing n1 vd1 256M)
expect_ok "create vd1" ctl n1 disk create vd1 --primary "n1:$f1" --secondary "n2:$f1"
retry_until 2 test -e "$VDC_DIR/n2/dev/vd1" -a -e "$VDC_DIR/n3/dev/vd1" ||
	fail "vd1 missing from the mounts of n2 and n3"
mnt=$VDT_TMP/mnt
mkdir -p "$mnt"
unshare -m --propagation private sleep 1d &
mns=$!
ns_ready() { [[ $(readlink "/proc/$mns/ns/mnt") != "$(readlink /proc/self/ns/mnt)" ]]; }
retry_until 2 ns_ready || fail "no private mount namespace"

step "n3 (no path): loop device, mkfs.ext4, mount, write files, fstrim"
attach n3
expect_ok "mkfs.ext4 (discards the whole device)" timeout 60 mkfs.ext4 -q -F -L vdfs "$loop"
expect_ok "mount" inns mount -t ext4 "$loop" "$mnt"
for i in 1 2 3 4 5; do
	head -c $((i * 1024 * 1024 + i)) /dev/urandom >"$VDT_TMP/f$i"
	inns cp "$VDT_TMP/f$i" "$mnt/f$i"
	(cd "$VDT_TMP" && sha256sum "f$i") >>"$VDT_TMP/sums1"
done
expect_ok "fstrim" inns timeout 30 fstrim "$mnt"
detach

step "n2: loop device over its own file, fsck, mount, files intact"
attach n2
expect_ok "e2fsck -fn: clean" timeout 60 e2fsck -fn "$loop"
assert_eq "the label" "$(blkid -s LABEL -o value "$loop")" vdfs
expect_ok "mount" inns mount -t ext4 "$loop" "$mnt"
files_intact "$VDT_TMP/sums1"
inns mkdir "$mnt/w"
detach

step "n3: write for 15 s while n1 is killed after 3 s"
attach n3
expect_ok "mount (errors=remount-ro)" inns mount -t ext4 -o errors=remount-ro "$loop" "$mnt"
klog0=$(dmesg 2>/dev/null | wc -l) || klog0=
writer 15 >"$VDT_TMP/writer.log" 2>&1 &
wpid=$!
sleep 3
kill -0 "$wpid" 2>/dev/null || fail "the writer stopped before n1 was killed: $(cat "$VDT_TMP/writer.log")"
expect_ok "kill -9 vdiskd on n1" vdc kill n1 vdiskd KILL
expect_ok "kill -9 corosync on n1" vdc kill n1 corosync KILL
rc=0
wait "$wpid" || rc=$?
wpid=
((rc == 0)) || fail "the writer failed (exit $rc): $(cat "$VDT_TMP/writer.log")"
echo "ok: writer: $(cat "$VDT_TMP/writer.log")"
assert_eq "members left" "$(members_count n3)" 2
expect_ok "stats on n3" ctl n3 --json stats
assert_jq "n2 served n3's requests after n1 died" "$OUT" \
	'[.nodes[] | select(.id == 2) | .requests] | add > 0'
assert_jq "no request failed" "$OUT" '[.disks[].errors] | add == 0'
if [[ -n $klog0 ]]; then
	errs=$(dmesg | tail -n +$((klog0 + 1)) | grep -E "${loop##*/}|EXT4-fs error" || true)
	[[ -z $errs ]] || fail "kernel errors for $loop: $errs"
	echo "ok: the kernel logged nothing about ${loop##*/}"
else
	echo "note: dmesg is not readable here; relying on the writer and the mount options"
fi
inns findmnt -n -o OPTIONS "$mnt" | grep -qw rw ||
	fail "ext4 went read-only: $(inns findmnt -n -o OPTIONS "$mnt")"
echo "ok: ext4 still read-write"
detach

step "n3: fsck, mount again: every file as written"
attach n3
expect_ok "e2fsck -fn: clean" timeout 60 e2fsck -fn "$loop"
expect_ok "mount" inns mount -t ext4 "$loop" "$mnt"
files_intact "$VDT_TMP/sums1"
files_intact "$VDT_TMP/sums2"
# Deleting a disk mounted somewhere is refused, with who has it.
expect_fail "delete of vd1 while it is mounted on n3" 1 "'vd1' is in use: n3: " \
	ctl n2 disk delete vd1
grep -qF "$(basename "$loop") over the device file" <<<"$ERR" ||
	fail "the refusal does not name the loop device: $ERR"
grep -qF "stop its users first, or delete it with --force" <<<"$ERR" ||
	fail "the refusal does not say what to do: $ERR"
expect_ok "disk show vd1 on n3" ctl n3 disk show vd1
grep -qE "^Open: +n3: .*$(basename "$loop") over the device file$" <<<"$OUT" ||
	fail "disk show does not say vd1 is open on n3: $OUT"
detach
