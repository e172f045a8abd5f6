#!/usr/bin/env bash
# bench/run.sh — vdisk next to the disk, nbdkit and the network, in one run.
#
# Builds a Release tree, brings up two 2-node namespace clusters
# (test/cluster/vdcluster): A with two links and policy passive, S with two
# links and policy stripe. Backing files live on tmpfs. Then, REPS times and
# interleaved (every configuration of one workload back to back, A B A B ...):
#
#   L0   fio on the backing file itself (io_uring): the limit
#   P1   nbdkit file plugin on a unix socket
#   V1   vdiskd on n1 serving a disk whose path is on n1
#   P2   nbdkit nbd plugin on n1 -> TCP -> nbdkit file plugin on n2
#   V2   vdiskd on n1 serving a disk whose primary path is on n2 (cluster A:
#        passive, so the data rides link 0 only)
#   V2s  the same on cluster S, striped over both links
#   N    iperf3 (both directions) and sockperf TCP ping-pong over link 0
#
# with the workloads 4 KiB random read at depth 1 (latency) and 32, 4 KiB
# random write at 32, 4 KiB 70/30 mix at 16, 1 MiB sequential read and write
# at 8, 4 KiB random write at 8 with a flush every 8 writes, and nbdcopy of
# the whole 1 GiB disk to null:. The client is always fio 3.33 with
# --ioengine=nbd (L0: io_uring on the file) and nbdcopy, run in n1's network
# namespace. Server CPU (utime+stime of vdiskd on both nodes, or of the
# nbdkit processes) is turned into CPU seconds per GiB moved.
#
# Then the failover figures, REPS times interleaved, with fio doing 4 KiB
# random writes at depth 8 and logging every completion: link 0 of n1 taken
# down under a disk whose primary is on n2 (cluster A, two links, passive);
# and n2, the primary of a dual-ported disk (secondary path: the same file
# from n1), lost: isolated from the network and its corosync and vdiskd
# SIGKILLed; and `vdiskctl map promote` moving that disk's primary from n2
# to n1 (and back after the run). The figure is the longest gap between two
# completions; for the promote, the I/O hold the command reports is beside it.
#
# Prints a table of medians with min and max, and the ratios of issue 7.
# Figures only: the exit status says whether the run worked, not whether a
# target was met. Raw results (fio JSON, logs) stay in $OUT.
#
# Needs root, fio, nbdkit, nbdcopy, iperf3, sockperf, jq, python3, cmake and
# the harness's tools (scripts/install-deps.sh installs them all).
#
# Environment (defaults in brackets):
#   REPS [5]           repetitions of everything
#   RUNTIME [3]        seconds per fio job
#   IPERF_S [5]        seconds per iperf3 run
#   SOCKPERF_S [3]     seconds per sockperf run
#   FAIL_RUNTIME [12]  seconds of fio per failover run (the node loss stalls
#                      for the membership change and the lost node's lease,
#                      about 5.5 s here); the fault comes at
#   FAIL_AT [3]        this many seconds into it
#   FAILOVER [1]       0 skips the failover figures
#   CONFIGS ["L0 P1 V1 P2 V2 V2s"], WORKLOADS ["rr1 rr32 rw32 mix16 sr8 sw8 fs8 copy"]
#                      subsets, for quick looks
#   DISK_SIZE [1G]     size of every disk (and of the nbdcopy)
#   SHM [/dev/shm]     where the backing files go (tmpfs)
#   OUT [/tmp/vdisk-bench-DATE]  raw results and report.md
#   VDISK_BUILD        use this build instead of configuring build-bench
#   VDC_PREFIX [vdbrun] prefix of cluster A; cluster S is ${VDC_PREFIX}s
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-5}
RUNTIME=${RUNTIME:-3}
IPERF_S=${IPERF_S:-5}
SOCKPERF_S=${SOCKPERF_S:-3}
FAIL_RUNTIME=${FAIL_RUNTIME:-12}
FAIL_AT=${FAIL_AT:-3}
FAILOVER=${FAILOVER:-1}
CONFIGS=${CONFIGS:-"L0 P1 V1 P2 V2 V2s"}
WORKLOADS=${WORKLOADS:-"rr1 rr32 rw32 mix16 sr8 sw8 fs8 copy"}
DISK_SIZE=${DISK_SIZE:-1G}
SHM=${SHM:-/dev/shm}
OUT=${OUT:-/tmp/vdisk-bench-$(date +%Y%m%d-%H%M%S)}
PA=${VDC_PREFIX:-vdbrun}
PS=${PA}s
DA=/tmp/$PA
DS=/tmp/$PS
unset VDC_TRANSPORT_EXTRA VDC_PREFIX VDC_DIR
# The figures of the README were taken without peer authentication (it
# costs only the handshake and a MAC per heartbeat).
export VDC_AUTHKEY=0
VDC=$SRC/test/cluster/vdcluster
N2=10.201.0.2
P2_PORT=10900
SP_PORT=11111
HB_TIMEOUT_MS=1000 # vdiskd's default heartbeat_timeout_ms; the clusters keep it
T_START=$SECONDS

