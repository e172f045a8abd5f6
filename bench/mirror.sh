#!/usr/bin/env bash
# bench/mirror.sh — the price of a mirror, and the speed of its resync, in one run.
#
# Builds a Release tree (or uses VDISK_BUILD), brings up a 2-node namespace
# cluster (two links, passive; backing files on tmpfs) and measures, REPS
# times interleaved, with fio 3.33 --ioengine=nbd in n1's namespace on n1's
# NBD socket:
#
#   S   a disk with one path, on n1 (what any disk of n1 costs)
#   M   a mirror, n1 the writer, its second replica on n2 (every write
#       goes to both, acknowledged once both have it)
#
# for 4 KiB random writes at depth 1 (latency p50/p99) and 32 (IOPS), 1 MiB
# sequential writes at depth 8 (MiB/s) and 4 KiB random writes at depth 8
# with a flush every 8. Beside them: the TCP round trip between the nodes
# (sockperf ping-pong p50 over link 0), which M's write latency should
# exceed by about one.
#
# Then the resync, REPS times: n2's vdiskd is killed, fio rewrites the whole
# mirror through n1 (every region dirty), n2's vdiskd starts again, and the
# copy's rate is what n1's log says it copied over the time it took; beside
# it iperf3's one-stream throughput from n1 to n2 on link 0.
#
# Prints a table of medians (min and max) and the ratios of issue 12: M/S
# write latency p50 (target: at most one round trip more), M/S 1 MiB write
# throughput (target >= 0.8), resync/iperf3 (target >= 0.7). Figures only:
# the exit status says whether the run worked. Raw results in $OUT.
#
# Environment: REPS [3], RUNTIME [3] seconds per fio job, DISK_SIZE [1G],
# SHM [/dev/shm], OUT [/tmp/vdisk-mirror-bench-DATE], VDISK_BUILD, VDC_PREFIX
# [vdbmir].
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-3}
RUNTIME=${RUNTIME:-3}
DISK_SIZE=${DISK_SIZE:-1G}
SHM=${SHM:-/dev/shm}
OUT=${OUT:-/tmp/vdisk-mirror-bench-$(date +%Y%m%d-%H%M%S)}
P=${VDC_PREFIX:-vdbmir}
D=/tmp/$P
unset VDC_TRANSPORT_EXTRA VDC_PREFIX VDC_DIR
export VDC_AUTHKEY=0
VDC=$SRC/test/cluster/vdcluster
N2=10.201.0.2
SP_PORT=11112

# shellcheck source=lib.sh
source "$SRC/bench/lib.sh"

((EUID == 0)) || die "must run as root (network namespaces)"
for t in fio iperf3 sockperf jq cmake corosync nbdinfo; do
	command -v "$t" >/dev/null || die "$t not found (run scripts/install-deps.sh)"
done
for v in REPS RUNTIME; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")

bench_build "$SRC" "$OUT/build.log"

F_S=$SHM/$P-single.img
F_M1=$SHM/$P-m1.img
F_M2=$SHM/$P-m2.img
BG=()
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
	VDC_PREFIX=$P VDC_DIR=$D "$VDC" down >/dev/null 2>&1 || say "warning: vdcluster down failed"
	rm -f "$F_S" "$F_M1" "$F_M2"
	[[ $rc -eq 0 ]] || say "failed (exit $rc); raw results in $OUT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vc() { VDC_PREFIX=$P VDC_DIR=$D "$VDC" "$@"; }
in_n1() { nsenter --net="/run/netns/$P-n1" "$@"; }
ctl() { in_n1 "$BUILD/cli/vdiskctl" "$@"; }
rec() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$OUT/results.tsv"; }

say "backing files: 3 x $DISK_SIZE on $SHM"
SIZE_B=$(numfmt --from=iec "$DISK_SIZE")
rm -f "$F_S" "$F_M1" "$F_M2"
truncate -s "$SIZE_B" "$F_S" "$F_M1" "$F_M2"
say "cluster $P: 2 nodes, 2 links"
vc up -n 2 -l 2 >"$OUT/up.log" 2>&1 || { cat "$OUT/up.log" >&2; die "vdcluster up failed"; }
ctl disk create single --primary "n1:$F_S" >/dev/null
ctl disk create mir --mirror "n1:$F_M1,n2:$F_M2" --assume-clean >/dev/null
SOCK=$D/n1/run-vdisk/nbd.sock
for x in single mir; do
	for ((i = 0; i < 100; i++)); do
		in_n1 nbdinfo --size "nbd+unix:///$x?socket=$SOCK" >/dev/null 2>&1 && break
		sleep 0.1
	done
