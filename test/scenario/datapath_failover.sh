#!/usr/bin/env bash
# Data path failover: fio on n1 writes and verifies (crc32c) a disk whose
# primary path is on n2 and whose secondary path is on n3, both reaching the
# same bytes (a dual-ported device, modelled as one file both nodes open by
# the same path). While fio runs:
#   (a) corosync and vdiskd on the primary n2 die (SIGKILL), then n2 comes
#       back (failback under load);
#   (b) the primary's disk path fails: n2 reaches vd2 through a FUSE file
#       (nbdfuse -> nbdkit with its error filter) that starts returning EIO,
#       while n3 reaches the same backing file directly;
#   (c) link 0 goes down on n1, later on n2 (and back up).
# Every fio run must end with exit 0, no I/O error and every block verified.
# Prints "STALL <name>: N ms" per fault: the longest time one I/O took, or
# the longest gap between completions, in the phase the fault started.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"

for tool in nbdkit nbdfuse fusermount3; do
	command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh)"
done

# fio: 4 jobs (4 NBD connections), each writing 4 KiB blocks at random in its
# own quarter of the area at queue depth 16; every block is verified (crc32c)
# shortly after it is written (verify_backlog) and again at the end. A rate
# cap (RATE writes/s in all) makes a run last about SECS seconds, long enough
# to span the faults. (fio waits for its queue to drain before it sleeps to
# keep the rate, so a stalled request holds its job: the stall shows.)
RATE=${DP_RATE:-2000}
fio_job() {
	local name=$1 disk=$2 secs=$3 kib
	kib=$((secs * RATE)) # per job: secs * RATE/4 writes of 4 KiB
	fio_bg "$name" n1 "$disk" --rw=randwrite --bs=4k --iodepth=16 --numjobs=4 \
		--size="${kib}k" --offset_increment="${kib}k" --rate_iops=$((RATE / 4)) \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_backlog=1024
}

step "3 nodes, 2 links"
vdc up

shared=$VDC_DIR/shared
mkdir -p "$shared"

step "vd1: primary n2, secondary n3, one file"
f1=$shared/vd1.img
truncate -s 512M "$f1"
expect_ok "disk create vd1" ctl n1 disk create vd1 --primary "n2:$f1" --secondary "n3:$f1"

step "vd2: primary n2 through a FUSE file that can fail, secondary n3 direct"
f2=$shared/vd2.img
truncate -s 256M "$f2"
inject=$VDT_TMP/vd2.fail # while it exists, nbdkit answers EIO to everything
ksock=$VDT_TMP/nbdkit.sock
nbdkit --unix "$ksock" --pidfile "$VDT_TMP/nbdkit.pid" --filter=error \
	file file="$f2" error=EIO error-rate=1 error-file="$inject" ||
	fail "nbdkit did not start"
retry_until 5 test -s "$VDT_TMP/nbdkit.pid" || fail "nbdkit wrote no pid file"
DP_KILL_PIDS+=("$(cat "$VDT_TMP/nbdkit.pid")")
fuse=$VDC_DIR/n2/fuse
mkdir -p "$fuse"
nbdfuse "$fuse/vd2" --unix "$ksock" </dev/null >"$VDT_TMP/nbdfuse.log" 2>&1 &
DP_KILL_PIDS+=($!)
DP_UMOUNTS+=("$fuse")
retry_until 5 test -f "$fuse/vd2" || fail "nbdfuse did not expose $fuse/vd2: $(cat "$VDT_TMP/nbdfuse.log")"
expect_ok "disk create vd2" ctl n1 disk create vd2 --primary "n2:$fuse/vd2" --secondary "n3:$f2"
converged 5
wait_nbd n1 vd1
wait_nbd n1 vd2

# ------------------------------------------------------------------ (a)
# served_by NODE DISK PATH: NODE's disk show says PATH (primary, secondary)
# serves DISK now.
served_by() {
	ctl "$1" --json disk show "$2" | jq -e --arg p "$3" '.disk.serving.path == $p' >/dev/null
}