# shellcheck source=lib.sh
source "$SRC/bench/lib.sh"

((EUID == 0)) || die "must run as root (network namespaces)"
for t in fio nbdkit nbdcopy iperf3 sockperf jq python3 cmake nft corosync stdbuf; do
	command -v "$t" >/dev/null || die "$t not found (run scripts/install-deps.sh)"
done
for v in REPS RUNTIME IPERF_S SOCKPERF_S FAIL_RUNTIME FAIL_AT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
((FAIL_AT < FAIL_RUNTIME - 2)) || die "FAIL_AT must be at least 3 s before FAIL_RUNTIME ends"
for c in $CONFIGS; do
	[[ " L0 P1 V1 P2 V2 V2s " == *" $c "* ]] || die "unknown configuration '$c' in CONFIGS"
done
for w in $WORKLOADS; do
	[[ " rr1 rr32 rw32 mix16 sr8 sw8 fs8 copy " == *" $w "* ]] || die "unknown workload '$w' in WORKLOADS"
done
[[ $(stat -f -c %T "$SHM") == tmpfs ]] || say "warning: $SHM is not tmpfs: the page cache and the device will shape the figures"
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")

# ---------------------------------------------------------------- build
bench_build "$SRC" "$OUT/build.log"

# ---------------------------------------------------------------- helpers
FILE_LOC=$SHM/$PA-local.img
FILE_REM=$SHM/$PA-remote.img
BG=()
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
	VDC_PREFIX=$PS VDC_DIR=$DS "$VDC" down >/dev/null 2>&1 || say "warning: vdcluster down ($PS) failed"
	VDC_PREFIX=$PA VDC_DIR=$DA "$VDC" down >/dev/null 2>&1 || say "warning: vdcluster down ($PA) failed"
	rm -f "$FILE_LOC" "$FILE_REM"
	[[ $rc -eq 0 ]] || say "failed (exit $rc); raw results in $OUT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vA() { VDC_PREFIX=$PA VDC_DIR=$DA "$VDC" "$@"; }
vS() { VDC_PREFIX=$PS VDC_DIR=$DS "$VDC" "$@"; }
# in_ns PREFIX NODE CMD...: run CMD in that node's network namespace.
in_ns() {
	local p=$1 n=$2
	shift 2
	nsenter --net="/run/netns/$p-n$n" "$@"
}
# nsp PREFIX NODE: the node's network namespace, for `nsenter --net=` in the
# background (a function would fork a subshell, and $! would not be the
# server's pid; nsenter execs, so $! is the program itself).
nsp() { echo "/run/netns/$1-n$2"; }
ctlA() { in_ns "$PA" 1 "$BUILD/cli/vdiskctl" "$@"; }
ctlS() { in_ns "$PS" 1 "$BUILD/cli/vdiskctl" "$@"; }

# rec CONFIG WORKLOAD METRIC REP VALUE
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/results.tsv"; }

# cpu_ticks PID...: user+system clock ticks of these processes so far.
cpu_ticks() {
	local p s=0 t
	for p in "$@"; do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
		s=$((s + t))
	done
	echo "$s"
}
HZ=$(getconf CLK_TCK)

# wait_links CLUSTER(vA|vS) CTL(ctlA|ctlS): every link of n1 to n2 up.
wait_links() {
	local ctl=$1 i st=
	for ((i = 0; i < 150; i++)); do
		st=$($ctl --json link status 2>/dev/null |
			jq -r '[.links[] | select(.node == 2) | .state] | join(",")' || true)
		[[ $st == up,up ]] && return 0
		sleep 0.1
	done
	die "links n1 -> n2 are '$st' after 15 s"
}

# ---------------------------------------------------------------- set-up
say "backing files: 2 x $DISK_SIZE of random data on $SHM"
rm -f "$FILE_LOC" "$FILE_REM"
SIZE_B=$(numfmt --from=iec "$DISK_SIZE")
head -c "$SIZE_B" /dev/urandom >"$FILE_LOC"
cp "$FILE_LOC" "$FILE_REM"
L0_DIRECT=0
if dd if="$FILE_LOC" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
	L0_DIRECT=1
