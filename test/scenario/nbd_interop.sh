#!/usr/bin/env bash
# NBD interoperability: real clients from Debian against vdiskd's NBD server
# on the node that has the disk's primary path, then on another node (the
# requests go to the primary's node over the transport). nbdinfo lists every
# disk; qemu-img, nbdcopy and fio's nbd engine move data in and out intact;
# the disk's owner, group and mode decide who may connect and who may write.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

for tool in qemu-img nbdinfo nbdcopy fio setpriv; do
	command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

step "users: vdtest (no groups), vdtestdisk (in group disk)"
if ! id vdtest >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin vdtest
fi
if ! id vdtestdisk >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin -G disk vdtestdisk
fi
id -nG vdtestdisk | tr ' ' '\n' | grep -qx disk || usermod -a -G disk vdtestdisk
echo "ok: $(id vdtest); $(id vdtestdisk)"

# as USER CMD...: CMD as USER with USER's own groups (supplementary
# groups come from /etc/group, as after a login).
as() {
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$user" --init-groups "$@"
}

# fio_ok DESC FIO-ARGS...: a fio run without errors.
fio_ok() {
	local desc=$1
	shift
	# No verify state file: it would land in the working directory.
	expect_ok "$desc" fio --name=vdisk --ioengine=nbd --output-format=json \
		--output="$VDT_TMP/fio.json" --verify_state_save=0 "$@"
	assert_jq "$desc: no errors" "$(cat "$VDT_TMP/fio.json")" '[.jobs[].error] | all(. == 0)'
}

step "3 nodes, 2 links"
vdc up
sock=$VDC_DIR/n1/run-vdisk/nbd.sock
uri() { echo "nbd+unix:///$1?socket=$sock"; }
# uri_on NODE DISK: DISK through NODE's NBD server.
uri_on() { echo "nbd+unix:///$2?socket=$VDC_DIR/$1/run-vdisk/nbd.sock"; }

f1=$(backing n1 vd1 64M)
f2=$(backing n1 vd2 16M)
f3=$(backing n1 vd3 8M)
expect_ok "create vd1 on n1" ctl n1 disk create vd1 --primary "n1:$f1"
expect_ok "create vd2 on n1" ctl n1 disk create vd2 --primary "n1:$f2"
expect_ok "create vd3 on n1, mode 0604" ctl n1 disk create vd3 --primary "n1:$f3" --mode 0604
converged 5

step "nbdinfo --list over $sock"
exports() { nbdinfo --list --json "$(uri '')" | jq -c '[.exports[]."export-name"] | sort'; }
exports_are() { [[ $(exports 2>/dev/null) == "$1" ]]; }
want=$(disk_list n1 | jq -c '[.disks[].name] | sort')
retry_until 10 exports_are "$want" ||
	fail "nbdinfo --list shows $(exports), want $want"
assert_eq "every disk is an export" "$(exports)" "$want"
expect_ok "nbdinfo vd1" nbdinfo --json "$(uri vd1)"
assert_jq "vd1: 64 MiB, writable, flush, FUA, trim, zero, multi-conn, block sizes" \
	"$(jq '.exports[0]' <<<"$OUT")" \
	'."export-size" == 67108864 and ."is_read_only" == false and .can_flush and .can_fua and
	 .can_trim and .can_zero and .can_multi_conn and ."block_size_minimum" == 1 and
	 ."block_size_preferred" == 4096 and ."block_size_maximum" == 33554432'

step "qemu-img"
head -c 64M /dev/urandom >"$VDT_TMP/src.img"
expect_ok "qemu-img convert a random 64 MiB image into vd1" \
	qemu-img convert -n -f raw -O raw "$VDT_TMP/src.img" "$(uri vd1)"
expect_ok "qemu-img compare" qemu-img compare -f raw -F raw "$VDT_TMP/src.img" "$(uri vd1)"
assert_eq "the backing file holds the image" "$(sha256sum <"$f1")" "$(sha256sum <"$VDT_TMP/src.img")"

