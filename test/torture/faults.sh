# shellcheck shell=bash
# faults.sh — the fault kinds of the torture suite (test/torture/run.sh).
#
# Sourced by run.sh after test/cluster/lib.sh. Every kind is one function
#
#   fault_<kind> TARGET HOLD_MS
#
# that injects the fault into the running cluster, holds it for HOLD_MS
# (while every node's writer keeps writing), and heals it: when it returns,
# every process it stopped or killed has been continued or restarted, and
# every rule it added is gone. It reports what it did in globals:
#
#   F_INJECT_MS  F_HEAL_MS   wall clock (ms) of the injection and of the heal
#   F_RESTARTED  nodes (nN ...) whose vdiskd the fault restarted on purpose
#   F_OUT_NODE   the node the fault puts outside the membership (I4), or ""
#   F_CHANGE_MS  when another node's vdiskd first counted fewer members
#                (polled during the hold), or "" (no change seen)
#   F_NOTE       a short remark for the cycle line (a refused command ...)
#   F_I6         1 when a vdiskd did not stop within 10 s of SIGTERM (I6:
#                shutdown must not hang)
#
# Targets: a node (n2), a node and link (n2/link0), or a disk (vd3).
# Helpers used here and defined in run.sh: now_ms, NODE_NAMES, DISK_* tables.

# shellcheck disable=SC2034 # the F_* globals are read by run.sh

FAULT_KINDS=(vdiskd-kill vdiskd-term vdiskd-stop corosync-stop node-kill
	link-down link-flap isolate partition-link partition-asym
	disk-error disk-stall map-promote map-set suspend fast-restart)

# Processes a fault stopped (SIGSTOP) and rules it added, so that an
# interrupted run continues and removes them before the teardown.
TORTURE_STOPPED=()
TORTURE_NFT=()

f_reset() {
	F_INJECT_MS=$(now_ms)
	F_HEAL_MS=
	F_RESTARTED=
	F_OUT_NODE=
	F_CHANGE_MS=
	F_NOTE=
	F_I6=0
}

# members_seen NODE: how many members NODE's vdiskd counts (empty on failure).
members_seen() {
	local out
	out=$(timeout 5 "$VDC_HARNESS" ctl "$1" --json status 2>/dev/null) || return 0
	jq -r '.members | length' <<<"$out" 2>/dev/null || true
}