fi

say "cluster $PA: 2 nodes, 2 links, policy passive"
vA up -n 2 -l 2 >"$OUT/up-$PA.log" 2>&1 || { cat "$OUT/up-$PA.log" >&2; die "vdcluster up ($PA) failed"; }
say "cluster $PS: 2 nodes, 2 links, policy stripe"
VDC_TRANSPORT_EXTRA="policy = stripe" vS up -n 2 -l 2 >"$OUT/up-$PS.log" 2>&1 ||
	{ cat "$OUT/up-$PS.log" >&2; die "vdcluster up ($PS) failed"; }
# (Right after start, before the first link statistics, `link status` can
# fail: wait for the links first.)
wait_links ctlA
wait_links ctlS
[[ $(ctlS --json link status | jq -r .policy) == stripe ]] || die "cluster $PS does not run policy stripe"

ctlA disk create loc --primary "n1:$FILE_LOC" >/dev/null
ctlA disk create rem --primary "n2:$FILE_REM" >/dev/null
# dual is rem's file again (the failover runs write to dual only): --force.
ctlA disk create dual --primary "n2:$FILE_REM" --secondary "n1:$FILE_REM" --force >/dev/null
ctlS disk create rem --primary "n2:$FILE_REM" >/dev/null

VD1A=$(vA pid n1 vdiskd)
VD2A=$(vA pid n2 vdiskd)
VD1S=$(vS pid n1 vdiskd)
VD2S=$(vS pid n2 vdiskd)

# The peers: nbdkit in the foreground (nsenter does not fork, so $! is
# nbdkit itself).
nsenter --net="$(nsp "$PA" 1)" nbdkit -f -U "$DA/p1.sock" file "$FILE_LOC" >"$OUT/nbdkit-p1.log" 2>&1 &
NBDKIT_P1=$!
BG+=("$NBDKIT_P1")
nsenter --net="$(nsp "$PA" 2)" nbdkit -f -p "$P2_PORT" -i "$N2" file "$FILE_REM" >"$OUT/nbdkit-p2-n2.log" 2>&1 &
NBDKIT_P2B=$!
BG+=("$NBDKIT_P2B")
nsenter --net="$(nsp "$PA" 1)" nbdkit -f -U "$DA/p2.sock" nbd hostname="$N2" port="$P2_PORT" >"$OUT/nbdkit-p2-n1.log" 2>&1 &
NBDKIT_P2A=$!
BG+=("$NBDKIT_P2A")
nsenter --net="$(nsp "$PA" 2)" iperf3 -s -B "$N2" >/dev/null 2>&1 &
BG+=($!)
nsenter --net="$(nsp "$PA" 2)" sockperf server -i "$N2" -p "$SP_PORT" --tcp >/dev/null 2>&1 &
BG+=($!)

VSOCK_A=$DA/n1/run-vdisk/nbd.sock
VSOCK_S=$DS/n1/run-vdisk/nbd.sock
declare -A URI=(
	[P1]="nbd+unix:///?socket=$DA/p1.sock"
	[V1]="nbd+unix:///loc?socket=$VSOCK_A"
	[P2]="nbd+unix:///?socket=$DA/p2.sock"
	[V2]="nbd+unix:///rem?socket=$VSOCK_A"
	[V2s]="nbd+unix:///rem?socket=$VSOCK_S"
)
declare -A SERVER_PIDS=(
	[L0]=""
	[P1]="$NBDKIT_P1"
	[V1]="$VD1A $VD2A"
	[P2]="$NBDKIT_P2A $NBDKIT_P2B"
	[V2]="$VD1A $VD2A"
	[V2s]="$VD1S $VD2S"
)
for ((i = 0; i < 50; i++)); do
	[[ -S $DA/p1.sock && -S $DA/p2.sock ]] && break
	sleep 0.1
done
for c in P1 V1 P2 V2 V2s; do
	in_ns "$PA" 1 nbdinfo --size "${URI[$c]}" >/dev/null 2>&1 || die "$c: no NBD server answers at ${URI[$c]}"
done

# ---------------------------------------------------------------- runs
# The workloads as fio options.
declare -A WL=(
	[rr1]="--rw=randread --bs=4k --iodepth=1"
	[rr32]="--rw=randread --bs=4k --iodepth=32"
	[rw32]="--rw=randwrite --bs=4k --iodepth=32"
	[mix16]="--rw=randrw --rwmixread=70 --bs=4k --iodepth=16"
	[sr8]="--rw=read --bs=1m --iodepth=8"
	[sw8]="--rw=write --bs=1m --iodepth=8"
	[fs8]="--rw=randwrite --bs=4k --iodepth=8 --fsync=8"
)

