#!/usr/bin/env bash
# run.sh — the torture suite: a seeded random schedule of faults against a
# namespace cluster under load from a verifying writer on every node, with a
# check of the data-safety invariants (DESIGN.md, "Data safety") after every
# fault.
#
#   test/torture/run.sh [--nodes 3|5] [--cycles N] [--seed N]
#                       [--faults kind,kind,...] [--cycle-seconds S] [--keep]
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
#   --cycle-seconds S  mean hold of a fault (default 5; held 0.5-1.5 times
#                      that, but never shorter than the fault needs: past
#                      [io] timeout_ms for a freeze or a stalled path, past
#                      the membership change + FENCE_BOUND_MS + 2 s for I4)
#   --keep             keep $VDC_DIR and every writer log
#
# Environment: VDISK_BUILD (default <repo>/build: vdiskd, vdiskctl and
# test/vdwriter), VDISK_SRC, VDWRITER (the writer/checker, default
# $VDISK_BUILD/test/vdwriter), FENCE_BOUND_MS (I4 bound, default the lease
# vdiskd logs + 500 ms),
# IO_TIMEOUT_MS ([io] timeout_ms of every node, default 3000), BLOCKS (per
# writer and disk, default 256), RATE (writes/s per writer, default 200),
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
CYCLE_SECONDS=5
KEEP=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--nodes) NODES=${2:-}; shift 2 || usage ;;
	--cycles) CYCLES=${2:-}; shift 2 || usage ;;
	--seed) SEED=${2:-}; shift 2 || usage ;;
	--faults) FAULTS=${2:-}; shift 2 || usage ;;
	--cycle-seconds) CYCLE_SECONDS=${2:-}; shift 2 || usage ;;
	--keep) KEEP=1; shift ;;
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
RATE=${RATE:-200} # writes/s of each writer: every block rewritten about once a second
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
node_list() { seq -f 'n%g' 1 "$NODES"; }
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

step "torture: $NODES nodes, $CYCLES cycles, seed $SEED, faults $FAULTS; results in $OUTDIR"
vdc up -n "$NODES"
if [[ -z $FENCE_BOUND_MS ]]; then
	lease_ms=$(grep -ohm1 'lease: [0-9]* ms (corosync' "$VDC_DIR/n1/vdiskd.log" | grep -o '[0-9]*' | head -n1)
	[[ -n $lease_ms ]] || fail "torture: n1's vdiskd logged no lease (lease: N ms): set FENCE_BOUND_MS"
	FENCE_BOUND_MS=$((lease_ms + 500))
fi

shared=$VDC_DIR/shared
mkdir -p "$shared"
DISKS=(vd1 vd2 vd3)
FAULT_DISK=vd3
declare -A DISK_PRI=() DISK_SEC=() DISK_PRI_DEV=() DISK_SEC_DEV=()
# Disk i: primary on node 2i-1, secondary on node 2i (modulo NODES): with 3
# nodes vd1 n1/n2, vd2 n3/n1, vd3 n2/n3; with 5 vd1 n1/n2, vd2 n3/n4,
# vd3 n5/n1.
for i in 1 2 3; do
	d=vd$i
	DISK_PRI[$d]=n$(((2 * i - 2) % NODES + 1))
	DISK_SEC[$d]=n$(((2 * i - 1) % NODES + 1))
	truncate -s 64M "$shared/$d.img"
	DISK_PRI_DEV[$d]=$shared/$d.img
	DISK_SEC_DEV[$d]=$shared/$d.img
done
if ((NODES == 3)); then DISK_PRI[vd3]=n2 DISK_SEC[vd3]=n3; fi

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
	nbdkit -r --unix "${STORE_SOCK[$d]}" --pidfile "$VDT_TMP/store.$d.pid" file file="$shared/$d.img" ||
		fail "nbdkit (storage reader of $d) did not start"
	retry_until 5 test -s "$VDT_TMP/store.$d.pid" || fail "nbdkit wrote no pid file"
	TORTURE_KILL+=("$(cat "$VDT_TMP/store.$d.pid")")
done

