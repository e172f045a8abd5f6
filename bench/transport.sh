#!/usr/bin/env bash
# bench/transport.sh — throughput and latency of vdisk's transport next to
# iperf3 and sockperf, over the same path (veth, bridge, veth), in one run.
#
# Brings up a 2-node, 1-link namespace cluster (test/cluster/vdcluster,
# prefix vdbench), then, REPS times and interleaved (A B A B ...):
#   throughput  iperf3, one TCP stream n1 -> n2 over link 0, IPERF_S seconds
#               vdiskctl ping n2 --size 1M --interval 0 --window 8 --count 500
#               --oneway (n2 checks each payload and answers without it: one
#               way, as iperf3's stream), and the same as an echo
#   latency     sockperf ping-pong, TCP, 4 KiB, SOCKPERF_S seconds, full RTT
#               vdiskctl ping n2 --size 4096 --count 2000 --interval 0 --window 1
#               (and sockperf over UDP, for reference)
# and prints every repetition, the medians and the two ratios of the issue:
# 1 MiB one-way ping throughput >= 70% of iperf3, 4 KiB ping p50 <= 2x
# sockperf's.
# Figures only: the exit status says whether the run worked, not whether a
# target was met.
#
# Needs root, iperf3, sockperf, jq (scripts/install-deps.sh).
# Environment:
#   VDISK_BUILD  use this build (default: configure and build a Release tree
#                in <repo>/build-bench)
#   REPS (3), IPERF_S (5), SOCKPERF_S (5), PING_BULK_COUNT (500),
#   PING_LAT_COUNT (2000), VDC_PREFIX (vdbench)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${REPS:-3}
IPERF_S=${IPERF_S:-5}
SOCKPERF_S=${SOCKPERF_S:-5}
PING_BULK_COUNT=${PING_BULK_COUNT:-500}
PING_LAT_COUNT=${PING_LAT_COUNT:-2000}
export VDC_PREFIX=${VDC_PREFIX:-vdbench}
export VDC_DIR=/tmp/$VDC_PREFIX
unset VDC_TRANSPORT_EXTRA
# The figures of the README were taken without peer authentication (it
# costs only the handshake and a MAC per heartbeat).
export VDC_AUTHKEY=0
VDC=$SRC/test/cluster/vdcluster
N2_ADDR=10.201.0.2
SP_TCP_PORT=11111
SP_UDP_PORT=11112

# shellcheck source=lib.sh
source "$SRC/bench/lib.sh"

((EUID == 0)) || die "must run as root (network namespaces)"
for t in iperf3 sockperf jq cmake; do
	command -v "$t" >/dev/null || die "$t not found (run scripts/install-deps.sh)"
done

# ---------------------------------------------------------------- build
bench_build "$SRC" /dev/null

# ---------------------------------------------------------------- cluster
SERVERS=()
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null || true; done
	"$VDC" down >/dev/null 2>&1 || say "warning: vdcluster down failed"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() {
	local n=$1
	shift
	nsenter --net="/run/netns/$VDC_PREFIX-n$n" "$@"
}
vctl() { in_ns 1 "$BUILD/cli/vdiskctl" "$@"; }

say "cluster $VDC_PREFIX: 2 nodes, 1 link"
"$VDC" up -n 2 -l 1 >/dev/null 2>"$VDC_DIR.up.log" || {
	cat "$VDC_DIR.up.log" >&2
	die "vdcluster up failed"
}
rm -f "$VDC_DIR.up.log"
for ((i = 0; i < 100; i++)); do
	st=$(vctl --json link status | jq -r '[.links[] | select(.node == 2) | .state] | join(",")')
	[[ $st == up ]] && break
	sleep 0.1
done
[[ $st == up ]] || die "link 0 to n2 is '$st' after 10 s"