# run_fio CONFIG WORKLOAD REP
run_fio() {
	local c=$1 w=$2 r=$3 j=$OUT/fio-$1-$2-r$3.json t0 t1 pids
	local -a target
	if [[ $c == L0 ]]; then
		target=(--ioengine=io_uring --filename="$FILE_LOC" --direct="$L0_DIRECT")
	else
		target=(--ioengine=nbd --uri="${URI[$c]}")
	fi
	pids=${SERVER_PIDS[$c]}
	# shellcheck disable=SC2086
	t0=$(cpu_ticks $pids)
	# shellcheck disable=SC2086
	if ! in_ns "$PA" 1 fio --name="$c-$w" "${target[@]}" ${WL[$w]} --time_based \
		--runtime="$RUNTIME" --norandommap --randrepeat=0 --lat_percentiles=1 \
		--percentile_list=50:99:99.9 --output-format=json --output="$j" \
		>"$OUT/fio-$c-$w-r$r.out" 2>&1; then
		say "warning: fio $c $w failed: $(tail -n 3 "$OUT/fio-$c-$w-r$r.out" | tr '\n' ' ')"
		return 0
	fi
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $pids)
	jq -r --arg c "$c" --arg w "$w" --arg r "$r" --argjson cpu "$((t1 - t0))" --argjson hz "$HZ" \
		--argjson srv "$([[ -n $pids ]] && echo true || echo false)" '
		.jobs[0] as $j
		| ($j.read.io_bytes + $j.write.io_bytes) as $bytes
		| [["iops", ($j.read.iops + $j.write.iops)],
		   ["mib", (($j.read.bw_bytes + $j.write.bw_bytes) / 1048576)]]
		+ (if $w == "rr1" then
			[["p50", $j.read.lat_ns.percentile["50.000000"] / 1000],
			 ["p99", $j.read.lat_ns.percentile["99.000000"] / 1000],
			 ["p999", $j.read.lat_ns.percentile["99.900000"] / 1000]]
		   else [] end)
		+ (if $srv and $bytes > 0 then [["cpu", ($cpu / $hz) / ($bytes / 1073741824)]] else [] end)
		| .[] | [$c, $w, .[0], $r, (.[1] | tostring)] | @tsv' "$j" >>"$OUT/results.tsv"
}

# run_copy CONFIG REP: nbdcopy of the whole disk to null:.
run_copy() {
	local c=$1 r=$2 src t0 t1 c0 c1 pids
	if [[ $c == L0 ]]; then src=$FILE_LOC; else src=${URI[$c]}; fi
	pids=${SERVER_PIDS[$c]}
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	t0=$(date +%s%N)
	if ! in_ns "$PA" 1 nbdcopy "$src" null: >"$OUT/copy-$c-r$r.out" 2>&1; then
		say "warning: nbdcopy $c failed: $(tail -n 3 "$OUT/copy-$c-r$r.out" | tr '\n' ' ')"
		return 0
	fi
	t1=$(date +%s%N)
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	rec "$c" copy mib "$r" "$(awk -v b="$SIZE_B" -v ns="$((t1 - t0))" 'BEGIN { print b / 1048576 / (ns / 1e9) }')"
	if [[ -n $pids ]]; then
		rec "$c" copy cpu "$r" "$(awk -v t="$((c1 - c0))" -v hz="$HZ" -v b="$SIZE_B" 'BEGIN { print (t / hz) / (b / 1073741824) }')"
	fi
}

# run_net REP: iperf3 both ways and sockperf over link 0 of cluster A.
run_net() {
	local r=$1 j out
	j=$(in_ns "$PA" 1 iperf3 -c "$N2" -t "$IPERF_S" -J) || die "iperf3 failed: $j"
	rec N iperf_fwd mib "$r" "$(jq -r '.end.sum_received.bits_per_second / 8 / 1048576' <<<"$j")"
	j=$(in_ns "$PA" 1 iperf3 -c "$N2" -t "$IPERF_S" -R -J) || die "iperf3 -R failed: $j"
	rec N iperf_rev mib "$r" "$(jq -r '.end.sum_received.bits_per_second / 8 / 1048576' <<<"$j")"
	rec N sockperf p50 "$r" "$(sockperf_p50 4096)"
	rec N sockperf64 p50 "$r" "$(sockperf_p50 64)"
}

