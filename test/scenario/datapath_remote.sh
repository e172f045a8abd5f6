#!/usr/bin/env bash
# Data path, remote: a disk whose only path is on n2 is used from the other
# nodes through their own vdiskd. qemu-img converts 1 GiB of random data into
# it through n1 and compares it back; the backing file on n2 holds exactly
# those bytes; fio from n3 writes and verifies 256 MiB at queue depth 32.
# Prints the throughputs and fio's longest completion latency.
# Last, one NBD write-zeroes of the whole disk goes to the router in 256 MiB
# pieces and leaves zeros on n2.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"

step "3 nodes, 2 links"
vdc up

step "vd1: 1 GiB, primary n2 (sparse file), no secondary"
disk_on_n2 vd1 1G
f=$DP_BACKING
assert_eq "vd1's size over NBD on n1" "$(vdc exec n1 nbdinfo --size "$(nbd_uri n1 vd1)")" 1073741824

step "1 GiB of random data"
img=$VDT_TMP/random.img
head -c 1G /dev/urandom >"$img"

step "qemu-img convert into vd1 through n1 (primary on n2)"
s0=$(stats_json n1)
t0=$(now_ms)
expect_ok "qemu-img convert -n into vd1 on n1" \
	vdc exec n1 qemu-img convert -n -f raw -O raw "$img" "$(nbd_uri n1 vd1)"
secs=$(elapsed_s "$t0")
echo "THROUGHPUT qemu-img-convert n1->n2: $(awk -v s="$secs" 'BEGIN { printf "%.1f", 1024 / s }') MiB/s (1 GiB in ${secs}s)"

step "qemu-img compare through n1"
t0=$(now_ms)
expect_ok "qemu-img compare image vs vd1 on n1" \
	vdc exec n1 qemu-img compare -f raw -F raw "$img" "$(nbd_uri n1 vd1)"
secs=$(elapsed_s "$t0")
echo "THROUGHPUT qemu-img-compare n2->n1: $(awk -v s="$secs" 'BEGIN { printf "%.1f", 1024 / s }') MiB/s (1 GiB read and compared in ${secs}s)"
# Independently of the NBD path: the bytes are in n2's backing file.
cmp "$img" "$f" || fail "n2's backing file differs from the image written through n1"
echo "ok: n2's backing file holds the image byte for byte"
rm -f "$img"

stats_settle
s1=$(stats_json n1)
d=$(stats_delta "$s0" "$s1")
echo "stats on n1 for convert+compare: $d"
assert_jq "n1 counted the I/O on vd1 without errors" "$d" \
	'.disks.vd1.requests > 0 and .disks.vd1.errors == 0'
assert_jq "n1's requests were served by n2" "$d" \
	'.nodes.n2.requests > 0 and ([.nodes | to_entries[] | select(.key != "n2") | .value.requests] | add // 0) == 0'

step "fio from n3: randwrite 4k, iodepth 32, 256 MiB, verify crc32c"
s0=$(stats_json n3)
fio_bg remote n3 vd1 --rw=randwrite --bs=4k --iodepth=32 --size=256M \
	--verify=crc32c --do_verify=1 --verify_fatal=1
fio_wait remote 80
fio_summary remote
echo "FIO remote n3->n2: max completion latency $(fio_max_clat_ms remote) ms"
stats_settle
d=$(stats_delta "$s0" "$(stats_json n3)")
echo "stats on n3 for fio: $d"
assert_jq "n3 counted fio's I/O on vd1 without errors" "$d" \
	'.disks.vd1.requests >= 131072 and .disks.vd1.errors == 0 and .nodes.n2.requests > 0'

step "one write-zeroes of the whole 1 GiB through n1: four 256 MiB pieces, zeros on n2"
s0=$(stats_json n1)
expect_ok "write-zeroes 0+1 GiB (no hole) through n1" vdc exec n1 python3 \
	"$VDISK_SRC/test/tools/nbdzero.py" "$(nbd_sock n1)" vd1 0 1073741824 no-hole
cmp -n 1073741824 "$f" /dev/zero || fail "n2's backing file is not all zeros after the write-zeroes"
echo "ok: n2's backing file holds 1 GiB of zeros"
stats_settle
d=$(stats_delta "$s0" "$(stats_json n1)")
assert_jq "n1 sent it to the router as 4 pieces" "$d" '.disks.vd1.requests == 4 and .disks.vd1.errors == 0'

vdiskd_alive n1 n2 n3
no_sanitizer n1 n2 n3
pass "datapath_remote"
