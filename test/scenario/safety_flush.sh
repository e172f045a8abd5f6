#!/usr/bin/env bash
# Data safety of FLUSH.
#  (1) I3, a failed flush is an error to the client: vd3's primary path is
#      n2 through a FUSE file (nbdfuse -> nbdkit, error filter failing every
#      flush with EIO while a file exists), its secondary n3 directly on the
#      same file. vdwriter on n1 writes and flushes every 8 writes. A write
#      n2 acknowledges while its fsync fails may be lost: the client must
#      then see its next flush fail (an FE line), not a success from n3,
#      which never saw those writes. (A router that writes through on such
#      a path never gets n2's acknowledgement: the write fails there and is
#      done on n3, and then nothing needs to fail.)
#  (2) I1, a FLUSH reaches every path that acknowledged writes since the
#      last one: vd4's primary path is n2 through a FUSE file (nbdkit with
#      its log filter), secondary n3 direct. Writes through n1 are
#      acknowledged by n2; `map promote vd4 n3` moves the disk to n3 (n2
#      stays up); then a FLUSH from the client must reach n2's path too:
#      n2's nbdkit must log a flush after the last write it took.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source=../tools/safety_lib.sh
source "$VDISK_SRC/test/tools/safety_lib.sh"

TIMEOUT_MS=3000

safety_cluster "$TIMEOUT_MS" nbdkit nbdfuse fusermount3

# ------------------------------------------------------------------ (1)
step "(1) vd3: primary n2 through nbdfuse -> nbdkit (flushes fail while a file exists), secondary n3 direct"
f3=$VDC_DIR/shared/vd3.img
truncate -s 64M "$f3"
inject=$VDT_TMP/flush.fail
# nbdkit's error filter (1.32) cannot fail flushes alone: an eval plugin
# serves the file with dd and fails flush while $inject exists.
# shellcheck disable=SC2016 # nbdkit's eval runs these with their own $3, $4
nbdkit -f --unix "$VDT_TMP/vd3.nbdkit.sock" eval \
	get_size="stat -c %s '$f3'" can_write='exit 0' can_flush='exit 0' \
	pread="dd if='$f3' bs=\$3 skip=\$4 count=1 iflag=skip_bytes status=none" \
	pwrite="dd of='$f3' bs=\$3 seek=\$4 count=1 iflag=fullblock oflag=seek_bytes conv=notrunc status=none" \
	flush="if test -e '$inject'; then echo 'EIO injecting flush error' >&2; exit 1; fi; sync '$f3'" \
	</dev/null >/dev/null 2>"$VDT_TMP/vd3.nbdkit.err" &
DP_KILL_PIDS+=($!)
fuse_mount vd3
expect_ok "disk create vd3" ctl n1 disk create vd3 --primary "n2:$FUSE_FILE" --secondary "n3:$f3"
converged 5
wait_nbd n1 vd3

step "(1) n2's flushes fail; vdwriter on n1 writes and flushes every 8 writes for 3 s"
s0=$(stats_json n1)
touch "$inject"
vdw_start w3 n1 vd3 --writer 3 --first 0 --blocks 64 --qd 4 --rate 100 --flush-every 8 --seconds 3
vdw_wait w3
rm -f "$inject"
stats_settle
d=$(stats_delta "$s0" "$(stats_json n1)")
echo "(1) stats on n1 meanwhile: $d"
acked_n2=$(jq '[(.nodes.n2.requests // 0) - (.nodes.n2.errors // 0), 0] | max' <<<"$d")
injected=$(grep -c 'injecting.*flush' "$VDT_TMP/vd3.nbdkit.err" || true)
((injected > 0)) || fail "(1) nbdkit injected no flush error: the fault never reached n2's path ($(head -n 3 "$VDT_TMP/vd3.nbdkit.err"))"
fs=$(vdw_count w3 FS) fa=$(vdw_count w3 FA) fe=$(vdw_count w3 FE)
echo "(1) n2's path failed $injected flushes and answered $acked_n2 requests with success; the client sent $fs flushes: $fa succeeded, $fe failed"
vdw_check_all vd3 w3
# Both parts run; the failures are reported together at the end.
errs=()
if ((acked_n2 > 0 && fe == 0)); then
	errs+=("$VDT_NAME: I3 violated on vd3: n2 acknowledged $acked_n2 requests while its path failed $injected flushes (EIO), and the client saw all $fa of its flushes succeed (the FLUSH was re-issued on n3, which never had the writes n2 acknowledged)")
elif ((acked_n2 > 0)); then
	echo "ok: (1) n2 acknowledged $acked_n2 requests with failing flushes, and the client saw $fe flush errors"
else
	echo "ok: (1) n2 acknowledged nothing while its flushes failed (its writes go through: they failed there and were done on n3); the client's $fa flushes covered n3"
fi

# ------------------------------------------------------------------ (2)
step "(2) vd4: primary n2 through nbdfuse -> nbdkit (log filter), secondary n3 direct"
f4=$VDC_DIR/shared/vd4.img
truncate -s 64M "$f4"
klog=$VDT_TMP/vd4.requests.log
fuse_path vd4 "$f4" log logfile="$klog"
expect_ok "disk create vd4" ctl n1 disk create vd4 --primary "n2:$FUSE_FILE" --secondary "n3:$f4"
converged 5
wait_nbd n1 vd4

step "(2) writes through n1, acknowledged by n2; no flush"
vdw_start w4 n1 vd4 --writer 4 --first 0 --blocks 64 --qd 4 --rate 200 --seconds 2
vdw_wait w4
retry_until 5 grep -q ' Write ' "$klog" || fail "(2) n2's path took no write: $(tail -n 3 "$klog")"
last_write=$(grep -n ' Write ' "$klog" | tail -n 1 | cut -d: -f1)
echo "(2) n2's nbdkit logged $(grep -c ' Write ' "$klog") write lines, the last at line $last_write"

step "(2) map promote vd4 n3 (n2 stays up), then one FLUSH from n1"
expect_ok "map promote vd4 n3" ctl n1 map promote vd4 n3
echo "$OUT"
expect_ok "flush through n1" "$VDC_HARNESS" exec n1 "$VDW" flush --socket "$(nbd_sock n1)" --export vd4
flushed() { tail -n "+$((last_write + 1))" "$klog" | grep -q ' Flush '; }
if ! retry_until 5 flushed; then
	echo "n2's nbdkit log from line $last_write:" >&2
	tail -n "+$last_write" "$klog" | head -n 20 >&2
	errs+=("$VDT_NAME: I1 at risk on vd4: the client's FLUSH after the promotion never reached n2's path, which acknowledged writes since the last flush (no flush in its nbdkit log after its last write)")
else
	echo "ok: (2) a flush reached n2's path after its last write: $(tail -n "+$((last_write + 1))" "$klog" | grep -m1 ' Flush ')"
fi
vdw_check_all vd4 w4

vdiskd_alive n1 n2 n3
no_sanitizer n1 n2 n3
if ((${#errs[@]})); then
	printf 'FAIL: %s\n' "${errs[@]}" >&2
	fail "$VDT_NAME: ${#errs[@]} of 2 parts failed (above)"
fi
pass "safety_flush"
