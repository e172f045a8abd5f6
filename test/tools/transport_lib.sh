# shellcheck shell=bash
# shellcheck disable=SC2034 # VDPEER and PING_JSON are for the scenarios
# transport_lib.sh — helpers shared by test/scenario/transport_*.sh, sourced
# after test/cluster/lib.sh (it uses vdc, ctl, fail and the VDC_* variables).

VDPEER=$VDISK_SRC/test/tools/vdpeer.py

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# vctl NODE ARGS...: vdiskctl on NODE without the harness's bash start-up,
# for tight polling loops (a few ms instead of tens).
vctl() {
	local n=${1#n}
	shift
	nsenter --net="/run/netns/$VDC_PREFIX-n$n" "$VDISK_BUILD/cli/vdiskctl" "$@"
}

# links_json NODE: `link status --json` of NODE.
links_json() { vctl "$1" --json link status; }

# link_field NODE PEER LINK FIELD: one field of one link (PEER is nN or N).
link_field() {
	local j v
	j=$(links_json "$1") || fail "$1: vdiskctl link status failed"
	v=$(jq -er --argjson p "${2#n}" --argjson l "$3" --arg f "$4" \
		'.links[] | select(.node == $p and .link == $l) | .[$f]' <<<"$j") || true
	[[ -n $v ]] || fail "$1: link status has no field $4 for link $3 to $2: $j"
	echo "$v"
}

# link_state_fast NODE PEER LINK: the state from the plain table (no jq).
# Prints nothing when vdiskctl fails (never fails itself).
link_state_fast() {
	{ vctl "$1" link status 2>/dev/null || true; } |
		awk -v p="n${2#n}" -v l="$3" '$1 == p && $3 == l { print $4; exit }'
}

# links_all_up NODE PEER...: every link from NODE to every PEER is up.
links_all_up() {
	local n=$1 j p
	shift
	j=$(links_json "$n") || return 1
	for p in "$@"; do
		jq_holds "$j" "[.links[] | select(.node == ${p#n})] | length > 0 and all(.state == \"up\")" ||
			return 1
	done
}

# wait_links_up NODE TIMEOUT_S PEER...: until links_all_up, or the test fails.
wait_links_up() {
	local n=$1 t=$2
	shift 2
	if ! retry_until "$t" links_all_up "$n" "$@"; then
		vctl "$n" link status >&2 || true
		fail "$n: not every link to $* is up after ${t}s"
	fi
}

# wait_link_state NODE PEER LINK STATE TIMEOUT_S
wait_link_state() {
	local deadline=$(($(now_ms) + $5 * 1000)) s
	while :; do
		s=$(link_state_fast "$1" "$2" "$3")
		[[ $s == "$4" ]] && return 0
		if (($(now_ms) >= deadline)); then
			vctl "$1" link status >&2 || true
			fail "$1: link $3 to $2 is '$s', not '$4', after $5 s"
		fi
		sleep 0.05
	done
}

# jq_holds JSON FILTER: JSON is one document and FILTER holds on it. (Plain
# `jq -e F <<<""` succeeds: no input, no false result.)
jq_holds() {
	jq -es 'length == 1' >/dev/null 2>&1 <<<"$1" &&
		jq -e "$2" >/dev/null 2>&1 <<<"$1"
}

# jcheck DESC JSON FILTER: as lib.sh's assert_jq, but empty JSON fails.
jcheck() {
	if ! jq_holds "$2" "$3"; then
		echo "FAIL: $1: '$3' does not hold for:" >&2
		echo "${2:-<empty>}" >&2
		exit 1
	fi
	echo "ok: $1"
}

# ping_check DESC JSON: the ping reply says the session ran to its end and
# every echo came back once and intact: nothing lost, corrupt, or answered
# twice (the transport delivers each message once, across failovers too).
ping_check() {
	local desc=$1 j=$2
	if ! jq_holds "$j" '.error == null and .sent == .count and .received == .sent and
		.lost == 0 and .corrupt == 0 and .duplicates == 0'; then
		echo "FAIL: $desc: pings cut short, lost, corrupt or answered twice:" >&2
		echo "$j" >&2
		exit 1
	fi
	echo "ok: $desc ($(jq -r '"\(.received)/\(.sent) received, 0 lost, 0 corrupt, 0 duplicates, p50 \(.rtt_us.p50) us, longest gap \(.max_gap_us / 1000) ms"' <<<"$j"))"
}

# ping_ok DESC NODE PEER ARGS...: a ping that must lose nothing. Its JSON
# is left in $PING_JSON.
PING_JSON=
ping_ok() {
	local desc=$1 n=$2 p=$3 j rc=0
	shift 3
	j=$(vctl "$n" --json ping "$p" "$@" 2>"$VDT_TMP/ping.err") || rc=$?
	if ((rc != 0)) && [[ -z $j ]]; then
		fail "$desc: vdiskctl ping $p $* exited $rc: $(cat "$VDT_TMP/ping.err")"
	fi
	PING_JSON=$j
	((rc == 0)) || echo "note: vdiskctl ping exited $rc: $(cat "$VDT_TMP/ping.err")" >&2
	ping_check "$desc" "$j"
}

# vdiskd_pid NODE
vdiskd_pid() { vdc pid "$1" vdiskd; }

# assert_alive PID_N1 PID_N2 ...: each node's vdiskd runs, with the same pid.
assert_alive() {
	local i=1 want got
	for want in "$@"; do
		got=$(vdiskd_pid "n$i" 2>/dev/null || true)
		[[ -n $got && $got == "$want" ]] ||
			fail "vdiskd on n$i is gone or was restarted (pid '$got', was $want)"
		i=$((i + 1))
	done
	echo "ok: vdiskd alive on ${#} nodes (pids $*)"
}

# expect_log NODE MARK PATTERN TIMEOUT_S: a line matching PATTERN (grep -E)
# appears after MARK.
expect_log() {
	local deadline=$(($(now_ms) + $4 * 1000))
	while ! log_has "$1" "$2" "$3"; do
		if (($(now_ms) >= deadline)); then
			echo "----- $1: vdiskd log since the mark:" >&2
			log_since "$1" "$2" | tail -n 30 >&2
			fail "$1: no log line matching '$3' within $4 s"
		fi
		sleep 0.05
	done
	echo "ok: $1 logged: $(log_since "$1" "$2" | grep -E -m1 -- "$3" | sed 's/^.*\] //')"
}

# fd_count PID, rss_kib PID
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