# sockperf_p50 SIZE: median full round trip (us) of SIZE-byte TCP ping-pongs.
sockperf_p50() {
	local out v
	out=$(in_ns "$PA" 1 sockperf ping-pong -i "$N2" -p "$SP_PORT" --tcp -m "$1" -t "$SOCKPERF_S" --full-rtt 2>&1) ||
		die "sockperf failed: $out"
	v=$(awk '/percentile 50.000 =/ { print $NF; f = 1 } END { exit !f }' <<<"$out") ||
		die "no p50 in sockperf's output: $out"
	echo "$v"
}

# Warm-up: every server once, short.
say "warm-up"
for c in $CONFIGS; do
	if [[ $c == L0 ]]; then continue; fi
	in_ns "$PA" 1 fio --name=warm --ioengine=nbd --uri="${URI[$c]}" --rw=randread --bs=64k \
		--iodepth=8 --time_based --runtime=1 --output=/dev/null >/dev/null 2>&1 ||
		die "fio cannot use $c (${URI[$c]})"
done

for ((r = 1; r <= REPS; r++)); do
	say "repetition $r/$REPS: network (iperf3, sockperf)"
	run_net "$r"
	for w in $WORKLOADS; do
		say "repetition $r/$REPS: $w: $CONFIGS"
		for c in $CONFIGS; do
			if [[ $w == copy ]]; then run_copy "$c" "$r"; else run_fio "$c" "$w" "$r"; fi
		done
	done
done

# ---------------------------------------------------------------- failover
# fail_fio NAME DISK: fio 4 KiB random writes at depth 8 on DISK of cluster A,
# logging every completion, in the background; sets FIO_PID.
fail_fio() {
	in_ns "$PA" 1 fio --name="$1" --ioengine=nbd --uri="nbd+unix:///$2?socket=$VSOCK_A" \
		--rw=randwrite --bs=4k --iodepth=8 --time_based --runtime="$FAIL_RUNTIME" \
		--norandommap --randrepeat=0 --write_lat_log="$OUT/$1" --log_avg_msec=0 \
		--output-format=json --output="$OUT/$1.json" >"$OUT/$1.out" 2>&1 &
	FIO_PID=$!
}

# fail_result NAME KIND REP: longest gap between completions (ms, from the
# per-I/O log) and fio's longest completion latency (ms).
fail_result() {
	local name=$1 kind=$2 r=$3 gap
	if [[ ! -s $OUT/$name.json ]] || ! jq -e '.jobs[0].error == 0' "$OUT/$name.json" >/dev/null; then
		say "warning: failover run $name: fio failed: $(tail -n 3 "$OUT/$name.out" | tr '\n' ' ')"
		rec F "$kind" errors "$r" 1
		return 0
	fi
	gap=$(sort -n -t, -k1,1 "$OUT/${name}_lat.1.log" |
		awk -F, 'NR > 1 && $1 - p > m { m = $1 - p; at = p } { p = $1 } END { print m + 0, at + 0 }')
	rec F "$kind" gap "$r" "${gap% *}"
	rec F "$kind" gap_at "$r" "${gap#* }"
	rec F "$kind" maxlat "$r" "$(jq -r '.jobs[0].write.lat_ns.max / 1e6' "$OUT/$name.json")"
	rm -f "$OUT/${name}"_{lat,clat,slat}.1.log
}

fail_link() {
	local r=$1 name=fail-link-r$1
	wait_links ctlA
	fail_fio "$name" rem
	sleep "$FAIL_AT"
	vA link n1 0 down
	wait "$FIO_PID" || true
	vA link n1 0 up
	fail_result "$name" link "$r"
	wait_links ctlA
}

fail_node() {
	local r=$1 name=fail-node-r$1 mon t_kill t_memb
	wait_links ctlA
	# corosync's own view of the membership, with the time of each change.
	# (nsenter and stdbuf exec, so $! is corosync-quorumtool itself.)
	nsenter --net="$(nsp "$PA" 1)" stdbuf -oL corosync-quorumtool -m 2>/dev/null > >(
		while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$OUT/$name.quorum"
	) &
	mon=$!
	BG+=("$mon")
	fail_fio "$name" dual
	sleep "$FAIL_AT"
	t_kill=$EPOCHREALTIME
	vA isolate n2
	vA kill n2 vdiskd
	vA kill n2 corosync
	wait "$FIO_PID" || true
	kill "$mon" 2>/dev/null || true
	sleep 0.2
	fail_result "$name" node "$r"
	t_memb=$(awk -v t="$t_kill" '$1 > t && $2 == "Nodes:" && $3 == 1 { print $1; exit }' "$OUT/$name.quorum")
	if [[ -n $t_memb ]]; then
		rec F node member "$r" "$(awk -v a="$t_kill" -v b="$t_memb" 'BEGIN { print (b - a) * 1000 }')"
	else
		say "warning: $name: corosync on n1 never reported 1 node"
	fi
	# Bring n2 back for the next round.
	vA heal n2
	vA start n2 corosync
	vA wait-quorum n2 yes >/dev/null
	vA start n2 vdiskd
	vA wait-synced n2 >/dev/null
	for ((i = 0; i < 100; i++)); do
		ctlA --json status | jq -e '.synced and (.members | length) == 2' >/dev/null && break
		sleep 0.1
	done
	wait_links ctlA
}