done
nsenter --net="/run/netns/$P-n2" iperf3 -s -B "$N2" >/dev/null 2>&1 &
BG+=($!)
nsenter --net="/run/netns/$P-n2" sockperf server -i "$N2" -p "$SP_PORT" --tcp >/dev/null 2>&1 &
BG+=($!)
sleep 1

declare -A WL=(
	[w1]="--rw=randwrite --bs=4k --iodepth=1"
	[w32]="--rw=randwrite --bs=4k --iodepth=32"
	[sw8]="--rw=write --bs=1m --iodepth=8"
	[fs8]="--rw=randwrite --bs=4k --iodepth=8 --fsync=8"
)
declare -A DISK=([S]=single [M]=mir)

run_fio() {
	local c=$1 w=$2 r=$3 j=$OUT/fio-$1-$2-r$3.json
	# shellcheck disable=SC2086
	in_n1 fio --name="$c-$w" --ioengine=nbd --uri="nbd+unix:///${DISK[$c]}?socket=$SOCK" \
		${WL[$w]} --time_based --runtime="$RUNTIME" --norandommap --randrepeat=0 \
		--lat_percentiles=1 --percentile_list=50:99 --output-format=json --output="$j" \
		>"$OUT/fio-$c-$w-r$r.out" 2>&1 || die "fio $c $w failed: $(tail -n 3 "$OUT/fio-$c-$w-r$r.out")"
	jq -r --arg c "$c" --arg w "$w" --arg r "$r" '.jobs[0].write as $x
		| [["iops", $x.iops], ["mib", ($x.bw_bytes / 1048576)],
		   ["p50", $x.lat_ns.percentile["50.000000"] / 1000],
		   ["p99", $x.lat_ns.percentile["99.000000"] / 1000]]
		| .[] | [$c + ":" + $w, .[0], $r, (.[1] | tostring)] | @tsv' "$j" >>"$OUT/results.tsv"
}

for ((r = 1; r <= REPS; r++)); do
	say "rep $r/$REPS: fio"
	for w in w1 w32 sw8 fs8; do
		for c in S M; do run_fio "$c" "$w" "$r"; done
	done
	say "rep $r/$REPS: sockperf, iperf3"
	in_n1 sockperf ping-pong -i "$N2" -p "$SP_PORT" --tcp -m 4096 -t 3 --full-rtt \
		>"$OUT/sockperf-r$r.out" 2>&1 || die "sockperf failed"
	rtt=$(awk '/percentile 50.000 =/ { print $NF; f = 1 } END { exit !f }' "$OUT/sockperf-r$r.out") ||
		die "no p50 in sockperf's output"
	rec net rtt_p50 "$r" "$rtt"
	in_n1 iperf3 -c "$N2" -t 5 -J >"$OUT/iperf3-r$r.json" 2>&1 || die "iperf3 failed"
	rec net iperf_mib "$r" "$(jq '.end.sum_received.bits_per_second / 8 / 1048576' "$OUT/iperf3-r$r.json")"

	say "rep $r/$REPS: resync of the whole disk"
	vc kill n2 vdiskd KILL
	for ((i = 0; i < 100; i++)); do
		[[ $(ctl --json disk list | jq -r '.disks[] | select(.name == "mir") | .mirror.states[1]') == outdated ]] && break
		in_n1 fio --name=dirty --ioengine=nbd --uri="nbd+unix:///mir?socket=$SOCK" --rw=randwrite \
			--bs=4k --size=4k --output=/dev/null >/dev/null 2>&1 || true
		sleep 0.1
	done
	in_n1 fio --name=fill --ioengine=nbd --uri="nbd+unix:///mir?socket=$SOCK" --rw=write --bs=1m \
		--iodepth=8 --size="$SIZE_B" --output=/dev/null >/dev/null 2>&1 || die "fio fill failed"
	mark=$(wc -l <"$D/n1/vdiskd.log")
	vc start n2 vdiskd >/dev/null
	for ((i = 0; i < 1200; i++)); do
		line=$(tail -n "+$((mark + 1))" "$D/n1/vdiskd.log" | grep -m1 "replica is copied: " || true)
		[[ -n $line ]] && break
		sleep 0.1
	done
	[[ -n $line ]] || die "no resync finished within 120 s"
	bytes=$(sed -n 's/.*is copied: \([0-9]*\) bytes in \([0-9]*\) ms.*/\1/p' <<<"$line")
	ms=$(sed -n 's/.*is copied: \([0-9]*\) bytes in \([0-9]*\) ms.*/\2/p' <<<"$line")
	rec resync mib "$r" "$(awk -v b="$bytes" -v ms="$ms" 'BEGIN { print b / 1048576 / (ms / 1000) }')"
	rec resync bytes "$r" "$bytes"
	for ((i = 0; i < 300; i++)); do
		[[ $(ctl --json disk list | jq -c '.disks[] | select(.name == "mir") | .mirror.states') == '["uptodate","uptodate"]' ]] && break
		sleep 0.1
	done
