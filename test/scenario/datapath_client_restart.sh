#!/usr/bin/env bash
# Data path, client restart: n1 writes pattern A through NBD to a disk whose
# only path is on n2; vdiskd on n1 is killed (SIGKILL) and started again, so
# its router numbers requests from the start again; n1 then writes a
# different pattern B at the same offsets. n2 must run B's writes, not answer
# them from what it remembers of A's (same node, same request ids): n2's
# backing file and a read through n3 hold B byte for byte.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"

command -v nbdcopy >/dev/null || fail "nbdcopy not found (scripts/install-deps.sh)"

step "3 nodes, 2 links"
vdc up

step "vd1: 64 MiB, primary n2, no secondary"
disk_on_n2 vd1 64M
f=$DP_BACKING

a=$VDT_TMP/a.img
b=$VDT_TMP/b.img
back=$VDT_TMP/back.img
head -c 32M /dev/urandom >"$a"
head -c 32M /dev/urandom >"$b"
cmp -s "$a" "$b" && fail "the two random patterns are equal"

step "pattern A through n1 (first life of n1's vdiskd)"
expect_ok "nbdcopy A into vd1 on n1" vdc exec n1 nbdcopy "$a" "$(nbd_uri n1 vd1)"
cmp -n 33554432 "$a" "$f" || fail "n2's backing file does not hold pattern A"
echo "ok: n2's backing file holds pattern A"

step "SIGKILL vdiskd on n1 and start it again"
vdc kill n1 vdiskd
vdc start n1 vdiskd
vdc wait-synced n1 30
converged 10
wait_nbd n1 vd1 20

step "pattern B at the same offsets through n1 (request ids start again)"
expect_ok "nbdcopy B into vd1 on n1" vdc exec n1 nbdcopy "$b" "$(nbd_uri n1 vd1)"
if ! cmp -n 33554432 "$b" "$f"; then
	echo "bytes of n2's backing file that still differ from B: $(cmp -l -n 33554432 "$b" "$f" | wc -l)" >&2
	fail "n2's backing file does not hold pattern B: writes after n1's restart were skipped"
fi
echo "ok: n2's backing file holds pattern B"

step "read back through n3"
expect_ok "nbdcopy vd1 out through n3" vdc exec n3 nbdcopy "$(nbd_uri n3 vd1)" "$back"
cmp -n 33554432 "$b" "$back" || fail "vd1 read through n3 does not hold pattern B"
echo "ok: vd1 read through n3 holds pattern B"

vdiskd_alive n1 n2 n3
no_sanitizer n1 n2 n3
pass "datapath_client_restart"