for d in "${DISKS[@]}"; do
	expect_ok "disk create $d (primary ${DISK_PRI[$d]}, secondary ${DISK_SEC[$d]})" \
		ctl n1 disk create "$d" --primary "${DISK_PRI[$d]}:${DISK_PRI_DEV[$d]}" \
		--secondary "${DISK_SEC[$d]}:${DISK_SEC_DEV[$d]}"
done
converged 10
nbd_ready() { vdc exec "$1" nbdinfo --size "nbd+unix:///$2?socket=$(sock_of "$1")" >/dev/null 2>&1; }
for n in $(node_list); do
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
	for n in $(node_list); do
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

# stop_writers [NODE]: SIGTERM every writer and wait (they drain and exit
# 0). WSTALL: the longest stall a writer saw, except the writers on NODE (the
# node the fault froze, killed or cut off: their stall is the fault's length,
# not a failover's), whose longest is WSTALL_TARGET.
WSTALL=0
WSTALL_TARGET=0
stop_writers() {
	local k p i rc js st tn=${1:-}
	WSTALL=0
	WSTALL_TARGET=0
	for p in "${WPID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for k in "${!WPID[@]}"; do
		p=${WPID[$k]}
		for ((i = 0; i < 300; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$p" 2>/dev/null; then
			echo "warning: writer $k (pid $p) did not exit 30 s after SIGTERM; killed" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
		rc=0
		wait "$p" 2>/dev/null || rc=$?
		js=$(tail -n 1 "${WOUT[$k]}" 2>/dev/null || true)
		st=$(jq -r '.longest_stall_ms // 0 | floor' <<<"$js" 2>/dev/null || echo 0)
		[[ $st =~ ^[0-9]+$ ]] || st=0
		if [[ ${k%%:*} == "$tn" ]]; then
			((st <= WSTALL_TARGET)) || WSTALL_TARGET=$st
		else
			((st <= WSTALL)) || WSTALL=$st
		fi
		if ((rc != 0)); then
			echo "warning: writer $k exited $rc: $(tail -n 3 "${LOGDIR}/${k#*:}.${k%%:*}.c$CYCLE.err" 2>/dev/null | tr '\n' ' ')" >&2
		fi
	done
	WPID=()
}

# wait_checks: wait for the background checks.
CHECK_PIDS=()
wait_checks() {
	local p
	for p in "${CHECK_PIDS[@]}"; do wait "$p" || true; done
	CHECK_PIDS=()
}

# check_disks C: vdwriter check of every disk from every node's socket with
# the cycle's logs, and of the storage itself (the reader "storage"). CHK_VERIFIED: blocks judged (every node's reading);
# CHK_VIOL[KIND]: violations, per disk the most any node's reading showed
# (the same bad block read from three nodes counts once); CHK_DISAGREE:
# disks whose verdicts differ between nodes (nodes read different data).
declare -A CHK_VIOL=() STORE_VIOL=()
CHK_VERIFIED=0
CHK_EXAMPLES=
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
		for m in $(node_list); do logs+=(--log "$(wlog "$m" "$d" "$k")"); done
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
	local c=$1 n d rc out kind cnt verdict verdicts=() i
	local -A dmax=()
	CHK_VERIFIED=0
	CHK_DISAGREE=
	CHK_EXAMPLES=
	# Every reading at once (they only read), then the verdicts.
	for d in "${DISKS[@]}"; do
		for n in $(node_list) storage; do check_one "$c" "$d" "$n"; done
	done
	wait_checks
	for d in "${DISKS[@]}"; do
		verdicts=()
		dmax=()
		for n in $(node_list) storage; do
			rc=$(cat "$LOGDIR/check.$d.$n.c$c.rc" 2>/dev/null || echo 2)
			out=$(cat "$LOGDIR/check.$d.$n.c$c.json" 2>/dev/null || true)
			case $rc in
			0 | 1) ;;
			*)
				CHK_VIOL[check_error]=$((${CHK_VIOL[check_error]:-0} + 1))
				CHK_EXAMPLES+="$d from $n: check exit $rc: $(head -c 200 "$LOGDIR/check.$d.$n.c$c.err" | tr '\n' ' '); "
				verdicts+=('{"check_error":1}')
				continue
				;;
			esac
			if [[ $n != storage ]]; then
				CHK_VERIFIED=$((CHK_VERIFIED + $(jq -r '.blocks_verified // 0' <<<"$out" 2>/dev/null || echo 0)))
			fi
			verdict=$(jq -c '.violations // {}' <<<"$out" 2>/dev/null || echo '{}')
			verdicts+=("$verdict")
			if ((rc == 1)); then
				while read -r kind cnt; do
					[[ -n $kind ]] || continue
					if ((cnt > ${dmax[$kind]:-0})); then dmax[$kind]=$cnt; fi
				done < <(jq -r 'to_entries[] | select(.value > 0) | "\(.key) \(.value)"' <<<"$verdict")
				CHK_EXAMPLES+="$d from $n: $(jq -c '.examples // [] | .[:2]' <<<"$out" 2>/dev/null | head -c 300); "
			fi
		done
		for kind in "${!dmax[@]}"; do
			CHK_VIOL[$kind]=$((${CHK_VIOL[$kind]:-0} + dmax[$kind]))
		done
		# What the storage itself holds (the last reading): bad data on the
		# shared device, not only in a node's way of reading it.
		while read -r kind cnt; do
			[[ -n $kind ]] || continue
			STORE_VIOL[$kind]=$((${STORE_VIOL[$kind]:-0} + cnt))
		done < <(jq -r 'to_entries[] | select(.value > 0) | "\(.key) \(.value)"' <<<"${verdicts[-1]}" 2>/dev/null)
		if (($(printf '%s\n' "${verdicts[@]}" | sort -u | wc -l) > 1)); then
			CHK_DISAGREE+="$d("
			i=0
			for n in $(node_list) storage; do
				CHK_DISAGREE+="$n:$(jq -r '[to_entries[] | select(.value > 0) | "\(.key)=\(.value)"] | join(",") |
					if . == "" then "clean" else . end' <<<"${verdicts[$i]}") "
				i=$((i + 1))
			done
			CHK_DISAGREE="${CHK_DISAGREE% }) "
		fi
	done
}

