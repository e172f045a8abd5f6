#!/usr/bin/env bash
# Data path, no path left: n1 runs with `[io] timeout_ms = 4000`; vd1's only
# path is on n2. With n2's vdiskd gone, a read on n1 waits for a path and
# fails with EIO once the timeout has passed, not before; a read that is
# waiting when n2 comes back within the timeout completes without an error.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"

TIMEOUT_MS=4000
now_ms() { echo $(($(date +%s%N) / 1000000)); }

step "3 nodes, 2 links; n1 with [io] timeout_ms = $TIMEOUT_MS"
vdc up
printf '[io]\ntimeout_ms = %s\n' "$TIMEOUT_MS" >>"$VDC_DIR/n1/vdisk.conf"
vdc restart n1 vdiskd
expect_ok "n1 synced" vdc wait-synced n1 20

step "vd1: 16 MiB, primary n2, no secondary"
disk_on_n2 vd1 16M
head -c 16M /dev/urandom >"$DP_BACKING"
retry_until 5 test -e "$VDC_DIR/n1/dev/vd1" || fail "vd1 not in n1's device filesystem"

step "n2's vdiskd killed: a read on n1 fails with EIO after the timeout"
vdc kill n2 vdiskd
wait_members n1 2 10
t0=$(now_ms)
rc=0
dd if="$VDC_DIR/n1/dev/vd1" of=/dev/null bs=4096 count=1 status=none 2>"$VDT_TMP/dd.err" || rc=$?
took=$(($(now_ms) - t0))
((rc != 0)) || fail "the read succeeded with no path to vd1"
grep -q "Input/output error" "$VDT_TMP/dd.err" || fail "the read failed otherwise: $(cat "$VDT_TMP/dd.err")"
((took >= TIMEOUT_MS - 200)) || fail "EIO after $took ms, before the $TIMEOUT_MS ms timeout"
((took <= TIMEOUT_MS + 4000)) || fail "EIO only after $took ms (timeout $TIMEOUT_MS ms)"
echo "ok: EIO after $took ms (timeout $TIMEOUT_MS ms)"

step "a read waiting when n2 comes back completes"
t0=$(now_ms)
dd if="$VDC_DIR/n1/dev/vd1" of="$VDT_TMP/got" bs=4096 skip=100 count=1 status=none \
	2>"$VDT_TMP/dd2.err" &
rpid=$!
sleep 0.5
kill -0 "$rpid" 2>/dev/null || fail "the read did not wait for a path: $(cat "$VDT_TMP/dd2.err")"
vdc start n2 vdiskd
rc=0
wait "$rpid" || rc=$?
took=$(($(now_ms) - t0))
((rc == 0)) || fail "the read failed after n2 came back (${took} ms): $(cat "$VDT_TMP/dd2.err")"
cmp "$VDT_TMP/got" <(dd if="$DP_BACKING" bs=4096 skip=100 count=1 status=none) ||
	fail "the read returned other bytes than n2's backing file holds"
echo "ok: the read waited $took ms for n2 and returned n2's bytes"

vdiskd_alive n1 n2 n3
no_sanitizer n1 n2 n3
pass "datapath_timeout"