step "(a) fio on n1 against vd1; SIGKILL corosync and vdiskd on the primary n2"
s0=$(stats_json n1)
fio_job kill vd1 26
sleep 2
need_fio_running kill "the kill of n2"
served_by n1 vd1 primary || fail "(a) before the kill: $(ctl n1 --json disk show vd1)"
t_kill=$(now_ms)
vdc kill n2 corosync
vdc kill n2 vdiskd
echo "killed corosync and vdiskd on n2 at +$(elapsed_s "$t_kill")s"
wait_members n1 2 15
echo "n1 counts 2 members $(elapsed_s "$t_kill")s after the kill"
# What was out to n2 is re-issued on n3 only once n2's lease has certainly
# run out (vdiskd(8), DATA SAFETY): the membership change plus the lease.
reissued_to_n3() {
	stats_delta "$s0" "$(stats_json n1)" |
		jq -e '.disks.vd1.retried > 0 and .nodes.n3.requests > 0' >/dev/null
}
retry_until 20 reissued_to_n3 || fail "(a) nothing of vd1 re-issued on n3 within 20s of n2's departure"
echo "requests out to n2 re-issued on n3 $(elapsed_s "$t_kill")s after the kill ($(grep -o 'lease: [0-9]* ms ([^)]*)' "$VDC_DIR/n1/vdiskd.log" | head -n1))"
# disk show says which path serves vd1 now, and why: not the database's
# primary on a node that is down.
retry_until 5 served_by n1 vd1 secondary || fail "(a) n1's disk show: $(ctl n1 --json disk show vd1)"
expect_ok "(a) disk show vd1 on n1" ctl n1 disk show vd1
grep -qE "^Served by: +secondary n3 \(n2 \(primary\) is not running vdiskd\)$" <<<"$OUT" ||
	fail "(a) disk show does not say n3 serves vd1 because n2 is down: $OUT"
# n3's own fence of n2 may end a little after n1's.
n3_lists_n3() { ctl n3 disk list | grep -qE "^vd1 .* secondary n3 *$"; }
retry_until 5 n3_lists_n3 || fail "(a) disk list does not say n3 serves vd1: $(ctl n3 disk list)"
stats_settle
s1=$(stats_json n1)
need_fio_running kill "n2's restart"
step "(a) n2 comes back while fio runs"
t_back=$(now_ms)
vdc start n2 corosync
vdc start n2 vdiskd
vdc wait-synced n2 20
wait_members n1 3 15
echo "n2 is back (synced, n1 counts 3 members) $(elapsed_s "$t_back")s after its restart began"
stats_settle
s2=$(stats_json n1)
back_loaded=0
fio_running kill && back_loaded=1
fio_wait kill 60
fio_summary kill
stats_settle
s3=$(stats_json n1)
ph=$(fio_phases kill "kill=$t_kill" "rejoin=$t_back")
echo "phases: $ph"
stall_line failover-kill-primary "$ph" kill
stall_line failover-rejoin-primary "$ph" rejoin
d=$(stats_delta "$s0" "$s1")
echo "stats on n1, start to n2's departure: $d"
# What was out to n2 when it died, or sent to it before the membership
# noticed, is re-issued.
assert_jq "(a) no errors; requests re-issued and served by n3 (secondary) once n2 was gone" "$d" \
	'.disks.vd1.errors == 0 and .disks.vd1.retried > 0 and .nodes.n3.requests > 0'
echo "(a) re-issued: $(jq -c '.disks.vd1 | {retried, reroutes}' <<<"$d")"
d=$(stats_delta "$s0" "$s3")
assert_jq "(a) no errors over the whole run" "$d" '.disks.vd1.errors == 0'
if ((back_loaded)); then
	d=$(stats_delta "$s2" "$s3")
	echo "stats on n1 after n2 came back: $d"
	assert_jq "(a) requests went back to the primary n2 once it was back" "$d" \
		'.nodes.n2.requests > 0'
