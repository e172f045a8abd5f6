#!/usr/bin/env bash
# Device specs end to end: disks whose paths are LABEL=, UUID= and PARTUUID=
# of loop devices (an ext4 label and UUID, a GPT partition's UUID), created
# from n1 and resolved with libblkid on n2, the node that has them. The
# disk takes the device's size; data written through n1's NBD socket lands
# on the device the tag names. A tag nobody carries fails on n2 with a clear
# error and changes nothing.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

for tool in losetup mkfs.ext4 sfdisk blkid nbdcopy; do
	command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

fsloop=
ptloop=
specs_cleanup() {
	local l
	if [[ -n $ptloop ]]; then partx -d "$ptloop" 2>/dev/null || true; fi
	for l in "$fsloop" "$ptloop"; do
		if [[ -n $l ]]; then losetup -d "$l" || true; fi
	done
}
trap 'rc=$?; set +e; specs_cleanup; (exit $rc); _vdt_cleanup' EXIT

nbd_uri() { echo "nbd+unix:///$2?socket=$VDC_DIR/$1/run-vdisk/nbd.sock"; }

# roundtrip DISK DEVICE OFFSET: 1 MiB of random data into DISK through n1's
# NBD socket; DEVICE must hold it at OFFSET.
roundtrip() {
	local disk=$1 dev=$2 off=$3
	head -c 1M /dev/urandom >"$VDT_TMP/chunk"
	truncate -s "$(vdc exec n1 nbdinfo --size "$(nbd_uri n1 "$disk")")" "$VDT_TMP/whole"
	dd if="$VDT_TMP/chunk" of="$VDT_TMP/whole" conv=notrunc status=none
	expect_ok "nbdcopy into $disk through n1" \
		vdc exec n1 nbdcopy "$VDT_TMP/whole" "$(nbd_uri n1 "$disk")"
	cmp -n 1048576 "$VDT_TMP/chunk" <(dd if="$dev" bs=1M skip=$((off / 1048576)) count=1 \
		iflag=direct status=none) || fail "$dev does not hold what was written into $disk"
	echo "ok: $dev holds what was written into $disk"
}

step "3 nodes, 2 links"
vdc up

step "an ext4 file system on a loop device (label and UUID), a GPT disk with one partition"
truncate -s 64M "$VDT_TMP/fs.img"
mkfs.ext4 -q -L "vdt-$$" "$VDT_TMP/fs.img"
fsloop=$(losetup -f --show "$VDT_TMP/fs.img")
uuid=$(blkid -s UUID -o value "$fsloop")
[[ -n $uuid ]] || fail "blkid finds no UUID on $fsloop"
truncate -s 48M "$VDT_TMP/pt.img"
sfdisk -q -X gpt "$VDT_TMP/pt.img" <<<'2048,32M'
ptloop=$(losetup -f --show -P "$VDT_TMP/pt.img")
# Kernels without the GPT parser built in leave the table to partx.
[[ -b ${ptloop}p1 ]] || partx -a "$ptloop" || true
retry_until 5 test -b "${ptloop}p1" || fail "${ptloop}p1 did not appear"
partuuid=$(blkid -p -s PART_ENTRY_UUID -o value "${ptloop}p1")
[[ -n $partuuid ]] || fail "blkid finds no partition UUID on ${ptloop}p1"
echo "ok: LABEL=vdt-$$ and UUID=$uuid on $fsloop, PARTUUID=$partuuid on ${ptloop}p1"

step "disks on n2 by LABEL=, UUID= and PARTUUID=, created from n1"
expect_ok "create by label" ctl n1 disk create bylabel --primary "n2:LABEL=vdt-$$"
# LABEL= and UUID= name one filesystem: a second disk on it is refused,
# and --force says what it overrides.
expect_fail "create by UUID on bylabel's device" 1 \
	"n2: UUID=$uuid is the storage of disk 'bylabel' already (its primary path n2:LABEL=vdt-$$)" \
	ctl n1 disk create byuuid --primary "n2:UUID=$uuid" --size 16M
expect_ok "create by UUID, --force" ctl n1 disk create byuuid --primary "n2:UUID=$uuid" --size 16M --force
grep -qF "note: --force: n2: UUID=$uuid is the storage of disk 'bylabel' too" <<<"$OUT" ||
	fail "create --force did not say what it overrode: $OUT"
expect_ok "create by PARTUUID" ctl n1 disk create bypart --primary "n2:PARTUUID=$partuuid"
converged 3
assert_jq "bylabel on n3: the device's size, the spec as given" "$(disk_json n3 bylabel)" \
	".size == 67108864 and .primary.device == \"LABEL=vdt-$$\""
assert_jq "byuuid on n3: 16 MiB as asked" "$(disk_json n3 byuuid)" '.size == 16777216'
assert_jq "bypart on n3: the partition's size" "$(disk_json n3 bypart)" '.size == 33554432'

step "data lands on the device each tag names"
roundtrip bylabel "$fsloop" 0
roundtrip bypart "${ptloop}p1" 0

step "write-zeroes not aligned to the device's blocks reach the device at once"
# fallocate refuses unaligned ranges on a block device, so these are written
# as zeros; a shared disk's other host must find them on the disk when the
# client has its answer, so the backing file under the loop device holds them
# before any writeback of the loop device's cache.
head -c 1M "$VDT_TMP/fs.img" >"$VDT_TMP/before"
# nbdzero.py does not flush, as qemu-io would when it closes.
expect_ok "write-zeroes 1000+5000 (no hole) on bylabel through n1" vdc exec n1 python3 \
	"$VDISK_SRC/test/tools/nbdzero.py" "$VDC_DIR/n1/run-vdisk/nbd.sock" bylabel 1000 5000 no-hole
expect_ok "write-zeroes 70001+3000 on bylabel through n1" vdc exec n1 python3 \
	"$VDISK_SRC/test/tools/nbdzero.py" "$VDC_DIR/n1/run-vdisk/nbd.sock" bylabel 70001 3000
zero_check() { # zero_check OFF LEN: the backing file has zeros there, and the
	# bytes either side still hold the data written before
	cmp -n "$2" <(dd if="$VDT_TMP/fs.img" bs=1 skip="$1" count="$2" status=none) /dev/zero ||
		fail "$VDT_TMP/fs.img has no zeros at $1+$2 right after the write-zeroes"
	cmp <(dd if="$VDT_TMP/fs.img" bs=1 skip=$(($1 - 1)) count=1 status=none) \
		<(dd if="$VDT_TMP/before" bs=1 skip=$(($1 - 1)) count=1 status=none) ||
		fail "the byte before $1 changed"
	cmp <(dd if="$VDT_TMP/fs.img" bs=1 skip=$(($1 + $2)) count=1 status=none) \
		<(dd if="$VDT_TMP/before" bs=1 skip=$(($1 + $2)) count=1 status=none) ||
		fail "the byte after $1+$2 changed"
}
zero_check 1000 5000
zero_check 70001 3000
echo "ok: the zeros are on the loop device's backing file, the bytes around them intact"

step "a tag nobody carries"
gen=$(generation n3)
expect_fail "LABEL= of no device" 1 "n2: LABEL=vdt-missing-$$: No such file or directory" \
	ctl n1 disk create nolabel --primary "n2:LABEL=vdt-missing-$$"
expect_fail "an unknown tag" 2 "not a device (use an absolute path, UUID=, LABEL= or PARTUUID=)" \
	ctl n1 disk create badtag --primary "n2:SERIAL=x"
assert_eq "generation unchanged" "$(generation n3)" "$gen"