# witness NODE: another node, the one that watches the membership.
witness() {
	local n=${1#n}
	echo "n$((n % NODES + 1))"
}

# hold MS [OUT_NODE]: sleep MS; with OUT_NODE, poll another node's member
# count meanwhile and set F_CHANGE_MS when it first drops below NODES.
hold() {
	local ms=$1 out=${2:-} end w c
	((ms > 0)) || ms=0
	end=$(($(now_ms) + ms))
	if [[ -z $out ]]; then
		sleep "$(ms_to_s "$ms")"
		return 0
	fi
	F_OUT_NODE=$out
	w=$(witness "$out")
	while (($(now_ms) < end)); do
		if [[ -z $F_CHANGE_MS ]]; then
			c=$(members_seen "$w")
			if [[ -n $c && $c -lt $NODES ]]; then F_CHANGE_MS=$(now_ms); fi
		fi
		sleep 0.2
	done
}

ms_to_s() { awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'; }

# sig_proc NODE WHAT SIG: a signal to NODE's vdiskd or corosync.
sig_proc() {
	local pid
	pid=$(vdc pid "$1" "$2") || { F_NOTE+="$2 on $1 not running; "; return 1; }
	kill -s "$3" "$pid"
	if [[ $3 == STOP ]]; then TORTURE_STOPPED+=("$pid"); fi
	echo "$pid"
}

cont_pid() {
	local p=$1 i
	kill -CONT "$p" 2>/dev/null || true
	for i in "${!TORTURE_STOPPED[@]}"; do
		if [[ ${TORTURE_STOPPED[$i]} == "$p" ]]; then unset "TORTURE_STOPPED[$i]"; fi
	done
}

start_vdiskd() {
	vdc start "$1" vdiskd >/dev/null
	F_RESTARTED+="$1 "
}

# ---------------------------------------------------------------- processes

fault_vdiskd-kill() {
	f_reset
	vdc kill "$1" vdiskd KILL
	hold "$2"
	start_vdiskd "$1"
	F_HEAL_MS=$(now_ms)
}

fault_vdiskd-term() {
	f_reset
	if ! vdc kill "$1" vdiskd TERM; then
		F_NOTE+="vdiskd on $1 still ran 10 s after SIGTERM (then SIGKILL); "
		F_I6=1
		vdc kill "$1" vdiskd KILL || true
	fi
	hold "$(($2 - ($(now_ms) - F_INJECT_MS)))"
	start_vdiskd "$1"
	F_HEAL_MS=$(now_ms)
}

# SIGSTOP longer than [io] timeout_ms and the heartbeat timeout: the others
# re-route its requests; what it held when frozen must never land late.
fault_vdiskd-stop() {
	local pid
	f_reset
	pid=$(sig_proc "$1" vdiskd STOP) || return 0
	hold "$2"
	cont_pid "$pid"
	F_HEAL_MS=$(now_ms)
}

# corosync frozen longer than the token timeout: the others form a
# membership without the node, whose vdiskd hears nothing (I4).
fault_corosync-stop() {
	local pid
	f_reset
	pid=$(sig_proc "$1" corosync STOP) || return 0
	hold "$2" "$1"
	cont_pid "$pid"
	F_HEAL_MS=$(now_ms)
}

fault_node-kill() {
	f_reset
	vdc kill "$1" corosync KILL
	vdc kill "$1" vdiskd KILL
	hold "$2"
	vdc start "$1" corosync >/dev/null
	start_vdiskd "$1"
	F_HEAL_MS=$(now_ms)
}

# vdiskd killed and restarted within a second, several times.
fault_fast-restart() {
	local i end
	f_reset
	end=$((F_INJECT_MS + $2))
	for i in 1 2 3 4 5; do
		vdc kill "$1" vdiskd KILL
		start_vdiskd "$1"
		(($(now_ms) < end)) || break
		sleep "0.$((3 + i))"
	done
	F_NOTE+="$i restarts; "
	F_HEAL_MS=$(now_ms)
}

# ---------------------------------------------------------------- network

split_link() { # n2/link0 -> "n2 0"
	local t=$1
	echo "${t%%/*} ${t##*/link}"
}

fault_link-down() {
	local n l
	read -r n l < <(split_link "$1")
	f_reset
	vdc link "$n" "$l" down
	hold "$2"
	vdc link "$n" "$l" up
	F_HEAL_MS=$(now_ms)
}

# Down 600 ms, up 400 ms, until the hold is over (at least three times).
fault_link-flap() {
	local n l end k=0
	read -r n l < <(split_link "$1")
	f_reset
	end=$((F_INJECT_MS + $2))
	while ((k < 3 || $(now_ms) < end)); do
		vdc link "$n" "$l" down
		sleep 0.6
		vdc link "$n" "$l" up
		sleep 0.4
		k=$((k + 1))
	done
	F_NOTE+="$k flaps; "
	F_HEAL_MS=$(now_ms)
}

fault_isolate() {
	f_reset
	vdc isolate "$1"
	TORTURE_NFT+=("$1:isolate")
	hold "$2" "$1"
	vdc heal "$1"
	nft_forget "$1:isolate"
	F_HEAL_MS=$(now_ms)
}

# nft_apply NODE RULES: the torture table inside NODE's namespace.
nft_apply() {
	local n=$1 rules=$2
	vdc exec "$n" nft -f - <<EOF
table inet torture
delete table inet torture
table inet torture {
$rules
}
EOF
	TORTURE_NFT+=("$n:torture")
}

nft_remove() {
	vdc exec "$1" nft -f - <<'EOF'
table inet torture
delete table inet torture
EOF
	nft_forget "$1:torture"
}

nft_forget() {
	local i
	for i in "${!TORTURE_NFT[@]}"; do
		if [[ ${TORTURE_NFT[$i]} == "$1" ]]; then unset "TORTURE_NFT[$i]"; fi
	done
}

# Only one link of the node cut, both ways (the other link still carries
# corosync and the transport): no membership change is expected.
fault_partition-link() {
	local n l
	read -r n l < <(split_link "$1")
	f_reset
	nft_apply "$n" "	chain input {
		type filter hook input priority -100; policy accept;
		iifname \"link$l\" drop
	}
	chain output {
		type filter hook output priority -100; policy accept;
		oifname \"link$l\" drop
	}"
	hold "$2"
	nft_remove "$n"
	F_HEAL_MS=$(now_ms)
}

# Asymmetric: the node hears nothing (all incoming dropped but lo) and still
# sends; the node is the one outside the membership.
fault_partition-asym() {
	f_reset
	nft_apply "$1" "	chain input {
		type filter hook input priority -100; policy accept;
		iifname != \"lo\" drop
	}"
	hold "$2" "$1"
	nft_remove "$1"
	F_HEAL_MS=$(now_ms)
}

