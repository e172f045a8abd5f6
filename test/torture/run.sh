#!/usr/bin/env bash
# run.sh — the torture suite: a seeded random schedule of faults against a
# namespace cluster under load from a verifying writer on every node, with a
# check of the data-safety invariants (DESIGN.md, "Data safety") after every
# fault.
#
#   test/torture/run.sh [--nodes 3|5] [--cycles N] [--seed N]
#                       [--faults kind,kind,...] [--cycle-seconds S] [--keep]
#                       [--mirror]
#
#   --nodes 3|5        cluster size (default 3), 2 links
#   --cycles N         faults to inject, one per cycle (default 30)
#   --seed N           the schedule's seed (default 1): same seed, same
#                      schedule (kind, target, hold) on any host
#   --faults LIST      the kinds to draw from (default all): vdiskd-kill
#                      vdiskd-term vdiskd-stop corosync-stop node-kill
#                      link-down link-flap isolate partition-link
#                      partition-asym disk-error disk-stall map-promote
#                      map-set suspend fast-restart (faults.sh)
#   --cycle-seconds S  mean hold of a fault (default 1.5; held 0.5-1.5 times
#                      that, but never shorter than the fault needs: past
#                      [io] timeout_ms for a freeze or a stalled path, past
#                      the membership change + FENCE_BOUND_MS + 1 s for I4)
#   --keep             keep $VDC_DIR and every writer log
#   --mirror           vd1 and vd2 are mirrored disks (docs/mirror.md), each
#                      replica a file of its own node; vd3 stays the shared
#                      fault disk. A cycle then also waits until every
#                      replica is up to date again (resync) and fails when
#                      the two replica files of a disk differ once the
#                      writers stopped; the storage check reads the
#                      secondary's replica file
#
# Environment: VDISK_BUILD (default <repo>/build: vdiskd, vdiskctl and
# test/vdwriter), VDISK_SRC, VDWRITER (the writer/checker, default
# $VDISK_BUILD/test/vdwriter), FENCE_BOUND_MS (I4 bound, default the lease
# vdiskd logs + 500 ms),
# IO_TIMEOUT_MS ([io] timeout_ms of every node, default 3000),
# TOKEN_COEFFICIENT (corosync's token_coefficient, default 0 on 3 nodes:
# the token is 1000 ms; on 5 nodes corosync's own default, 650: the token is
# 2950 ms, as a real 5-node cluster has it, because five corosyncs under load
# on a 2-vCPU host miss a 1000 ms token: "main process was not scheduled"
# for 0.8-1.6 s even at SCHED_RR), BLOCKS (per writer and disk, default
# 256), RATE (writes/s per writer, default 200 on 3 nodes, 120 on 5: the
# host carries the same 1800 writes/s either way),
# WHOLE_TIMEOUT_S (heal to whole cluster, default 150), TORTURE_OUT (results
# directory, default /tmp/vdisk-torture/<prefix>: cycles.jsonl, meta.json,
# summary.txt, and the writer logs and check reports of every cycle that
# found a violation).
#
# The cluster: NODES nodes on 2 links; 3 disks on shared storage (files under
# $VDC_DIR/shared that two nodes open), primary and secondary on different
# node pairs; the primary path of the last one (the "fault disk") is a FUSE
# file (nbdfuse) over nbdkit with the error and pause filters, so its path
# can fail (EIO) or hang, and its FUSE page cache stands for the primary
# host's own page cache of a dual-ported device. [io] timeout_ms is
# IO_TIMEOUT_MS, heartbeats the defaults (200 ms, down after 1000 ms).
#
# A cycle: inject the cycle's fault while every writer runs (one per node and
# disk, each on its own BLOCKS blocks, through its node's NBD socket), hold
# it, heal it, wait until the cluster is whole and synced, stop the writers,
# check every disk from every node's socket and from the storage itself
# (read by nbdkit, no vdiskd: the ground truth) with the writer logs of the
# last 10 cycles (I1, I2, I3, corrupt), judge I4 from the
# writer logs (acknowledgements to the node cut off, from FENCE_BOUND_MS
# after another node's vdiskd counted fewer members until the heal), record
# every vdiskd's descriptors and RSS (I6: descriptors at the end at most 8
# more than after the first cycle), look for sanitizer reports and for a
# vdiskd or corosync that died unasked, restart the writers.
#
# Output: one line per cycle (fault, target, its length, time to a whole
# cluster, cycle length, blocks verified, violations, the longest stall a
# writer on another node saw and the faulted node's own), a note when nodes
# read different data, then the summary table (torture.py summary).
# Exit 0 only if nothing was violated.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -euo/d'
	exit "${1:-2}"
}