# fail_promote: the reconfiguration cycle under load, n2 -> n1 on disk dual;
# the primary goes back to n2 afterwards, outside the measured run.
fail_promote() {
	local r=$1 name=fail-promote-r$1 out
	wait_links ctlA
	fail_fio "$name" dual
	sleep "$FAIL_AT"
	out=$(ctlA --json map promote dual n1) || say "warning: $name: map promote failed"
	wait "$FIO_PID" || true
	fail_result "$name" promote "$r"
	if jq -e '.cycle.held_us' >/dev/null 2>&1 <<<"$out"; then
		rec F promote held "$r" "$(jq -r '.cycle.held_us / 1000' <<<"$out")"
		rec F promote cycle "$r" "$(jq -r '.cycle.cycle_us / 1000' <<<"$out")"
	fi
	ctlA map promote dual n2 >/dev/null || say "warning: cannot promote n2 back"
}

if ((FAILOVER)); then
	for ((r = 1; r <= REPS; r++)); do
		say "repetition $r/$REPS: failover, map promote under load"
		fail_promote "$r"
		say "repetition $r/$REPS: failover, link 0 down (passive, 2 links)"
		fail_link "$r"
		say "repetition $r/$REPS: failover, primary node lost (isolated, corosync and vdiskd killed)"
		fail_node "$r"
	done
fi

ctlA --json link status >"$OUT/link-status-$PA.json" 2>/dev/null || true
ctlS --json link status >"$OUT/link-status-$PS.json" 2>/dev/null || true
ctlA --json stats >"$OUT/stats-$PA.json" 2>/dev/null || true

# ---------------------------------------------------------------- report
{
	echo "date: $(date -u '+%F %H:%M UTC')"
	echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "build: $BUILD (${BUILD_TYPE:-?}${SANITIZE:+, VDISK_SANITIZE=$SANITIZE}), git $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$SRC" diff --quiet HEAD 2>/dev/null || echo ' + local changes')"
	echo "clients: $(fio --version), $(nbdcopy --version 2>/dev/null | head -n1); peers: $(nbdkit --version), $(iperf3 --version | head -n1 | cut -d' ' -f1-2), sockperf $(sockperf --version 2>&1 | grep -o -m1 '[0-9][0-9.]*[0-9]' || echo '?')"
	echo "run: REPS=$REPS RUNTIME=${RUNTIME}s per fio job, IPERF_S=$IPERF_S SOCKPERF_S=$SOCKPERF_S, FAIL_RUNTIME=$FAIL_RUNTIME FAIL_AT=$FAIL_AT, disks $DISK_SIZE on $SHM ($(stat -f -c %T "$SHM")), L0 direct=$L0_DIRECT, took $(((SECONDS - T_START) / 60)) min $(((SECONDS - T_START) % 60)) s"
} >"$OUT/header.txt"

# The lease cluster A's vdiskd derived ("lease: N ms (corosync token ..."):
# a lost node's disks wait for it after the membership change.
LEASE_MS=$(grep -ohm1 'lease: [0-9]* ms' "$DA/n1/vdiskd.log" 2>/dev/null | grep -o '[0-9]*' || echo 0)
python3 - "$OUT" "$HB_TIMEOUT_MS" "$CONFIGS" "$WORKLOADS" "$FAILOVER" "$LEASE_MS" <<'PY'
import collections, statistics, sys

out, hb, configs, workloads, failover = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5] == "1"
lease = float(sys.argv[6])
vals = collections.defaultdict(list)
with open(f"{out}/results.tsv") as f:
    for line in f:
        c, w, m, r, v = line.rstrip("\n").split("\t")
        try:
            vals[(c, w, m)].append(float(v))
        except ValueError:
            pass

def med(c, w, m):
    v = vals.get((c, w, m))
    return statistics.median(v) if v else None

def fmt(x, nd):
    if x is None:
        return "-"
    return f"{x:.{nd}f}"

