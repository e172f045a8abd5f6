# shellcheck shell=bash
# datapath_lib.sh — helpers of the data-path scenarios (test/scenario/datapath_*.sh).
# Source it after test/cluster/lib.sh:
#
#   source "$(dirname "$0")/../cluster/lib.sh"
#   source "$VDISK_SRC/test/tools/datapath_lib.sh"
#
# NBD clients (fio, qemu-img, nbdinfo) run inside a node's network namespace
# and talk to that node's vdiskd over its unix socket. fio runs in the
# background with a JSON report and a per-I/O latency log (epoch-stamped), so a
# test can inject faults while it runs and then print, per fault, the longest
# I/O stall (test/tools/datapath_latlog.py).

DP_TOOLS=$VDISK_SRC/test/tools
declare -A DP_FIO_PID=() DP_FIO_T0=() DP_FIO_SECS=()
DP_KILL_PIDS=()
DP_UMOUNTS=()

for _dp_tool in fio nbdinfo qemu-img python3 jq; do
	command -v "$_dp_tool" >/dev/null || fail "$VDT_NAME: $_dp_tool not found (scripts/install-deps.sh)"
done

# Our own cleanup runs before lib.sh's (which tears the cluster down): fio
# runs, FUSE mounts and helper servers started by the test.
_dp_cleanup() {
	local m p
	set +e
	for p in "${DP_FIO_PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for m in "${DP_UMOUNTS[@]}"; do
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for p in "${DP_KILL_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
}
# shellcheck disable=SC2154 # _dp_rc is assigned inside the trap string
trap '_dp_rc=$?; _dp_cleanup; (exit $_dp_rc); _vdt_cleanup' EXIT

now_ms() { date +%s%3N; }

# elapsed_s T0_MS: seconds since T0_MS, one decimal.
elapsed_s() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

nbd_sock() { echo "$VDC_DIR/$1/run-vdisk/nbd.sock"; }
# nbd_uri NODE DISK
nbd_uri() { echo "nbd+unix:///$2?socket=$(nbd_sock "$1")"; }

# nbd_exports NODE: the exports NODE's NBD server lists, sorted, on one line
# separated by spaces; fails when nbdinfo does.
nbd_exports() {
	vdc exec "$1" nbdinfo --list --json "nbd+unix:///?socket=$(nbd_sock "$1")" |
		jq -r '.exports[]["export-name"]' | sort | tr '\n' ' ' | sed 's/ $//'
}

nbd_ready() { vdc exec "$1" nbdinfo --size "$(nbd_uri "$1" "$2")" >/dev/null 2>&1; }

# wait_nbd NODE DISK [TIMEOUT_S]: NODE's NBD server serves DISK.
wait_nbd() {
	local out
	if ! retry_until "${3:-10}" nbd_ready "$1" "$2"; then
		out=$(vdc exec "$1" nbdinfo --size "$(nbd_uri "$1" "$2")" 2>&1 || true)
		fail "$1 does not serve $2 over NBD after ${3:-10}s: $out"
	fi
	echo "ok: $1 serves $2 ($(vdc exec "$1" nbdinfo --size "$(nbd_uri "$1" "$2")") bytes)"
}

# disk_on_n2 DISK SIZE: creates DISK whose only path is a sparse file of
# SIZE on n2 and waits until n1 and n3 serve it over NBD; DP_BACKING is the
# file.
DP_BACKING=
disk_on_n2() {
	DP_BACKING=$(backing n2 "$1" "$2")
	expect_ok "disk create $1 on n1" ctl n1 disk create "$1" --primary "n2:$DP_BACKING"
	converged 5
	wait_nbd n1 "$1"
	wait_nbd n3 "$1"
}

# fio_bg NAME NODE DISK FIO_ARGS...: fio against DISK through NODE's NBD
# socket, in the background. Report $VDT_TMP/NAME.json, latency log
# $VDT_TMP/NAME_lat.N.log (one per job), stderr $VDT_TMP/NAME.err. Jobs are
# reported as one group (jobs[0] of the JSON report).
fio_bg() {
	local name=$1 node=$2 disk=$3
	shift 3
	# Not through the vdc function: $! must be fio itself (vdcluster exec
	# execs nsenter, which execs fio).
	"$VDC_HARNESS" exec "$node" fio --name="$name" --ioengine=nbd \
		--uri="$(nbd_uri "$node" "$disk")" \
		--output-format=json --output="$VDT_TMP/$name.json" --group_reporting \
		--write_lat_log="$VDT_TMP/$name" --log_unix_epoch=1 --verify_state_save=0 --eta=never "$@" \
		</dev/null >"$VDT_TMP/$name.out" 2>"$VDT_TMP/$name.err" &
	DP_FIO_PID[$name]=$!
	DP_FIO_T0[$name]=$(now_ms)
	echo "fio $name: started on $node against $disk (pid $!): $*"
}

# fio_running NAME
fio_running() { kill -0 "${DP_FIO_PID[$1]}" 2>/dev/null; }

# need_fio_running NAME WHAT: the fault WHAT is only a test while fio runs.
need_fio_running() {
	fio_running "$1" ||
		fail "fio $1 ended before '$2' (the run is too short for this machine; nothing was tested)"
}