# ---------------------------------------------------------------- disk path

# The fault disk's primary path is a FUSE file (nbdfuse) over nbdkit with
# the error filter (EIO on everything while $FAULT_EIO exists) and the pause
# filter (requests hang while paused, through its control socket).
pause_ctl() { # p | r
	python3 - "$FAULT_PAUSE_SOCK" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
r = s.recv(1)
sys.exit(0 if r == sys.argv[2].upper().encode() else 1)
EOF
}

fault_disk-error() {
	f_reset
	touch "$FAULT_EIO"
	hold "$2"
	rm -f "$FAULT_EIO"
	F_HEAL_MS=$(now_ms)
}

# The path hangs: requests to it block in the kernel (FUSE) and execute when
# it resumes, long after the router gave up on them.
fault_disk-stall() {
	f_reset
	FAULT_PAUSED=1
	# 'P' comes back once what was outstanding finished; new requests hang.
	pause_ctl p || F_NOTE+="pause not confirmed; "
	hold "$2"
	pause_ctl r || F_NOTE+="resume not confirmed; "
	FAULT_PAUSED=0
	F_HEAL_MS=$(now_ms)
}

# ---------------------------------------------------------------- mapping

# map_cmd NODE ARGS...: vdiskctl on NODE; a refusal is noted, not fatal.
map_cmd() {
	local n=$1 out
	shift
	if ! out=$(vdc ctl "$n" "$@" 2>&1); then
		F_NOTE+="'$*' on $n refused: ${out//$'\n'/ }; "
		return 1
	fi
}

fault_map-promote() {
	local d=$1 p s
	p=${DISK_PRI[$d]}
	s=${DISK_SEC[$d]}
	f_reset
	map_cmd "$s" map promote "$d" "$s" || true
	hold "$2"
	map_cmd "$p" map promote "$d" "$p" || true
	F_HEAL_MS=$(now_ms)
}

fault_map-set() {
	local d=$1 p s
	p=${DISK_PRI[$d]}
	s=${DISK_SEC[$d]}
	f_reset
	map_cmd "$p" map set "$d" --primary "$s:${DISK_SEC_DEV[$d]}" \
		--secondary "$p:${DISK_PRI_DEV[$d]}" || true
	hold "$2"
	map_cmd "$s" map set "$d" --primary "$p:${DISK_PRI_DEV[$d]}" \
		--secondary "$s:${DISK_SEC_DEV[$d]}" || true
	F_HEAL_MS=$(now_ms)
}

fault_suspend() {
	local d=$1
	f_reset
	map_cmd "${DISK_SEC[$d]}" suspend "$d" || true
	hold "$2"
	map_cmd "${DISK_PRI[$d]}" resume "$d" || true
	F_HEAL_MS=$(now_ms)
}

# faults_cleanup: continue what a fault stopped, remove its rules, resume
# the paused path (an interrupted run).
faults_cleanup() {
	local p r
	for p in "${TORTURE_STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
	for r in "${TORTURE_NFT[@]}"; do
		case $r in
		*:isolate) vdc heal "${r%%:*}" 2>/dev/null || true ;;
		*:torture) nft_remove "${r%%:*}" 2>/dev/null || true ;;
		esac
	done
	rm -f "${FAULT_EIO:-/nonexistent}"
	if ((${FAULT_PAUSED:-0})); then pause_ctl r 2>/dev/null || true; fi
}