in_ns 2 iperf3 -s -B "$N2_ADDR" >/dev/null 2>&1 &
SERVERS+=($!)
in_ns 2 sockperf server -i "$N2_ADDR" -p "$SP_TCP_PORT" --tcp >/dev/null 2>&1 &
SERVERS+=($!)
in_ns 2 sockperf server -i "$N2_ADDR" -p "$SP_UDP_PORT" >/dev/null 2>&1 &
SERVERS+=($!)
sleep 1

# Warm-up: connections, caches, CPU frequency.
vctl --json ping n2 --size 1M --interval 0 --window 8 --count 50 >/dev/null
vctl --json ping n2 --size 4096 --interval 0 --window 1 --count 500 >/dev/null

# ---------------------------------------------------------------- runs
iperf_mib() {
	local j
	j=$(in_ns 1 iperf3 -c "$N2_ADDR" -t "$IPERF_S" -J) || die "iperf3 failed: $j"
	jq -r '.end.sum_received.bits_per_second / 8 / 1048576' <<<"$j"
}

# cpu_ticks PID: user+system clock ticks of a process so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# ping_bulk [--oneway]: "MiB/s n1-cpu% n2-cpu%" (each vdiskd's CPU over the
# session).
ping_bulk() {
	local j c1 c2 t0 t1
	c1=$(cpu_ticks "$P1")
	c2=$(cpu_ticks "$P2")
	t0=$(date +%s%N)
	j=$(vctl --json ping n2 --size 1M --interval 0 --window 8 --count "$PING_BULK_COUNT" "$@") ||
		die "vdiskctl ping (1 MiB) failed or lost pings: $j"
	t1=$(date +%s%N)
	awk -v m="$(jq -r '.throughput_mib_s' <<<"$j")" -v a="$(($(cpu_ticks "$P1") - c1))" \
		-v b="$(($(cpu_ticks "$P2") - c2))" -v hz="$(getconf CLK_TCK)" -v ns="$((t1 - t0))" \
		'BEGIN { printf "%s %.0f %.0f\n", m, 100 * a / hz / (ns / 1e9), 100 * b / hz / (ns / 1e9) }'
}

# sockperf_p50 tcp|udp: p50 round trip in microseconds.
sockperf_p50() {
	local out args=()
	if [[ $1 == tcp ]]; then
		args=(--tcp -p "$SP_TCP_PORT")
	else
		args=(-p "$SP_UDP_PORT")
	fi
	out=$(in_ns 1 sockperf ping-pong -i "$N2_ADDR" "${args[@]}" -m 4096 -t "$SOCKPERF_S" --full-rtt 2>&1) ||
		die "sockperf ($1) failed: $out"
	awk '/percentile 50.000 =/ { print $NF; found = 1 } END { exit !found }' <<<"$out" ||
		die "no p50 in sockperf's output: $out"
}

# ping_lat: "p50 p99" of 4 KiB pings, one at a time, in microseconds.
ping_lat() {
	local j
	j=$(vctl --json ping n2 --size 4096 --interval 0 --window 1 --count "$PING_LAT_COUNT") ||
		die "vdiskctl ping (4 KiB) failed or lost pings: $j"
	jq -r '"\(.rtt_us.p50) \(.rtt_us.p99)"' <<<"$j"
}

P1=$("$VDC" pid n1 vdiskd)
P2=$("$VDC" pid n2 vdiskd)
declare -a IPERF ONEWAY OCPU1 OCPU2 BULK CPU1 CPU2 SPT SPU LAT50 LAT99
for ((r = 1; r <= REPS; r++)); do
	say "repetition $r/$REPS: iperf3"
	IPERF+=("$(iperf_mib)")
	say "repetition $r/$REPS: vdiskctl ping --oneway, 1 MiB x $PING_BULK_COUNT, window 8"
	read -r a b c <<<"$(ping_bulk --oneway)"
	ONEWAY+=("$a")
	OCPU1+=("$b")
	OCPU2+=("$c")
	say "repetition $r/$REPS: vdiskctl ping (echo), 1 MiB x $PING_BULK_COUNT, window 8"
	read -r a b c <<<"$(ping_bulk)"
	BULK+=("$a")
	CPU1+=("$b")
	CPU2+=("$c")
	say "repetition $r/$REPS: sockperf ping-pong TCP 4 KiB"
	SPT+=("$(sockperf_p50 tcp)")
	say "repetition $r/$REPS: vdiskctl ping, 4 KiB x $PING_LAT_COUNT, window 1"
	read -r a b <<<"$(ping_lat)"
	LAT50+=("$a")
	LAT99+=("$b")
	say "repetition $r/$REPS: sockperf ping-pong UDP 4 KiB"
	SPU+=("$(sockperf_p50 udp)")