# fio_wait NAME [TIMEOUT_S]: waits for fio NAME and fails the test unless it
# exited 0, reported no error and printed no verify complaint.
fio_wait() {
	local name=$1 t=${2:-120} pid rc=0 i json err
	pid=${DP_FIO_PID[$name]}
	json=$VDT_TMP/$name.json
	err=$VDT_TMP/$name.err
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "fio $name still runs after ${t}s; its stderr:" >&2
		cat "$err" >&2
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		unset "DP_FIO_PID[$name]"
		fail "fio $name hangs (killed after ${t}s)"
	fi
	wait "$pid" || rc=$?
	unset "DP_FIO_PID[$name]"
	DP_FIO_SECS[$name]=$(elapsed_s "${DP_FIO_T0[$name]}")
	if ((rc != 0)) || grep -qiE 'verify|error|fail' "$err" ||
		! jq -e '[.jobs[].error] | all(. == 0)' "$json" >/dev/null 2>&1; then
		echo "fio $name: exit $rc; stderr:" >&2
		head -n 40 "$err" >&2
		echo "fio $name: job error: $(jq -c '.jobs[0] | {error, "job options"}' "$json" 2>&1 | head -c 2000)" >&2
		fail "fio $name failed (exit $rc) — client errors or verify failures"
	fi
	echo "ok: fio $name exit 0, no I/O or verify error"
}

# fio_summary NAME: one line of figures from the JSON report.
fio_summary() {
	jq -r --arg n "$1" '.jobs[0] | "fio \($n): wrote \(.write.io_bytes / 1048576 | floor) MiB at \(.write.iops | floor) IOPS (\(.write.bw / 1024 * 10 | floor / 10) MiB/s), read/verified \(.read.io_bytes / 1048576 | floor) MiB; max clat write \(.write.clat_ns.max / 1e6 * 10 | floor / 10) ms, read \(.read.clat_ns.max / 1e6 * 10 | floor / 10) ms; \($secs)s"' \
		--arg secs "${DP_FIO_SECS[$1]:-?}" "$VDT_TMP/$1.json"
}

# fio_max_clat_ms NAME: the longest completion latency of any I/O (ms).
fio_max_clat_ms() {
	jq -r '.jobs[0] | [.write.clat_ns.max, .read.clat_ns.max] | max / 1e6 * 10 | floor / 10' \
		"$VDT_TMP/$1.json"
}

# fio_phases NAME PHASE=EPOCH_MS...: per-phase stall figures (datapath_latlog.py
# --json), from the latency log.
fio_phases() {
	local name=$1 a
	local -a args=()
	shift
	for a in "$@"; do args+=(--phase "$a"); done
	python3 "$DP_TOOLS/datapath_latlog.py" --json "${args[@]}" "$VDT_TMP/${name}"_lat.*.log
}

# stall_line LABEL PHASES_JSON PHASE: prints "STALL LABEL: N ms" (the stall of
# PHASE) and the phase's details.
stall_line() {
	local label=$1 js=$2 ph=$3
	echo "STALL $label: $(jq -r --arg p "$ph" '.[$p].stall_ms | round' <<<"$js") ms" \
		"($(jq -r --arg p "$ph" '.[$p] | "\(.ios) I/Os completed in the phase, longest latency \(.max_lat_ms) ms, longest gap between completions \(.max_gap_ms) ms"' <<<"$js"))"
}

# stats_json NODE: vdiskctl --json stats on NODE.
stats_json() { ctl "$1" --json stats; }

# stats_delta BEFORE AFTER: per disk and per serving node (by name), the
# growth of requests, errors, retried and reroutes.
stats_delta() {
	jq -cn --argjson a "$1" --argjson b "$2" '
		def rows(s; k): [(s[k] // [])[] | {key: (.name // (.id | tostring)), value: .}] | from_entries;
		def d(k): rows($a; k) as $A | rows($b; k) |
			with_entries(.key as $key | .value |= {
				requests: (.requests - ($A[$key].requests // 0)),
				errors: (.errors - ($A[$key].errors // 0)),
				retried: (.retried - ($A[$key].retried // 0)),
				reroutes: (.reroutes - ($A[$key].reroutes // 0))});
		{disks: d("disks"), nodes: d("nodes")}'
}

# stats_settle: the daemon publishes statistics every half second (more when
# the host is busy).
stats_settle() { sleep 1.1; }


# no_sanitizer NODE...: fail at once on a sanitizer report (lib.sh would only
# notice at teardown).
no_sanitizer() {
	local n
	for n in "$@"; do
		if grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$VDC_DIR/$n/vdiskd.log"; then
			grep -n -A 30 -m1 -E 'ERROR: AddressSanitizer|runtime error:' "$VDC_DIR/$n/vdiskd.log" >&2
			fail "$n: sanitizer report in vdiskd.log"
		fi
	done
}

# vdiskd_alive NODE...: every vdiskd still runs (a crash fails the test).
vdiskd_alive() {
	local n
	for n in "$@"; do
		vdc pid "$n" vdiskd >/dev/null 2>&1 || {
			tail -n 40 "$VDC_DIR/$n/vdiskd.log" >&2
			fail "vdiskd on $n is gone (crashed?)"
		}
	done
}
