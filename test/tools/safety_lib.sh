# shellcheck shell=bash
# safety_lib.sh — helpers of the data-safety scenarios (test/scenario/safety_*.sh).
# Source it after test/cluster/lib.sh and test/tools/datapath_lib.sh:
#
#   source "$VDISK_SRC/test/tools/safety_lib.sh"
#
# The client is vdwriter (test/tools/vdwriter.c): it writes self-describing
# blocks through a node's NBD socket, logs what it sent and what was
# answered, and `vdwriter check` judges every block against the logs (I1 an
# acknowledged write lost, I2 a stale write landed over a newer acknowledged
# one, corrupt blocks, writes answered with an error that landed). It is
# found at $VDISK_BUILD/test/vdwriter, or wherever VDWRITER says (to run these
# scenarios from a newer tree against an older build).

VDW=${VDWRITER:-$VDISK_BUILD/test/vdwriter}
[[ -x $VDW ]] || fail "$VDT_NAME: vdwriter not found at $VDW (build the vdwriter target, or set VDWRITER)"
declare -A SF_PID=()

# A writer left running is stopped before the cluster goes (datapath_lib's
# and lib.sh's cleanups follow).
_sf_cleanup() {
	local p
	for p in "${SF_PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
# shellcheck disable=SC2154 # _sf_rc is assigned inside the trap string
trap '_sf_rc=$?; _sf_cleanup; _dp_rc=$_sf_rc; _dp_cleanup; (exit $_sf_rc); _vdt_cleanup' EXIT

# io_timeout MS: `[io] timeout_ms = MS` on every node, vdiskd restarted.
io_timeout() {
	local n
	for n in 1 2 3; do
		printf '[io]\ntimeout_ms = %s\n' "$1" >>"$VDC_DIR/n$n/vdisk.conf"
		vdc restart "n$n" vdiskd
	done
	for n in 1 2 3; do vdc wait-synced "n$n" 20; done
	echo "ok: [io] timeout_ms = $1 on every node"
}

# vdw_start NAME NODE DISK ARGS...: vdwriter run against DISK through NODE's
# NBD socket, in NODE's namespace, in the background. Log $VDT_TMP/NAME.log,
# summary $VDT_TMP/NAME.json, stderr $VDT_TMP/NAME.err.
vdw_start() {
	local name=$1 node=$2 disk=$3
	shift 3
	# Not through the vdc function: $! must be vdwriter itself (vdcluster
	# exec execs nsenter, which execs it).
	"$VDC_HARNESS" exec "$node" "$VDW" run --socket "$(nbd_sock "$node")" --export "$disk" \
		--log "$VDT_TMP/$name.log" "$@" </dev/null >"$VDT_TMP/$name.json" 2>"$VDT_TMP/$name.err" &
	SF_PID[$name]=$!
	echo "vdwriter $name: started on $node against $disk (pid $!): $*"
}

# vdw_log NAME: the writer's log file.
vdw_log() { echo "$VDT_TMP/$1.log"; }

# vdw_acks_after NAME MS: how many writes were acknowledged after MS (epoch ms).
vdw_acks_after() { awk -v t="$2" '$1 == "A" && $4 > t { n++ } END { print n + 0 }' "$(vdw_log "$1")"; }

# vdw_acked_after NAME MS COUNT: at least COUNT acknowledged after MS.
vdw_acked_after() { (($(vdw_acks_after "$1" "$2") >= $3)); }

# vdw_inflight NAME: "blk gen" of every write sent and not (yet) answered.
vdw_inflight() {
	awk '$1 == "S" { s[$2 " " $3] = 1 } $1 == "A" || $1 == "E" { delete s[$2 " " $3] }
		END { for (k in s) print k }' "$(vdw_log "$1")"
}

# vdw_stop NAME [TIMEOUT_S]: SIGTERM, wait (it drains what is in flight for at
# most a few seconds), show its summary. Fails the test if it does not exit 0.
vdw_stop() {
	local name=$1 t=${2:-15} pid rc=0 i
	pid=${SF_PID[$name]}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "vdwriter $name ignored SIGTERM for ${t}s"
	fi
	wait "$pid" || rc=$?
	unset "SF_PID[$name]"
	((rc == 0)) || fail "vdwriter $name exited $rc: $(cat "$VDT_TMP/$name.err")"
	echo "vdwriter $name: $(cat "$VDT_TMP/$name.json")"
}

# vdw_check NODE DISK NAME...: vdwriter check of DISK through NODE's socket
# against the logs of writers NAME...; JSON in $CHK, exit status in $CHK_RC.
CHK=
CHK_RC=
vdw_check() {
	local node=$1 disk=$2 n
	local -a logs=()
	shift 2
	for n in "$@"; do logs+=(--log "$(vdw_log "$n")"); done
	CHK_RC=0
	CHK=$("$VDC_HARNESS" exec "$node" "$VDW" check --socket "$(nbd_sock "$node")" --export "$disk" \
		--json "${logs[@]}" 2>"$VDT_TMP/check.err") || CHK_RC=$?
	((CHK_RC != 2)) || CHK=$(cat "$VDT_TMP/check.err")
}

# vdw_check_bad NODE DISK NAME...: the check finds a violation.
vdw_check_bad() {
	vdw_check "$@"
	((CHK_RC == 1))
}

# vdw_verdict_lines: the kinds and examples of $CHK, one line each.
vdw_verdict_lines() {
	jq -r '"violations: \(.violations | to_entries | map("\(.key) \(.value)") | join(", "));" +
		" \(.blocks_checked) blocks checked, \(.blocks_verified) verified;" +
		" flushes ok \(.flushes_ok), failed \(.flushes_failed)",
		(.examples[] | "  \(.kind) block \(.block): expected \(.expected), found \(.found): \(.what)")' <<<"$CHK"
}

# vdw_check_all DISK NAME...: the check from every node's socket must be
# clean; otherwise the test fails naming the violated invariants, with the
# checker's examples.
vdw_check_all() {
	local disk=$1 n bad=0 kinds=
	shift
	for n in n1 n2 n3; do
		vdw_check "$n" "$disk" "$@"
		if ((CHK_RC == 2)); then
			echo "check from $n: could not check: $CHK" >&2
			bad=1
			continue
		fi
		echo "check of $disk from $n (exit $CHK_RC):"
		vdw_verdict_lines
		if ((CHK_RC != 0)); then
			bad=1
			kinds+=" $(jq -r '[.violations | to_entries[] | select(.value > 0) | .key] | join(",")' <<<"$CHK")@$n"
		fi
	done
	# The writers' logs go with the nodes' logs into the post-mortem copy.
	((bad == 0)) || cp "$VDT_TMP"/*.log "$VDC_DIR/" 2>/dev/null || true
	((SF_STALE == 0)) || kinds+=" (the blocks found holding older generations hold $SF_STALE writes the fault held up: stale replays, I2)"
	((bad == 0)) || fail "$VDT_NAME: data-safety violation on $disk:$kinds (I1 acknowledged write lost, I2 stale write landed after a newer one was acknowledged, I3 failure hidden)"
	echo "ok: $disk checks clean from n1, n2 and n3"
}

# vdw_stale_report STUCK_FILE NODE DISK NAME...: the checker cannot tell a
# lost newer write from an older one landing late, but a scenario knows
# which writes it held up ("blk gen" lines in STUCK_FILE): a block found
# holding one of them over a newer acknowledged generation is a stale
# replay (I2). Prints one line per such block, counts them in SF_STALE;
# 1 if there is none.
SF_STALE=0
vdw_stale_report() {
	local stuck=$1 b g found=1
	shift
	vdw_check "$@"
	((CHK_RC == 1)) || return 1
	while read -r b g; do
		if grep -qx "$b $g" "$stuck"; then
			echo "I2 (stale replay): block $b holds gen $g, a write held up by the fault, over a newer acknowledged generation"
			found=0
			SF_STALE=$((SF_STALE + 1))
		fi
	done < <(jq -r '.examples[] | select(.kind == "I1" and (.found | startswith("writer "))) |
		"\(.block) \(.found | split(" ")[3])"' <<<"$CHK")
	return "$found"
}

# fuse_path NAME FILE FILTER [PARAM=VALUE...]: FILE served by nbdkit (file
# plugin under FILTER with its parameters) through nbdfuse at
# $VDC_DIR/n2/fuse-NAME/NAME, for n2 to open as its path to a disk (the
# other node opens FILE itself). nbdkit runs in the foreground (stderr in
# $VDT_TMP/NAME.nbdkit.err). The FUSE file's path is left in FUSE_FILE: not
# printed for a command substitution, whose subshell's end would take the
# FUSE connection down with it (I/O then fails with ESHUTDOWN).
FUSE_FILE=
fuse_path() {
	local name=$1 file=$2 filter=$3 ksock=$VDT_TMP/$1.nbdkit.sock
	shift 3
	nbdkit -f --unix "$ksock" --filter="$filter" file file="$file" "$@" \
		</dev/null >/dev/null 2>"$VDT_TMP/$name.nbdkit.err" &
	DP_KILL_PIDS+=($!)
	fuse_mount "$name"
}

# fuse_mount NAME: nbdfuse at $VDC_DIR/n2/fuse-NAME/NAME for the nbdkit
# listening on $VDT_TMP/NAME.nbdkit.sock (stderr $VDT_TMP/NAME.nbdkit.err);
# the file's path in FUSE_FILE.
fuse_mount() {
	local name=$1 ksock=$VDT_TMP/$1.nbdkit.sock mnt=$VDC_DIR/n2/fuse-$1
	retry_until 5 test -S "$ksock" || fail "nbdkit for $name did not start: $(cat "$VDT_TMP/$name.nbdkit.err")"
	mkdir -p "$mnt"
	nbdfuse "$mnt/$name" --unix "$ksock" </dev/null >"$VDT_TMP/$name.nbdfuse.log" 2>&1 &
	DP_KILL_PIDS+=($!)
	DP_UMOUNTS+=("$mnt")
	retry_until 5 test -f "$mnt/$name" || fail "nbdfuse did not expose $mnt/$name: $(cat "$VDT_TMP/$name.nbdfuse.log")"
	# shellcheck disable=SC2034 # the scenarios use it
	FUSE_FILE=$mnt/$name
}

# pause_ctl SOCKET p|r: nbdkit's pause filter pauses (p: once what it runs
# has finished, later requests wait) or resumes (r); waits for its answer.
pause_ctl() {
	python3 - "$1" "$2" <<'PY' || fail "nbdkit pause control $2 failed"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
want = sys.argv[2].upper().encode()
got = s.recv(1)
sys.exit(0 if got == want else 1)
PY
}

# vdw_wait NAME [TIMEOUT_S]: waits for a writer started with --seconds; fails
# the test unless it exits 0.
vdw_wait() {
	local name=$1 t=${2:-60} pid rc=0 i
	pid=${SF_PID[$name]}
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && vdw_stop "$name" && return 0
	wait "$pid" || rc=$?
	unset "SF_PID[$name]"
	((rc == 0)) || fail "vdwriter $name exited $rc: $(cat "$VDT_TMP/$name.err")"
	echo "vdwriter $name: $(cat "$VDT_TMP/$name.json")"
}

# vdw_count NAME KIND: how many lines of KIND (S, A, E, FS, FA, FE) its log has.
vdw_count() { awk -v k="$2" '$1 == k { n++ } END { print n + 0 }' "$(vdw_log "$1")"; }

# vdw_errors NAME T0_MS: one line: how many writes and flushes were answered
# with an error, by errno, and when (ms after T0_MS); "no errors" if none.
vdw_errors() {
	awk -v t0="$2" '$1 == "E" || $1 == "FE" {
			e = $1 == "E" ? $4 : $3; at = ($1 == "E" ? $5 : $4) - t0
			n++; by[e]++
			if (n == 1 || at < lo) lo = at
			if (n == 1 || at > hi) hi = at
		}
		END {
			if (!n) { print "no errors"; exit }
			s = ""; for (e in by) s = s sprintf("%serrno %s: %d", s == "" ? "" : ", ", e, by[e])
			printf "%d answered with an error (%s), from %+d to %+d ms\n", n, s, lo, hi
		}' "$(vdw_log "$1")"
}

# safety_cluster MS [TOOL...]: the TOOLs must be there (scripts/install-deps.sh),
# then 3 nodes on 2 links with `[io] timeout_ms = MS` everywhere.
safety_cluster() {
	local ms=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh)"
	done
	step "3 nodes, 2 links, [io] timeout_ms = $ms"
	vdc up
	io_timeout "$ms"
	mkdir -p "$VDC_DIR/shared"
}

# shared_disk DISK [FILTER ARGS...]: DISK with its primary path on n2 and its
# secondary on n3, one 64 MiB file under $VDC_DIR/shared (SHARED_FILE). With
# a FILTER, n2 reaches it through nbdfuse -> nbdkit with that filter and its
# ARGS (fuse_path), n3 directly. n1 serves it when this returns.
SHARED_FILE=
shared_disk() {
	local disk=$1 primary
	shift
	SHARED_FILE=$VDC_DIR/shared/$disk.img
	truncate -s 64M "$SHARED_FILE"
	primary=$SHARED_FILE
	if (($#)); then
		fuse_path "$disk" "$SHARED_FILE" "$@"
		primary=$FUSE_FILE
	fi
	expect_ok "disk create $disk" ctl n1 disk create "$disk" --primary "n2:$primary" \
		--secondary "n3:$SHARED_FILE"
	converged 5
	wait_nbd n1 "$disk"
}

# writer_on_n1 NAME DISK BLOCKS: vdwriter NAME on n1 rewrites BLOCKS blocks of
# DISK (qd 4, 200 writes/s) and has 200 of them acknowledged; n2, the
# primary, served them (the faults are only a test while it does).
writer_on_n1() {
	local name=$1 disk=$2 blocks=$3
	step "vdwriter on n1 rewrites $blocks blocks of $disk (qd 4, 200 writes/s)"
	vdw_start "$name" n1 "$disk" --writer 1 --first 0 --blocks "$blocks" --qd 4 --rate 200
	retry_until 10 vdw_acked_after "$name" 0 200 ||
		fail "vdwriter acknowledged nothing: $(cat "$VDT_TMP/$name.err")"
	stats_settle
	assert_jq "n2 (the primary) serves $disk's writes" "$(stats_json n1)" \
		"([.nodes[] | select(.name == \"n2\")][0].requests // 0) > 0 and ([.disks[] | select(.name == \"$disk\")][0].errors // 0) == 0"
}

# ---------------------------------------------------------------- fencing

# fence_setup CMD: `[io] fence_command = CMD` on every node, vdiskd
# restarted; LEASE_MS: the lease n1 logs.
LEASE_MS=
fence_setup() {
	local n line
	step "every node: [io] fence_command = $1"
	for n in 1 2 3; do
		echo "fence_command = $1" >>"$VDC_DIR/n$n/vdisk.conf"
		vdc restart "n$n" vdiskd
	done
	for n in n1 n2 n3; do vdc wait-synced "$n" 20; done
	line=$(grep -m1 -E 'lease: [0-9]+ ms \(corosync token' "$VDC_DIR/n1/vdiskd.log") ||
		fail "n1 logged no lease"
	LEASE_MS=$(sed -E 's/.*lease: ([0-9]+) ms.*/\1/' <<<"$line")
	echo "n1: ${line#*] }"
}

# fence_lose_n2 CMD_NAME KILL...: runs KILL... (n2 lost whole) and waits
# until n1 says that n2's disks wait for the command CMD_NAME. T_KILL,
# T_LEAVE (ms), FENCE_MARK (n1's log before the kill).
T_KILL=
T_LEAVE=
FENCE_MARK=
fence_lose_n2() {
	local cmd=$1 pat
	shift
	FENCE_MARK=$(log_mark n1)
	T_KILL=$(now_ms)
	"$@"
	pat="lease: node n2 left; its disks wait until .*$cmd says it is fenced"
	retry_until 15 log_has n1 "$FENCE_MARK" "$pat" ||
		fail "n1 does not wait for $cmd: $(log_since n1 "$FENCE_MARK" | grep 'lease:' | tail -n 3)"
	T_LEAVE=$(now_ms)
	echo "n1, $((T_LEAVE - T_KILL)) ms after the kill: $(log_since n1 "$FENCE_MARK" | grep -m1 -E "$pat" | sed 's/.*\] //')"
}

# fence_held WRITER CMD_NAME: nothing is fenced yet; WRITER (on n1, vd1 of
# n2 and n3) gets no acknowledgement from n2 leaving + 1 s until + the lease
# + 4 s (a write may still be answered through n3 before n1 saw n2 leave:
# n2 silent for two heartbeat timeouts plus a second, its attempts dead),
# and n1 logs that the command failed.
fence_held() {
	local w=$1 cmd=$2 end held
	step "no fence confirmed: vd1 waits past the lease (until n2 left + lease + 4 s)"
	end=$((T_LEAVE + LEASE_MS + 4000))
	sleep "$(awk -v ms="$((end - $(now_ms)))" 'BEGIN { printf "%.3f", (ms > 0 ? ms / 1000 : 0) }')"
	held=$(vdw_acks_after "$w" "$((T_LEAVE + 1000))")
	((held == 0)) || fail "vd1 did not wait for the fence: $held writes acknowledged through n3 after n2 left + 1 s, before $cmd confirmed the fence"
	echo "ok: no write acknowledged from n2 leaving + 1 s to + $((end - T_LEAVE)) ms"
	log_has n1 "$FENCE_MARK" "$cmd n2 [0-9]+ [0-9]+: exit status 1 \\(run 1\\)" ||
		fail "n1 does not log $cmd's failure: $(log_since n1 "$FENCE_MARK" | grep 'lease:' | tail -n 3)"
}

# fence_released WRITER CMD_NAME T_FENCED: once the fence was confirmed (at
# T_FENCED, ms), WRITER goes on through n3 and n1 logs the confirmation.
fence_released() {
	local w=$1 cmd=$2 t=$3 first
	retry_until 15 vdw_acked_after "$w" "$t" 50 ||
		fail "vd1 does not go on after the fence was confirmed ($(vdw_acks_after "$w" "$t") acknowledged)"
	first=$(awk -v t="$t" '$1 == "A" && $4 > t { print $4; exit }' "$(vdw_log "$w")")
	echo "ok: first write acknowledged $((first - t)) ms after the fence was confirmed"
	log_has n1 "$FENCE_MARK" "$cmd n2 [0-9]+ [0-9]+ says node n2 is fenced; its disks go on without it" ||
		fail "n1 does not log the confirmation"
}