# I4: the node put outside the membership got no write acknowledgement from
# FENCE_BOUND_MS after the others saw the change until the heal.
i4_check() {
	local n=$F_OUT_NODE from to logs=() d res cnt
	I4_COUNT=0
	I4_NOTE=
	[[ -n $n ]] || return 0
	if [[ -z $F_CHANGE_MS ]]; then
		I4_NOTE="I4: no membership change seen on $(witness "$n"); "
		return 0
	fi
	from=$((F_CHANGE_MS + FENCE_BOUND_MS))
	to=$F_HEAL_MS
	if ((from >= to)); then
		I4_NOTE="I4: change seen $((F_HEAL_MS - F_CHANGE_MS)) ms before the heal, shorter than the bound; "
		return 0
	fi
	for d in "${DISKS[@]}"; do logs+=("$(wlog "$n" "$d" "$CYCLE")"); done
	res=$(python3 "$TPY" acks --from "$from" --to "$to" "${logs[@]}")
	read -r cnt _ _ <<<"$res"
	I4_COUNT=$cnt
	I4_NOTE="I4: $n outside from +$((F_CHANGE_MS - F_INJECT_MS)) ms, $cnt acks in the $((to - from)) ms after the bound; "
}

# ------------------------------------------------------------------ I6, crashes

declare -A FD_FIRST=() RSS_FIRST=() FD_LAST=() RSS_LAST=() PID_FIRST=() PID_LAST=()
sample_procs() {
	local n p fd rss
	for n in $(node_list); do
		p=$(vdc pid "$n" vdiskd 2>/dev/null) || continue
		fd=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		if [[ -z ${FD_FIRST[$n]:-} ]]; then
			FD_FIRST[$n]=$fd
			RSS_FIRST[$n]=$rss
			PID_FIRST[$n]=$p
		fi
		FD_LAST[$n]=$fd
		PID_LAST[$n]=$p
		RSS_LAST[$n]=$rss
		SAMPLE+="$n:fd=$fd,rss_kb=$rss "
	done
}