def cell(c, w, m, scale=1.0, nd=0):
    v = vals.get((c, w, m))
    if not v:
        return "-"
    v = [x * scale for x in v]
    s = fmt(statistics.median(v), nd)
    if len(v) > 1:
        s += f" ({fmt(min(v), nd)}–{fmt(max(v), nd)})"
    return s

rows = [
    ("rr1", "p50", "4K rand read QD1, p50 latency (us)", 1, 1),
    ("rr1", "p99", "4K rand read QD1, p99 latency (us)", 1, 0),
    ("rr1", "p999", "4K rand read QD1, p99.9 latency (us)", 1, 0),
    ("rr32", "iops", "4K rand read QD32 (kIOPS)", 1e-3, 1),
    ("rw32", "iops", "4K rand write QD32 (kIOPS)", 1e-3, 1),
    ("mix16", "iops", "4K 70/30 rand read/write QD16 (kIOPS)", 1e-3, 1),
    ("sr8", "mib", "1M seq read QD8 (MiB/s)", 1, 0),
    ("sw8", "mib", "1M seq write QD8 (MiB/s)", 1, 0),
    ("fs8", "iops", "4K rand write QD8, flush every 8 (kIOPS)", 1e-3, 1),
    ("copy", "mib", "nbdcopy whole disk to null: (MiB/s)", 1, 0),
]
cpu_rows = [
    ("rr32", "4K rand read QD32"), ("rw32", "4K rand write QD32"), ("mix16", "4K 70/30 QD16"),
    ("sr8", "1M seq read QD8"), ("sw8", "1M seq write QD8"), ("fs8", "4K write QD8 + flush/8"),
    ("copy", "nbdcopy"),
]
lines = []
p = lines.append
p("Medians of the repetitions, (min–max) beside them.")
p("")
p("| workload | " + " | ".join(configs) + " |")
p("|---|" + "---:|" * len(configs))
for w, m, label, sc, nd in rows:
    if w in workloads:
        p(f"| {label} | " + " | ".join(cell(c, w, m, sc, nd) for c in configs) + " |")
srv = [c for c in configs if c != "L0"]
if srv:
    p("")
    p("Server CPU seconds per GiB moved (vdiskd on both nodes; nbdkit: every nbdkit of the configuration):")
    p("")
    p("| workload | " + " | ".join(srv) + " |")
    p("|---|" + "---:|" * len(srv))
    for w, label in cpu_rows:
        if w in workloads:
            p(f"| {label} | " + " | ".join(cell(c, w, "cpu", 1, 2) for c in srv) + " |")
p("")
p("Network, n1 <-> n2 over link 0 (the veth path V2 and P2 use):")
p("")
p("| figure | value |")
p("|---|---:|")
p(f"| iperf3 TCP 1 stream n1 -> n2 (MiB/s) | {cell('N', 'iperf_fwd', 'mib', 1, 0)} |")
p(f"| iperf3 TCP 1 stream n2 -> n1, -R (MiB/s) | {cell('N', 'iperf_rev', 'mib', 1, 0)} |")
p(f"| sockperf TCP ping-pong 4 KiB, p50 full RTT (us) | {cell('N', 'sockperf', 'p50', 1, 1)} |")
p(f"| sockperf TCP ping-pong 64 B, p50 full RTT (us) | {cell('N', 'sockperf64', 'p50', 1, 1)} |")
if failover:
    memb = med("F", "node", "member")
    p("")
    p("Failover: the longest gap between two completions of 4 KiB random writes at depth 8 (ms):")
    p("")
    p("| event | stall (ms) | longest I/O (ms) | target (ms) |")
    p("|---|---:|---:|---:|")
    p(f"| link 0 of n1 down (2 links, passive) | {cell('F', 'link', 'gap', 1, 0)} | {cell('F', 'link', 'maxlat', 1, 0)} | ≤ {hb + 200:.0f} (heartbeat timeout {hb:.0f} + 200) |")
    # The bound the data-safety mechanism needs (the lost node's lease after
    # the membership change, vdiskd(8)), and issue 7's target from before it.
    tgt = (f"≤ {memb + lease + 300:.0f} (membership change {cell('F', 'node', 'member', 1, 0)} + lease {lease:.0f} + 300; "
           f"before the lease: ≤ {memb + 300:.0f})") if memb is not None else "membership + lease + 300"
    p(f"| primary node lost (isolated, corosync + vdiskd killed; dual-ported disk) | {cell('F', 'node', 'gap', 1, 0)} | {cell('F', 'node', 'maxlat', 1, 0)} | {tgt} |")
    p(f"| `map promote` under load (cycle {cell('F', 'promote', 'cycle', 1, 1)} ms, I/O held {cell('F', 'promote', 'held', 1, 1)} ms) | {cell('F', 'promote', 'gap', 1, 0)} | {cell('F', 'promote', 'maxlat', 1, 0)} | ≤ 100 |")
    errs = sum(vals.get(("F", k, "errors"), [0])[0] for k in ("link", "node", "promote"))
    if errs:
        p(f"| (failover runs where fio saw an error) | {errs:.0f} | | |")