step "nbdcopy"
head -c 16M /dev/urandom >"$VDT_TMP/small.img"
expect_ok "nbdcopy into vd2" nbdcopy "$VDT_TMP/small.img" "$(uri vd2)"
expect_ok "nbdcopy out of vd2" nbdcopy "$(uri vd2)" "$VDT_TMP/back.img"
assert_eq "sha256 after a round trip" "$(sha256sum <"$VDT_TMP/back.img")" \
	"$(sha256sum <"$VDT_TMP/small.img")"
expect_ok "nbdcopy vd2 -> vd1, server to server" nbdcopy "$(uri vd2)" "$(uri vd1)"
expect_ok "vd1 now starts with vd2's 16 MiB" \
	cmp -n 16M <(nbdcopy "$(uri vd1)" -) "$VDT_TMP/small.img"

step "fio"
fio_ok "fio randrw 4k, iodepth 32, crc32c verify over 64 MiB" --uri="$(uri vd1)" \
	--rw=randrw --bs=4k --iodepth=32 --verify=crc32c --size=64M
fio_ok "fio 1 MiB writes with a flush every 4, then verify" --uri="$(uri vd2)" \
	--rw=write --bs=1M --iodepth=8 --fsync=4 --verify=crc32c --size=16M

step "remote path: n2 and n3 serve vd1, whose primary is on n1"
expect_ok "qemu-img convert into vd1 through n2" \
	qemu-img convert -n -f raw -O raw "$VDT_TMP/src.img" "$(uri_on n2 vd1)"
expect_ok "qemu-img compare through n3" \
	qemu-img compare -f raw -F raw "$VDT_TMP/src.img" "$(uri_on n3 vd1)"
fio_ok "fio randrw 4k, iodepth 32, crc32c verify through n2" --uri="$(uri_on n2 vd1)" \
	--rw=randrw --bs=4k --iodepth=32 --verify=crc32c --size=64M
assert_eq "n1, n2 and n3 read the same vd1" \
	"$(for n in n1 n2 n3; do nbdcopy "$(uri_on $n vd1)" - | sha256sum; done | uniq | wc -l)" 1

step "permissions: vd1 and vd2 are root:disk 0660, vd3 0604"
# Refused exactly as a disk that does not exist: nothing is revealed.
client_refused "vdtest may not open vd1" "no virtual disk named 'vd1'" as vdtest qemu-img info "$(uri vd1)"
grep -q "nbd: pid [0-9]* uid $(id -u vdtest): permission denied: 'vd1'" "$VDC_DIR/n1/vdiskd.log" ||
	fail "the refusal is not in n1's vdiskd.log"
expect_ok "vdtest may read vd3" as vdtest nbdinfo --json "$(uri vd3)"
assert_jq "vd3 is read-only for vdtest" "$OUT" '.exports[0]."is_read_only" == true'
client_refused "vdtest may not write vd3" "permission denied" \
	as vdtest qemu-io -f raw -c "write 0 4k" "$(uri vd3)"
# (Its output goes through a pipe: vdtestdisk may not write in $VDT_TMP.)
sum=$(as vdtestdisk nbdcopy "$(uri vd2)" - | sha256sum) || fail "vdtestdisk cannot read vd2"
assert_eq "vdtestdisk (group disk) reads vd2 as root does" "$sum" \
	"$(nbdcopy "$(uri vd2)" - | sha256sum)"
expect_ok "vdtestdisk may write vd2" as vdtestdisk qemu-io -f raw -c "write -P 7 0 4k" "$(uri vd2)"
expect_ok "perm set vd2 0640" ctl n2 perm set vd2 --mode 0640
read_only_for() { as "$1" nbdinfo --json "$(uri "$2")" | jq -e '.exports[0]."is_read_only"'; }
retry_until 10 read_only_for vdtestdisk vd2 || fail "vd2 is not read-only for group disk after 0640"
echo "ok: after perm set 0640, vd2 is read-only for vdtestdisk"
pass "nbd_interop"