sanitizer_hits() {
	local n c=0
	for n in $(node_list); do
		if grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$VDC_DIR/$n/vdiskd.log"; then
			c=$((c + 1))
		fi
	done
	echo "$c"
}

declare -A VD_PID=() CS_PID=()
record_pids() {
	local n
	for n in $(node_list); do
		VD_PID[$n]=$(vdc pid "$n" vdiskd 2>/dev/null || echo none)
		CS_PID[$n]=$(vdc pid "$n" corosync 2>/dev/null || echo none)
	done
}

# crashed: nodes whose vdiskd (or corosync) changed or died without the
# fault restarting it on purpose.
crashed() {
	local n out=
	for n in $(node_list); do
		if [[ " $F_RESTARTED " != *" $n "* ]] &&
			[[ $(vdc pid "$n" vdiskd 2>/dev/null || echo none) != "${VD_PID[$n]}" ]]; then
			out+="$n:vdiskd "
		fi
		if [[ $F_KIND != node-kill || $F_TARGET != "$n" ]] &&
			[[ $(vdc pid "$n" corosync 2>/dev/null || echo none) != "${CS_PID[$n]}" ]]; then
			out+="$n:corosync "
		fi
	done
	echo "$out"
}

# whole: every node quorate, synced and counting every member, with one
# generation, within TIMEOUT_S.
whole_now() {
	local n out gens=
	for n in $(node_list); do
		out=$(timeout 5 "$VDC_HARNESS" ctl "$n" --json status 2>/dev/null) || return 1
		gens+=$(jq -e --argjson n "$NODES" \
			'select(.synced and .quorate and (.members | length) == $n) | .generation' <<<"$out") ||
			return 1
		gens+=" "
	done
	[[ $(tr ' ' '\n' <<<"$gens" | sed '/^$/d' | sort -u | wc -l) == 1 ]]
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
	for n in $(node_list); do
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
		--argjson blocks "$BLOCKS" --argjson writers "$((NODES * ${#DISKS[@]}))" --arg failed "$FAILED" \
		'{seed: $seed, cycles: $cycles, nodes: $nodes, faults: $faults, date: $date, machine: $machine,
		  cpu: $cpu, git: $git, build: $build, io_timeout_ms: $io, fence_bound_ms: $fb,
		  blocks: $blocks, writers: $writers, failed: $failed, i6: $ARGS.positional}' \
		--args "${I6[@]}" >"$OUTDIR/meta.json"
	python3 "$TPY" summary "$RECORDS" "$OUTDIR/meta.json" | tee "$OUTDIR/summary.txt"
}


# ------------------------------------------------------------------ schedule