else
	fail "(a) fio ended before n2 was back: failback under load not tested (the run is too short for this machine)"
fi
vdiskd_alive n1 n2 n3

# ------------------------------------------------------------------ (b)
step "(b) fio on n1 against vd2; n2's path to vd2 starts failing with EIO"
mark1=$(log_mark n1)
mark2=$(log_mark n2)
s0=$(stats_json n1)
fio_job pathfail vd2 14
sleep 2
need_fio_running pathfail "the path failure"
t_fail=$(now_ms)
touch "$inject"
# Within the router's hold of the failed path (10 s), disk show says so.
retry_until 8 served_by n1 vd2 secondary || fail "(b) n1's disk show: $(ctl n1 --json disk show vd2)"
assert_jq "(b) why n3 serves vd2" "$(ctl n1 --json disk show vd2)" \
	'.disk.serving.why | test("^the primary path on n2 failed [0-9.]+ s ago$")'
# The path stays broken to the end, so that the router's retry of the failed
# path (after its hold time) meets the error again.
fio_wait pathfail 60
t_end=$(now_ms)
fio_summary pathfail
rm -f "$inject"
stats_settle
d=$(stats_delta "$s0" "$(stats_json n1)")
echo "stats on n1: $d"
ph=$(fio_phases pathfail "pathfail=$t_fail")
echo "phases: $ph"
stall_line failover-primary-path-eio "$ph" pathfail
echo "(b) the path was broken for $(awk -v a="$t_fail" -v b="$t_end" 'BEGIN { printf "%.1f", (b - a) / 1000 }')s of the run"
grep -q 'Input/output error' "$VDT_TMP/nbdfuse.log" ||
	fail "(b) nbdfuse logged no EIO: the fault was not injected"
log_since n2 "$mark2" | grep -m 3 -iE 'backend.*(error|fail)' || true
log_since n1 "$mark1" | grep -m 5 -iE 'path failed|re-issued' || true
log_has n1 "$mark1" 'primary path failed' ||
	fail "(b) n1 did not log the failed primary path"
assert_jq "(b) no client errors; requests re-issued and served by n3" "$d" \
	'.disks.vd2.errors == 0 and .disks.vd2.retried > 0 and .nodes.n3.requests > 0'
vdiskd_alive n1 n2 n3

# ------------------------------------------------------------------ (c)
step "(c) fio on n1 against vd1; link 0 down on n1, then on n2"
s0=$(stats_json n1)
fio_job link vd1 14
sleep 2
need_fio_running link "link 0 down on n1"
t_d1=$(now_ms)
vdc link n1 0 down
sleep 3
t_u1=$(now_ms)
vdc link n1 0 up
sleep 3
need_fio_running link "link 0 down on n2"
t_d2=$(now_ms)
vdc link n2 0 down
sleep 3
t_u2=$(now_ms)
vdc link n2 0 up
need_fio_running link "link 0 back up on n2"
fio_wait link 60
fio_summary link
stats_settle
d=$(stats_delta "$s0" "$(stats_json n1)")
echo "stats on n1: $d"
ph=$(fio_phases link "link0-down-n1=$t_d1" "link0-up-n1=$t_u1" "link0-down-n2=$t_d2" "link0-up-n2=$t_u2")
echo "phases: $ph"
stall_line failover-link0-down-n1 "$ph" link0-down-n1
stall_line failover-link0-up-n1 "$ph" link0-up-n1
stall_line failover-link0-down-n2 "$ph" link0-down-n2
stall_line failover-link0-up-n2 "$ph" link0-up-n2
assert_jq "(c) no client errors" "$d" '.disks.vd1.errors == 0'
echo "(c) re-issued by the router: $(jq -c '.disks.vd1 | {retried, reroutes}' <<<"$d") (the transport resends on the other link itself)"
assert_jq "(c) n2 (primary) kept serving" "$d" '.nodes.n2.requests > 0'

vdiskd_alive n1 n2 n3
no_sanitizer n1 n2 n3
pass "datapath_failover"