NODES=3
CYCLES=30
SEED=1
FAULTS=all
CYCLE_SECONDS=1.5
KEEP=0
MIRROR=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--nodes) NODES=${2:-}; shift 2 || usage ;;
	--cycles) CYCLES=${2:-}; shift 2 || usage ;;
	--seed) SEED=${2:-}; shift 2 || usage ;;
	--faults) FAULTS=${2:-}; shift 2 || usage ;;
	--cycle-seconds) CYCLE_SECONDS=${2:-}; shift 2 || usage ;;
	--keep) KEEP=1; shift ;;
	--mirror) MIRROR=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
[[ $NODES == 3 || $NODES == 5 ]] || { echo "run.sh: --nodes 3 or 5" >&2; exit 2; }
[[ $CYCLES =~ ^[0-9]+$ && $SEED =~ ^[0-9]+$ && $CYCLE_SECONDS =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
	{ echo "run.sh: --cycles, --seed and --cycle-seconds want numbers" >&2; exit 2; }

TORTURE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Our own prefix (lib.sh would name it after "run"); stale runs reaped below.
VDC_PREFIX=${VDC_PREFIX:-vdt-torture-$$}
if ((KEEP)); then export VDC_KEEP=1; fi
# [io] timeout_ms in every node's vdisk.conf: vdcluster appends this text to
# the [transport] section, so it opens a section of its own.
IO_TIMEOUT_MS=${IO_TIMEOUT_MS:-3000}
export VDC_TRANSPORT_EXTRA="[io]
timeout_ms = $IO_TIMEOUT_MS"
if ((NODES == 5)); then
	TOKEN_COEFFICIENT=${TOKEN_COEFFICIENT:-650}
else
	TOKEN_COEFFICIENT=${TOKEN_COEFFICIENT:-0}
fi
export VDC_TOTEM_EXTRA="token_coefficient: $TOKEN_COEFFICIENT"

# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$TORTURE_DIR/../cluster/lib.sh"
VDT_NAME=torture
VDT_NODES=$NODES
_vdt_reap_stale vdt-torture
# shellcheck source-path=SCRIPTDIR source=faults.sh
source "$TORTURE_DIR/faults.sh"

# The I4 bound: a node outside the membership must have stopped shared I/O
# this long after the others saw the membership change. vdiskd(8): by then
# its lease has run out; default the lease vdiskd logs (set after `up`),
# plus 500 ms for the witness's polling and the writer's own log.
FENCE_BOUND_MS=${FENCE_BOUND_MS:-}
BLOCKS=${BLOCKS:-256}
# Writes/s of each writer: every block rewritten about once a second on 3
# nodes; on 5, 15 writers at 120/s load the host as 9 at 200/s do.
if ((NODES == 5)); then RATE=${RATE:-120}; else RATE=${RATE:-200}; fi
# Cycles whose writer logs a check reads (vdwriter takes 64 logs at most).
LOG_WINDOW=$((64 / NODES < 10 ? 64 / NODES : 10))
# How long the cluster may take to be whole again after a heal (corosync's
# knet sometimes takes a minute to bring links back after an nft isolation).
WHOLE_TIMEOUT_S=${WHOLE_TIMEOUT_S:-150}
VDWRITER=${VDWRITER:-$VDISK_BUILD/test/vdwriter}
TPY=$TORTURE_DIR/torture.py
OUTDIR=${TORTURE_OUT:-/tmp/vdisk-torture/$VDC_PREFIX}
LOGDIR=$OUTDIR/logs
RECORDS=$OUTDIR/cycles.jsonl

for tool in nbdkit nbdfuse fusermount3 python3 jq nft; do
	command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh)"
done
[[ -x $VDWRITER ]] || fail "$VDWRITER not found (cmake --build BUILD --target vdwriter, or set VDWRITER)"
if [[ $FAULTS == all ]]; then FAULTS=$(IFS=,; echo "${FAULT_KINDS[*]}"); fi
mkdir -p "$LOGDIR"
: >"$RECORDS"

now_ms() { date +%s%3N; }
mapfile -t NODE_NAMES < <(seq -f 'n%g' 1 "$NODES")
sock_of() { echo "$VDC_DIR/$1/run-vdisk/nbd.sock"; }

# ------------------------------------------------------------------ cleanup

TORTURE_KILL=() # nbdkit, nbdfuse
CYCLE=0
SUMMARY_DONE=0
TOTAL_VIOL=0
FAILED=
F_KIND=
F_TARGET=
TORTURE_UMOUNT=()
declare -A WPID=() WOUT=()
_torture_cleanup() {
	local p m
	set +e
	faults_cleanup
	# A run that stopped in the middle (a fault or the harness failed, or
	# it was interrupted) still reports what its cycles found.
	if ((!SUMMARY_DONE && CYCLE > 0)) && [[ -s $RECORDS ]]; then
		FAILED="the run stopped in cycle $CYCLE ($F_KIND $F_TARGET)${FAILED:+; $FAILED}"
		echo "FAIL: $FAILED" >&2
		write_summary
	fi
	for p in "${WPID[@]}"; do kill -KILL "$p" 2>/dev/null; done
	# vdiskd first (lib.sh's cleanup), then the FUSE path under it: here
	# only what would keep the teardown waiting.
	for m in "${TORTURE_UMOUNT[@]}"; do
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for p in "${TORTURE_KILL[@]}"; do kill -TERM "$p" 2>/dev/null; done
}
# shellcheck disable=SC2154 # _t_rc is assigned inside the trap string
trap '_t_rc=$?; _torture_cleanup; (exit $_t_rc); _vdt_cleanup' EXIT

# ------------------------------------------------------------------ cluster

step "torture: $NODES nodes, $CYCLES cycles, seed $SEED, faults $FAULTS$( ((MIRROR)) && echo ", vd1 and vd2 mirrored"); results in $OUTDIR"
vdc up -n "$NODES"
# vdiskd logs "lease: L ms (corosync token T + consensus C + E ms)": the
# membership changes T + C after a node falls silent, the schedule's holds
# wait for that.
lease_line=$(grep -ohm1 'lease: [0-9]* ms (corosync token [0-9]* + consensus [0-9]*' "$VDC_DIR/n1/vdiskd.log" || true)
[[ $lease_line =~ ([0-9]+)\ ms.*token\ ([0-9]+).*consensus\ ([0-9]+) ]] ||
	fail "torture: n1's vdiskd logged no automatic lease (lease: N ms (corosync token T + consensus C ...))"
MEMBERSHIP_MS=$((BASH_REMATCH[2] + BASH_REMATCH[3]))
FENCE_BOUND_MS=${FENCE_BOUND_MS:-$((BASH_REMATCH[1] + 500))}

shared=$VDC_DIR/shared
mkdir -p "$shared"
DISKS=(vd1 vd2 vd3)
FAULT_DISK=vd3
declare -A DISK_PRI=() DISK_SEC=() DISK_PRI_DEV=() DISK_SEC_DEV=()
# Disk i: primary on node 2i-1, secondary on node 2i (modulo NODES): with 3
# nodes vd1 n1/n2, vd2 n3/n1, vd3 n2/n3; with 5 vd1 n1/n2, vd2 n3/n4,
# vd3 n5/n1.
MIRRORS=()
for i in 1 2 3; do
	d=vd$i
	DISK_PRI[$d]=n$(((2 * i - 2) % NODES + 1))
	DISK_SEC[$d]=n$(((2 * i - 1) % NODES + 1))
	truncate -s 64M "$shared/$d.img"
	DISK_PRI_DEV[$d]=$shared/$d.img
	DISK_SEC_DEV[$d]=$shared/$d.img
done
if ((NODES == 3)); then DISK_PRI[vd3]=n2 DISK_SEC[vd3]=n3; fi
# Mirrors: each replica its node's own file (zeroed: --assume-clean).
if ((MIRROR)); then
	MIRRORS=(vd1 vd2)
	for d in "${MIRRORS[@]}"; do
		DISK_PRI_DEV[$d]=$shared/$d.${DISK_PRI[$d]}.img
		DISK_SEC_DEV[$d]=$shared/$d.${DISK_SEC[$d]}.img
		truncate -s 64M "${DISK_PRI_DEV[$d]}" "${DISK_SEC_DEV[$d]}"
	done
fi
is_mirror() { [[ " ${MIRRORS[*]} " == *" $1 "* ]]; }

# The fault disk's primary path: nbdfuse -> nbdkit (error + pause filters).
FAULT_EIO=$VDT_TMP/fault.eio
FAULT_PAUSE_SOCK=$VDT_TMP/pause.sock
FAULT_PAUSED=0
ksock=$VDT_TMP/nbdkit.sock
nbdkit --unix "$ksock" --pidfile "$VDT_TMP/nbdkit.pid" --filter=error --filter=pause \
	file file="$shared/$FAULT_DISK.img" error=EIO error-rate=1 error-file="$FAULT_EIO" \
	pause-control="$FAULT_PAUSE_SOCK" || fail "nbdkit did not start"
retry_until 5 test -s "$VDT_TMP/nbdkit.pid" || fail "nbdkit wrote no pid file"
TORTURE_KILL+=("$(cat "$VDT_TMP/nbdkit.pid")")
fuse=$VDC_DIR/${DISK_PRI[$FAULT_DISK]}/fuse
mkdir -p "$fuse"
nbdfuse "$fuse/$FAULT_DISK" --unix "$ksock" </dev/null >"$OUTDIR/nbdfuse.log" 2>&1 &
TORTURE_KILL+=($!)
TORTURE_UMOUNT+=("$fuse")
retry_until 5 test -f "$fuse/$FAULT_DISK" || fail "nbdfuse did not expose $fuse/$FAULT_DISK"
DISK_PRI_DEV[$FAULT_DISK]=$fuse/$FAULT_DISK

# The storage itself, read without any vdiskd: the fault disk through its
# nbdkit, the others through a read-only nbdkit each. What a check reads
# there is the ground truth the nodes' readings are compared with.
declare -A STORE_SOCK=()
STORE_SOCK[$FAULT_DISK]=$ksock
for d in "${DISKS[@]}"; do
	[[ $d != "$FAULT_DISK" ]] || continue
	STORE_SOCK[$d]=$VDT_TMP/store.$d.sock
	# A mirror's ground truth: its secondary's replica (both must hold
	# the same once up to date, which each cycle checks with cmp).
	store_file=$shared/$d.img
	if is_mirror "$d"; then store_file=${DISK_SEC_DEV[$d]}; fi
	nbdkit -r --unix "${STORE_SOCK[$d]}" --pidfile "$VDT_TMP/store.$d.pid" file file="$store_file" ||
		fail "nbdkit (storage reader of $d) did not start"
	retry_until 5 test -s "$VDT_TMP/store.$d.pid" || fail "nbdkit wrote no pid file"
	TORTURE_KILL+=("$(cat "$VDT_TMP/store.$d.pid")")
done

for d in "${DISKS[@]}"; do
	if is_mirror "$d"; then
		expect_ok "disk create $d (mirrored on ${DISK_PRI[$d]} and ${DISK_SEC[$d]})" \
			ctl n1 disk create "$d" --assume-clean \
			--mirror "${DISK_PRI[$d]}:${DISK_PRI_DEV[$d]},${DISK_SEC[$d]}:${DISK_SEC_DEV[$d]}"
		continue
	fi
	expect_ok "disk create $d (primary ${DISK_PRI[$d]}, secondary ${DISK_SEC[$d]})" \
		ctl n1 disk create "$d" --primary "${DISK_PRI[$d]}:${DISK_PRI_DEV[$d]}" \
		--secondary "${DISK_SEC[$d]}:${DISK_SEC_DEV[$d]}"
done
converged 10
nbd_ready() { vdc exec "$1" nbdinfo --size "nbd+unix:///$2?socket=$(sock_of "$1")" >/dev/null 2>&1; }
for n in "${NODE_NAMES[@]}"; do
	for d in "${DISKS[@]}"; do
		retry_until 10 nbd_ready "$n" "$d" || fail "$n does not serve $d over NBD"
	done
done

# ------------------------------------------------------------------ writers

# Writer of node n on disk vdi: id n*10+i, blocks [(n-1)*BLOCKS, n*BLOCKS).
# One log per writer and cycle.
wkey() { echo "$1:$2"; }
wlog() { echo "$LOGDIR/$2.$1.c$3.log"; }

start_writers() {
	local c=$1 n d i k
	for n in "${NODE_NAMES[@]}"; do
		i=0
		for d in "${DISKS[@]}"; do
			i=$((i + 1))
			k=$(wkey "$n" "$d")
			WOUT[$k]=$LOGDIR/$d.$n.c$c.out
			"$VDWRITER" run --socket "$(sock_of "$n")" --export "$d" \
				--writer "$((${n#n} * 10 + i))" --first "$(((${n#n} - 1) * BLOCKS))" \
				--blocks "$BLOCKS" --log "$(wlog "$n" "$d" "$c")" --rate "$RATE" \
				--flush-every 64 --fua-every 16 --drain-ms 3000 \
				--seed "$((SEED * 100000 + c * 100 + ${n#n} * 10 + i))" \
				</dev/null >"${WOUT[$k]}" 2>"$LOGDIR/$d.$n.c$c.err" &
			WPID[$k]=$!
		done
	done
}

# stop_writers: SIGTERM every writer and wait (they drain and exit 0; each
# one's last line says the longest stall it saw, which torture.py reads).
stop_writers() {
	local k p rc wd
	for p in "${WPID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	# They drain for at most 3 s (--drain-ms); one still running 30 s after
	# SIGTERM is killed (and its exit status says so below).
	(
		sleep 30
		for p in "${WPID[@]}"; do
			if kill -KILL "$p" 2>/dev/null; then
				echo "warning: writer pid $p did not exit 30 s after SIGTERM; killed" >&2
			fi
		done
	) &
	wd=$!
	for k in "${!WPID[@]}"; do
		p=${WPID[$k]}
		rc=0
		wait "$p" 2>/dev/null || rc=$?
		if ((rc != 0)); then
			echo "warning: writer $k exited $rc: $(tail -n 3 "${LOGDIR}/${k#*:}.${k%%:*}.c$CYCLE.err" 2>/dev/null | tr '\n' ' ')" >&2
		fi
	done
	kill "$wd" 2>/dev/null || true
	wait "$wd" 2>/dev/null || true
	WPID=()
}

# wait_checks: wait for the background checks.
CHECK_PIDS=()
wait_checks() {
	local p
	for p in "${CHECK_PIDS[@]}"; do wait "$p" || true; done
	CHECK_PIDS=()
}

# check_disks C: vdwriter check of every disk from every node's socket and
# of the storage itself (the reader "storage"), all at once (they only read);
# torture.py cycle judges their verdicts.
# check_one C DISK READER: one check in the background; its JSON, stderr and
# exit status in $LOGDIR/check.DISK.READER.cC.{json,err,rc}.
check_one() {
	local c=$1 d=$2 n=$3 m k sock export=$2 logs=() base=$LOGDIR/check.$2.$3.c$1
	# The logs of the last LOG_WINDOW cycles: a block whose writes of this
	# cycle all failed holds an older cycle's generation, and a write of an
	# older cycle that lands late is judged (I2, I1) rather than only
	# "corrupt" (a generation no log sent).
	for ((k = c - LOG_WINDOW + 1; k <= c; k++)); do
		((k >= 1)) || continue
		for m in "${NODE_NAMES[@]}"; do logs+=(--log "$LOGDIR/$d.$m.c$k.log"); done
	done
	if [[ $n == storage ]]; then
		sock=${STORE_SOCK[$d]}
		export=
	else
		sock=$(sock_of "$n")
	fi
	(
		rc=0
		"$VDWRITER" check --socket "$sock" --export "$export" "${logs[@]}" --json \
			>"$base.json" 2>"$base.err" || rc=$?
		echo "$rc" >"$base.rc"
	) &
	CHECK_PIDS+=($!)
}

check_disks() {
	local c=$1 n d
	for d in "${DISKS[@]}"; do
		for n in "${NODE_NAMES[@]}" storage; do check_one "$c" "$d" "$n"; done
	done
	wait_checks
}

# ------------------------------------------------------------------ I6, crashes

# procs_now: PROCS[NODE:vdiskd] and PROCS[NODE:corosync], the pid of each
# node's running daemon or "none": vdcluster's pid files checked against
# /proc, without starting a process (this runs twice in every cycle).
declare -A PROCS=()
COROSYNC_BIN=$(command -v corosync)
procs_now() {
	local n w p bin
	for n in "${NODE_NAMES[@]}"; do
		for w in vdiskd corosync; do
			bin=$COROSYNC_BIN
			[[ $w == corosync ]] || bin=$VDISK_BUILD/service/vdiskd
			p=none
			if [[ -r $VDC_DIR/$n/$w.pid ]]; then read -r p <"$VDC_DIR/$n/$w.pid" || p=none; fi
			[[ -e /proc/$p/exe && /proc/$p/exe -ef $bin ]] || p=none
			PROCS[$n:$w]=$p
		done
	done
}

# sample_procs: every vdiskd's descriptors and RSS (I6), after procs_now.
declare -A FD_FIRST=() RSS_FIRST=() FD_LAST=() RSS_LAST=() PID_FIRST=() PID_LAST=()
sample_procs() {
	local n p rss k v fds=()
	for n in "${NODE_NAMES[@]}"; do
		p=${PROCS[$n:vdiskd]}
		[[ $p != none ]] || continue
		fds=("/proc/$p/fd/"*)
		rss=0
		while read -r k v _; do
			if [[ $k == VmRSS: ]]; then rss=$v; fi
		done <"/proc/$p/status" || true
		if [[ -z ${FD_FIRST[$n]:-} ]]; then
			FD_FIRST[$n]=${#fds[@]}
			RSS_FIRST[$n]=$rss
			PID_FIRST[$n]=$p
		fi
		FD_LAST[$n]=${#fds[@]}
		PID_LAST[$n]=$p
		RSS_LAST[$n]=$rss
		SAMPLE+="$n:fd=${#fds[@]},rss_kb=$rss "
	done
}

sanitizer_hits() {
	local f=()
	f=("$VDC_DIR"/n*/vdiskd.log)
	{ grep -lE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "${f[@]}" 2>/dev/null || true; } | wc -l
}

declare -A VD_PID=() CS_PID=()
record_pids() {
	local n
	procs_now
	for n in "${NODE_NAMES[@]}"; do
		VD_PID[$n]=${PROCS[$n:vdiskd]}
		CS_PID[$n]=${PROCS[$n:corosync]}
	done
}

# crashed: nodes whose vdiskd (or corosync) changed or died without the
# fault restarting it on purpose (after procs_now).
crashed() {
	local n out=
	for n in "${NODE_NAMES[@]}"; do
		if [[ " $F_RESTARTED " != *" $n "* && ${PROCS[$n:vdiskd]} != "${VD_PID[$n]}" ]]; then
			out+="$n:vdiskd "
		fi
		if [[ ($F_KIND != node-kill || $F_TARGET != "$n") && ${PROCS[$n:corosync]} != "${CS_PID[$n]}" ]]; then
			out+="$n:corosync "
		fi
	done
	echo "$out"
}

# whole: every node quorate, synced and counting every member, with one
# generation, within TIMEOUT_S.
whole_now() {
	local n out gens=
	for n in "${NODE_NAMES[@]}"; do
		out=$(timeout 5 "$VDC_HARNESS" ctl "$n" --json status 2>/dev/null) || return 1
		gens+=$(jq -e --argjson n "$NODES" \
			'select(.synced and .quorate and (.members | length) == $n) | .generation' <<<"$out") ||
			return 1
		gens+=" "
	done
	[[ $(tr ' ' '\n' <<<"$gens" | sed '/^$/d' | sort -u | wc -l) == 1 ]] || return 1
	# Every mirror whole again: both replicas up to date (resynced).
	((${#MIRRORS[@]} == 0)) ||
		jq -e '[.disks[] | select(.mirror) | .mirror.states[]] | all(. == "uptodate")' <<<"$(
			timeout 5 "$VDC_HARNESS" ctl n1 --json disk list 2>/dev/null)" >/dev/null
}

# replicas_differ: the mirrors whose two replica files differ (writers
# stopped, every replica up to date), with the first differing byte, one
# per line. A write its writer stopped waiting for may still be landing on
# one replica: each disk gets 10 s to settle.
replicas_differ() {
	local d i first
	for d in "${MIRRORS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			cmp -s "${DISK_PRI_DEV[$d]}" "${DISK_SEC_DEV[$d]}" && break
			sleep 0.1
		done
		((i < 100)) && continue
		first=$(cmp "${DISK_PRI_DEV[$d]}" "${DISK_SEC_DEV[$d]}" 2>&1 | head -n1)
		echo "$d ($first; $(cmp -l "${DISK_PRI_DEV[$d]}" "${DISK_SEC_DEV[$d]}" | wc -l) bytes)"
	done
}

# fault_node KIND TARGET: the node a fault freezes, kills or cuts off, or "".
fault_node() {
	case $1 in
	vdiskd-kill | vdiskd-term | vdiskd-stop | corosync-stop | node-kill | isolate | partition-asym | fast-restart)
		echo "$2"
		;;
	esac
}

# ------------------------------------------------------------------ summary

# write_summary: I6 from the first and last samples, meta.json, and the
# summary table (also after a run that stopped early).
write_summary() {
	SUMMARY_DONE=1
	local n r cpu bsrc git
	local -a I6=()
	for n in "${NODE_NAMES[@]}"; do
		[[ -n ${FD_FIRST[$n]:-} ]] || continue
		r=
		[[ ${PID_FIRST[$n]} == "${PID_LAST[$n]}" ]] || r=" (restarted since)"
		I6+=("$n fd ${FD_FIRST[$n]}->${FD_LAST[$n]} rss ${RSS_FIRST[$n]}->${RSS_LAST[$n]} kB$r")
		if ((FD_LAST[$n] > FD_FIRST[$n] + 8)); then
			echo "I6: $n: vdiskd holds ${FD_LAST[$n]} descriptors, ${FD_FIRST[$n]} after the first cycle (tolerance +8)" >&2
			TOTAL_VIOL=$((TOTAL_VIOL + 1))
			jq -cn --arg n "$n" '{cycle: 0, kind: "end", target: $n, cycle_s: 0, violations: {I6: 1}}' >>"$RECORDS"
		fi
	done
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	# The commit of the daemon under test: the source tree VDISK_BUILD was
	# configured from (CMakeCache.txt), "+dirty" if its daemon sources differ.
	bsrc=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$VDISK_BUILD/CMakeCache.txt" 2>/dev/null || true)
	bsrc=${bsrc:-$VDISK_SRC}
	git=$(git -C "$bsrc" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$bsrc" status --porcelain -- service include cli 2>/dev/null) ]]; then git+="+dirty"; fi
	git+=" ($bsrc)"
	jq -n --argjson seed "$SEED" --argjson cycles "$CYCLES" --argjson nodes "$NODES" --arg faults "$FAULTS" \
		--arg date "$(date -u '+%F %T UTC')" --arg machine "$(uname -m)" --arg cpu "$cpu" --arg git "$git" \
		--arg build "$VDISK_BUILD" --argjson io "$IO_TIMEOUT_MS" --argjson fb "$FENCE_BOUND_MS" \
		--argjson blocks "$BLOCKS" --argjson writers "$((NODES * ${#DISKS[@]}))" --argjson rate "$RATE" --arg failed "$FAILED" \
		--argjson membership "$MEMBERSHIP_MS" --argjson coeff "$TOKEN_COEFFICIENT" \
		--argjson run_s "$((($(now_ms) - ${T_RUN:-$(now_ms)}) / 1000))" \
		'{seed: $seed, cycles: $cycles, nodes: $nodes, faults: $faults, date: $date, machine: $machine,
		  cpu: $cpu, git: $git, build: $build, io_timeout_ms: $io, fence_bound_ms: $fb,
		  membership_ms: $membership, token_coefficient: $coeff, run_s: $run_s,
		  blocks: $blocks, writers: $writers, rate: $rate, failed: $failed, i6: $ARGS.positional}' \
		--args "${I6[@]}" >"$OUTDIR/meta.json"
	python3 "$TPY" summary "$RECORDS" "$OUTDIR/meta.json" | tee "$OUTDIR/summary.txt"
}


# ------------------------------------------------------------------ schedule

mapfile -t SCHEDULE < <(python3 "$TPY" schedule --seed "$SEED" --cycles "$CYCLES" --nodes "$NODES" \
	--links 2 --disks "$(IFS=,; echo "${DISKS[*]}")" --fault-disk "$FAULT_DISK" \
	--faults "$FAULTS" --cycle-seconds "$CYCLE_SECONDS" --io-timeout-ms "$IO_TIMEOUT_MS" \
	--fence-bound-ms "$FENCE_BOUND_MS" --membership-ms "$MEMBERSHIP_MS")
((${#SCHEDULE[@]} == CYCLES)) || fail "bad schedule (--faults $FAULTS?)"

CLEAN_CYCLES=()
T_RUN=$(now_ms)
start_writers 1
sleep 1
CYCLE=0
for line in "${SCHEDULE[@]}"; do
	CYCLE=$((CYCLE + 1))
	read -r F_KIND F_TARGET F_HOLD <<<"$line"
	t0=$(now_ms)
	record_pids
	"fault_$F_KIND" "$F_TARGET" "$F_HOLD"
	if ! retry_until "$WHOLE_TIMEOUT_S" whole_now; then
		vdc status >&2 || true
		FAILED="cycle $CYCLE ($F_KIND $F_TARGET): the cluster was not whole and synced $WHOLE_TIMEOUT_S s after the heal"
		echo "FAIL: $FAILED" >&2
	fi
	t_whole=$(now_ms)
	stop_writers
	t_stopped=$(now_ms)
	differ=$(replicas_differ)
	if [[ -n $differ ]]; then
		FAILED="cycle $CYCLE ($F_KIND $F_TARGET): replicas differ with both up to date: $(echo $differ)"
		echo "FAIL: $FAILED" >&2
	fi
	check_disks "$CYCLE"
	t_checked=$(now_ms)
	procs_now
	dead=$(crashed)
	san=$(sanitizer_hits)
	SAMPLE=
	sample_procs
	judged=$(python3 "$TPY" cycle --logdir "$LOGDIR" --records "$RECORDS" \
		--nodes "$(IFS=,; echo "${NODE_NAMES[*]}")" --disks "$(IFS=,; echo "${DISKS[*]}")" \
		--cycle "$CYCLE" --cycles "$CYCLES" --kind "$F_KIND" --target "$F_TARGET" \
		--hold-ms "$F_HOLD" --inject-ms "$F_INJECT_MS" --heal-ms "${F_HEAL_MS:-0}" \
		--whole-ms "$t_whole" --t0-ms "$t0" --stopped-ms "$t_stopped" --checked-ms "$t_checked" \
		--fence-bound-ms "$FENCE_BOUND_MS" --fault-node "$(fault_node "$F_KIND" "$F_TARGET")" \
		--out-node "$F_OUT_NODE" --change-ms "${F_CHANGE_MS:-0}" --i6 "$F_I6" \
		--died "$dead" --sanitizer "$san" --note "$F_NOTE" --procs "$SAMPLE") ||
		fail "torture.py could not judge cycle $CYCLE"
	sed '$d' <<<"$judged"
	nv=$(tail -n 1 <<<"$judged")
	nv=${nv#violations }
	[[ $nv =~ ^[0-9]+$ ]] || fail "torture.py judged cycle $CYCLE without a count: $judged"
	TOTAL_VIOL=$((TOTAL_VIOL + nv))
	[[ -z $FAILED ]] || break
	if ((CYCLE < CYCLES)); then
		start_writers "$((CYCLE + 1))"
		sleep 0.3
	fi
	# Keep the logs of cycles with violations; the others' go once no check
	# reads them any more.
	if ((nv == 0)); then CLEAN_CYCLES+=("$CYCLE"); fi
	while ((${#CLEAN_CYCLES[@]} > 0 && CLEAN_CYCLES[0] <= CYCLE - LOG_WINDOW && !KEEP)); do
		rm -f "$LOGDIR"/*."c${CLEAN_CYCLES[0]}".log "$LOGDIR"/*."c${CLEAN_CYCLES[0]}".out \
			"$LOGDIR"/*."c${CLEAN_CYCLES[0]}".err "$LOGDIR"/check.*."c${CLEAN_CYCLES[0]}".*
		CLEAN_CYCLES=("${CLEAN_CYCLES[@]:1}")
	done
done

write_summary
echo "run took $(((($(now_ms) - T_RUN) + 500) / 1000)) s; records in $RECORDS"
if ((TOTAL_VIOL > 0)) || [[ -n $FAILED ]]; then
	fail "torture: $TOTAL_VIOL violation(s)${FAILED:+; $FAILED} (seed $SEED)"
fi
pass "torture: $CYCLES cycles, seed $SEED, no violation"