done

# ---------------------------------------------------------------- report
med() { awk -F'\t' -v k="$1" -v m="$2" '$1 == k && $2 == m { print $4 }' "$OUT/results.tsv" | sort -g |
	awk '{ v[NR] = $1 } END { if (NR) printf "%.1f (%.1f-%.1f)", v[int((NR + 1) / 2)], v[1], v[NR]; else print "-" }'; }
val() { awk -F'\t' -v k="$1" -v m="$2" '$1 == k && $2 == m { print $4 }' "$OUT/results.tsv" | sort -g |
	awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "# bench/mirror.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), git $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo ?)"
	echo "$(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); REPS=$REPS RUNTIME=${RUNTIME}s, disks of $DISK_SIZE on tmpfs"
	echo
	echo "| workload | S: one path | M: mirror | M/S |"
	echo "| --- | --- | --- | --- |"
	echo "| 4 KiB randwrite QD1, p50 us | $(med S:w1 p50) | $(med M:w1 p50) | $(ratio "$(val M:w1 p50)" "$(val S:w1 p50)") |"
	echo "| 4 KiB randwrite QD1, p99 us | $(med S:w1 p99) | $(med M:w1 p99) | $(ratio "$(val M:w1 p99)" "$(val S:w1 p99)") |"
	echo "| 4 KiB randwrite QD32, IOPS | $(med S:w32 iops) | $(med M:w32 iops) | $(ratio "$(val M:w32 iops)" "$(val S:w32 iops)") |"
	echo "| 1 MiB write QD8, MiB/s | $(med S:sw8 mib) | $(med M:sw8 mib) | $(ratio "$(val M:sw8 mib)" "$(val S:sw8 mib)") |"
	echo "| 4 KiB randwrite QD8 + flush/8, IOPS | $(med S:fs8 iops) | $(med M:fs8 iops) | $(ratio "$(val M:fs8 iops)" "$(val S:fs8 iops)") |"
	echo
	echo "TCP round trip n1-n2 (sockperf p50): $(med net rtt_p50) us; M's 4 KiB QD1 write p50 exceeds S's by $(awk -v a="$(val M:w1 p50)" -v b="$(val S:w1 p50)" -v t="$(val net rtt_p50)" 'BEGIN { if (t > 0) printf "%.1f round trips", (a - b) / t; else print "-" }') (target: at most 1)"
	echo "1 MiB write throughput M/S: $(ratio "$(val M:sw8 mib)" "$(val S:sw8 mib)") (target: at least 0.8)"
	echo "resync of $DISK_SIZE: $(med resync mib) MiB/s; iperf3 n1 -> n2: $(med net iperf_mib) MiB/s; resync/iperf3: $(ratio "$(val resync mib)" "$(val net iperf_mib)") (target: at least 0.7)"
} | tee "$OUT/report.md"
say "done in $SECONDS s; raw results in $OUT"