def ratio(label, num, den, target, op, fmt_="{:.2f}"):
    if num is None or den is None or den == 0:
        p(f"| {label} | - | {target} | - |")
        return
    r = num / den
    ok = (r >= target) if op == ">=" else (r <= target)
    p(f"| {label} | {fmt_.format(r)} | {op} {target} | {'met' if ok else '**missed**'} |")

p("")
p("Ratios (of the medians above) against the targets of issue 7:")
p("")
p("| ratio | value | target | |")
p("|---|---:|---:|---|")
for w, m, label in (("rr32", "iops", "4K rand read QD32"), ("rw32", "iops", "4K rand write QD32"), ("sr8", "mib", "1M seq read QD8")):
    ratio(f"V1/P1 {label}", med("V1", w, m), med("P1", w, m), 1.0, ">=")
for w, m, label, t in (("rr32", "iops", "4K rand read QD32", 2.0), ("sr8", "mib", "1M seq read QD8", 1.5)):
    ratio(f"V2/P2 {label}", med("V2", w, m), med("P2", w, m), t, ">=")
ratio("V2 1M seq read / iperf3 n2 -> n1", med("V2", "sr8", "mib"), med("N", "iperf_rev", "mib"), 0.6, ">=")
v1, v2, sp = med("V1", "rr1", "p50"), med("V2", "rr1", "p50"), med("N", "sockperf", "p50")
if None not in (v1, v2, sp):
    d = v2 - v1
    p(f"| (V2 − V1) 4K read QD1 p50 / sockperf 4 KiB RTT: ({v2:.1f} − {v1:.1f}) / {sp:.1f} us | {d / sp:.2f}x | <= 2x | {'met' if d <= 2 * sp else '**missed**'} |")
if failover:
    g = med("F", "link", "gap")
    if g is not None:
        p(f"| link down stall {g:.0f} ms / target {hb + 200:.0f} ms | {g / (hb + 200):.2f} | <= 1 | {'met' if g <= hb + 200 else '**missed**'} |")
    g = med("F", "node", "gap")
    if g is not None and memb is not None:
        b = memb + lease + 300
        p(f"| primary lost stall {g:.0f} ms / bound {b:.0f} ms (membership + lease + 300) | {g / b:.2f} | <= 1 | {'met' if g <= b else '**missed**'} |")
        p(f"| primary lost stall {g:.0f} ms / issue 7's target {memb + 300:.0f} ms (before the lease) | {g / (memb + 300):.2f} | <= 1 | {'met' if g <= memb + 300 else '**missed** (the price of I4: the lease)'} |")
    g = med("F", "promote", "gap")
    if g is not None:
        p(f"| map promote stall {g:.0f} ms / target 100 ms | {g / 100:.2f} | <= 1 | {'met' if g <= 100 else '**missed**'} |")
p("")
p("Other ratios of the medians (not targets), for reading the table:")
p("")
pairs = (("V1", "L0"), ("V1", "P1"), ("V2", "V1"), ("V2", "P2"), ("V2s", "V2"), ("V2s", "P2"))
p("| workload | " + " | ".join(f"{a}/{b}" for a, b in pairs) + " |")
p("|---|" + "---:|" * len(pairs))
for w, m, label, sc, nd in rows:
    if w not in workloads:
        continue
    cells = []
    for a, b in pairs:
        x, y = med(a, w, m), med(b, w, m)
        cells.append(f"{x / y:.2f}" if x is not None and y else "-")
    p(f"| {label} | " + " | ".join(cells) + " |")
x, y = med("V2s", "sr8", "mib"), med("N", "iperf_rev", "mib")
if x is not None and y:
    p("")
    p(f"V2s 1M seq read / iperf3 n2 -> n1 (one link; V2s has two): {x / y:.2f}")
with open(f"{out}/report.md", "w") as f:
    f.write(open(f"{out}/header.txt").read() + "\n" + "\n".join(lines) + "\n")
PY

echo
cat "$OUT/report.md"
echo
say "raw results in $OUT"