done

# ---------------------------------------------------------------- report
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

row() {
	local label=$1 fmt=$2 v
	shift 2
	printf '%-46s' "$label"
	for v in "$@"; do printf " %9.${fmt}f" "$v"; done
	printf " %9.${fmt}f\n" "$(median "$@")"
}

m_iperf=$(median "${IPERF[@]}")
m_oneway=$(median "${ONEWAY[@]}")
m_bulk=$(median "${BULK[@]}")
m_spt=$(median "${SPT[@]}")
m_lat=$(median "${LAT50[@]}")

echo
echo "vdisk transport benchmark, $(date '+%F %T %Z')"
echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "build: $BUILD (${BUILD_TYPE:-?}${SANITIZE:+, VDISK_SANITIZE=$SANITIZE}), git $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$SRC" diff --quiet HEAD 2>/dev/null || echo ' +local changes')"
echo "path: n1 -> n2 over link 0: n1's veth pair, a bridge, n2's veth pair (MTU $(ip -o -n "$VDC_PREFIX-n1" link show link0 | sed -n 's/.* mtu \([0-9]*\).*/\1/p')), policy passive, authkey none"
echo
printf '%-46s' ""
for ((r = 1; r <= REPS; r++)); do printf " %9s" "run $r"; done
printf " %9s\n" median
row "iperf3 TCP 1 stream, MiB/s" 1 "${IPERF[@]}"
row "vdisk ping 1 MiB w8 --oneway, MiB/s" 1 "${ONEWAY[@]}"
row "  vdiskd CPU% during it, n1 (sender)" 0 "${OCPU1[@]}"
row "  vdiskd CPU% during it, n2 (checker)" 0 "${OCPU2[@]}"
row "vdisk ping 1 MiB w8 echo, MiB/s each way" 1 "${BULK[@]}"
row "  vdiskd CPU% during it, n1 (sender)" 0 "${CPU1[@]}"
row "  vdiskd CPU% during it, n2 (echo)" 0 "${CPU2[@]}"
row "sockperf ping-pong TCP 4 KiB, p50 RTT us" 1 "${SPT[@]}"
row "vdisk ping 4 KiB w1, p50 RTT us" 0 "${LAT50[@]}"
row "vdisk ping 4 KiB w1, p99 RTT us" 0 "${LAT99[@]}"
row "sockperf ping-pong UDP 4 KiB, p50 RTT us" 1 "${SPU[@]}"
echo
awk -v o="$m_oneway" -v b="$m_bulk" -v i="$m_iperf" -v l="$m_lat" -v s="$m_spt" 'BEGIN {
	printf "throughput: vdisk ping --oneway %.1f MiB/s / iperf3 %.1f MiB/s = %.0f%% (target >= 70%%)\n", o, i, 100 * o / i
	printf "            the echo, %.1f MiB/s each way, is %.0f%% of iperf3 per direction\n", b, 100 * b / i
	printf "            (the path carries %.1f MiB/s of payload in all)\n", 2 * b
	printf "latency:    vdisk ping p50 %.0f us / sockperf TCP p50 %.1f us = %.1fx (target <= 2x)\n", l, s, l / s
}'