mapfile -t SCHEDULE < <(python3 "$TPY" schedule --seed "$SEED" --cycles "$CYCLES" --nodes "$NODES" \
	--links 2 --disks "$(IFS=,; echo "${DISKS[*]}")" --fault-disk "$FAULT_DISK" \
	--faults "$FAULTS" --cycle-seconds "$CYCLE_SECONDS" --io-timeout-ms "$IO_TIMEOUT_MS" \
	--fence-bound-ms "$FENCE_BOUND_MS")
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
	t_healed=$(now_ms)
	if ! retry_until "$WHOLE_TIMEOUT_S" whole_now; then
		vdc status >&2 || true
		FAILED="cycle $CYCLE ($F_KIND $F_TARGET): the cluster was not whole and synced $WHOLE_TIMEOUT_S s after the heal"
		echo "FAIL: $FAILED" >&2
	fi
	t_whole=$(now_ms)
	stop_writers "$(fault_node "$F_KIND" "$F_TARGET")"
	CHK_VIOL=()
	STORE_VIOL=()
	t_stopped=$(now_ms)
	check_disks "$CYCLE"
	t_checked=$(now_ms)
	i4_check
	if ((I4_COUNT > 0)); then CHK_VIOL[I4]=$I4_COUNT; fi
	if ((F_I6 > 0)); then CHK_VIOL[I6]=$((${CHK_VIOL[I6]:-0} + F_I6)); fi
	dead=$(crashed)
	if [[ -n $dead ]]; then CHK_VIOL[crash]=$(wc -w <<<"$dead"); fi
	san=$(sanitizer_hits)
	if ((san > 0)); then CHK_VIOL[sanitizer]=$san; fi
	SAMPLE=
	sample_procs
	nv=0
	vj="{}"
	for k in "${!CHK_VIOL[@]}"; do
		# vdwriter counts an I3 (a lost write a FLUSH had covered) as an I1 too.
		[[ $k == I3 ]] || nv=$((nv + CHK_VIOL[$k]))
		vj=$(jq -c --arg k "$k" --argjson v "${CHK_VIOL[$k]}" '. + {($k): $v}' <<<"$vj")
	done
	TOTAL_VIOL=$((TOTAL_VIOL + nv))
	t_end=$(now_ms)
	sj="{}"
	for k in "${!STORE_VIOL[@]}"; do
		sj=$(jq -c --arg k "$k" --argjson v "${STORE_VIOL[$k]}" '. + {($k): $v}' <<<"$sj")
	done
	vtxt=$(jq -r 'to_entries | map("\(.key)=\(.value)") | join(",")' <<<"$vj")
	printf 'cycle %4d/%d  %-14s %-11s fault %5.1fs  whole +%4.1fs  cycle %5.1fs  verified %6d  violations %d%s  stall %6d ms%s\n' \
		"$CYCLE" "$CYCLES" "$F_KIND" "$F_TARGET" "$(awk -v a="$F_INJECT_MS" -v b="$F_HEAL_MS" 'BEGIN{print (b-a)/1000}')" \
		"$(awk -v a="$t_healed" -v b="$t_whole" 'BEGIN{print (b-a)/1000}')" \
		"$(awk -v a="$t0" -v b="$t_end" 'BEGIN{print (b-a)/1000}')" \
		"$CHK_VERIFIED" "$nv" "${vtxt:+ ($vtxt)}" "$WSTALL" \
		"$(if [[ -n $(fault_node "$F_KIND" "$F_TARGET") ]]; then echo " ($F_TARGET's own: $WSTALL_TARGET ms)"; fi)"
	note="$F_NOTE$I4_NOTE${dead:+died: $dead; }${CHK_DISAGREE:+nodes read different data: $CHK_DISAGREE; }"
	[[ -z $note ]] || echo "      $note"
	[[ -z $CHK_EXAMPLES ]] || echo "      e.g. ${CHK_EXAMPLES:0:400}"
	jq -cn --argjson c "$CYCLE" --arg kind "$F_KIND" --arg target "$F_TARGET" \
		--argjson hold "$F_HOLD" --argjson inject "$F_INJECT_MS" --argjson heal "${F_HEAL_MS:-0}" \
		--argjson whole "$t_whole" --argjson cs "$(awk -v a="$t0" -v b="$t_end" 'BEGIN{print (b-a)/1000}')" \
		--argjson verified "$CHK_VERIFIED" --argjson v "$vj" --argjson sv "$sj" --argjson stall "$WSTALL" --argjson stall_target "$WSTALL_TARGET" \
		--arg note "$note" --arg examples "$CHK_EXAMPLES" --arg procs "$SAMPLE" \
		--argjson stop_ms "$((t_stopped - t_whole))" --argjson check_ms "$((t_checked - t_stopped))" \
		'{cycle: $c, kind: $kind, target: $target, hold_ms: $hold, inject_ms: $inject,
		  heal_ms: $heal, whole_ms: $whole, writers_stop_ms: $stop_ms, check_ms: $check_ms, cycle_s: $cs, verified: $verified,
		  violations: $v, storage_violations: $sv, stall_ms: $stall, stall_target_ms: $stall_target, note: $note, examples: $examples, procs: $procs}' >>"$RECORDS"
	[[ -z $FAILED ]] || break
	if ((CYCLE < CYCLES)); then
		start_writers "$((CYCLE + 1))"
		sleep 0.5
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
