# shellcheck shell=bash
# lib.sh — common code for the cluster scenario tests (test/scenario/*.sh).
#
#   source "$(dirname "$0")/../cluster/lib.sh"
#   vdc up                      # 3 nodes, 2 links, vdiskd synced
#   expect_ok "create vd1" vdc ctl n1 disk create vd1 --primary n2:...
#   ...
#
# Every test gets its own cluster prefix (vdt-<test name>), so it never meets
# another test's namespaces. An EXIT trap always runs `vdc down`; when the
# test failed it first shows the tail of every node's logs. A sanitizer report
# in any vdiskd log fails the test too (vdcluster down exits 1).
#
# Environment: VDISK_SRC, VDISK_BUILD (as ctest passes them), VDC_KEEP=1 to
# keep $VDC_DIR after the test for a post-mortem. A failed test copies every
# node's logs and configs to $VDT_LOGS/<prefix> (default /tmp/vdt-logs).

set -euo pipefail

VDISK_SRC=${VDISK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VDISK_BUILD=$(readlink -m "${VDISK_BUILD:-$VDISK_SRC/build}")
export VDISK_SRC VDISK_BUILD

VDT_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
VDC_HARNESS=$VDISK_SRC/test/cluster/vdcluster

# _vdt_owner_alive PID: the test process PID (a run of this same test) lives.
_vdt_owner_alive() {
	[[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$VDT_NAME"
}

# _vdt_reap_stale BASE: tear down clusters BASE-PID (and scratch dirs) left
# behind by runs of this test that were killed (a ctest timeout, SIGKILL).
_vdt_reap_stale() {
	local base=$1 f b pid
	local -A stale=()
	for f in /run/netns/"$base"-* /tmp/"$base"-*; do
		[[ -e $f ]] || continue
		b=${f##*/}
		if [[ $b =~ ^$base-([0-9]+)(-sw|-n[0-9]+|\.[A-Za-z0-9]+)?$ ]]; then
			pid=${BASH_REMATCH[1]}
			_vdt_owner_alive "$pid" || stale[$base-$pid]=1
		fi
	done
	for b in "${!stale[@]}"; do
		echo "note: removing the leftovers of an earlier run: $b" >&2
		VDC_PREFIX=$b VDC_DIR=/tmp/$b VDC_KEEP=0 "$VDC_HARNESS" down >/dev/null 2>&1 || true
		rm -rf "/tmp/$b".*
	done
}

# A prefix per test and per run (vdt-<test>-<pid>): runs of the same test by
# different people on one host do not meet.
if [[ -z ${VDC_PREFIX:-} ]]; then
	_vdt_base=vdt-$(printf '%s' "$VDT_NAME" | tr -c 'a-z0-9' '-' | cut -c1-12)
	_vdt_reap_stale "$_vdt_base"
	VDC_PREFIX=$_vdt_base-$$
fi
export VDC_PREFIX
export VDC_DIR=${VDC_DIR:-/tmp/$VDC_PREFIX}
VDT_START=$SECONDS
VDT_NODES=3

# Scratch space for the test's own files (outside VDC_DIR, which `up` wipes).
VDT_TMP=$(mktemp -d "/tmp/$VDC_PREFIX.XXXXXX")
# What programs running as other users (vdtest, nobody: ocf-tester) need
# from the checkout, copied where they can read it: the checkout may be
# under /root (mode 0700). public_copy FILE... copies there and prints the
# copies' paths; the sanitizers' suppressions are there from the start, as
# vdiskctl run as vdtest reads them.
VDT_PUB=$(mktemp -d "/tmp/$VDC_PREFIX-pub.XXXXXX")
chmod 0755 "$VDT_PUB"
public_copy() {
	local f
	for f in "$@"; do
		if ! cp -a "$f" "$VDT_PUB/" || ! chmod -R a+rX "$VDT_PUB/${f##*/}"; then
			fail "cannot copy $f to $VDT_PUB"
		fi
		echo "$VDT_PUB/${f##*/}"
	done
}
cp "$VDISK_SRC/test/lsan.supp" "$VDT_PUB/" && chmod 0644 "$VDT_PUB/lsan.supp"
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$VDT_PUB/lsan.supp:print_suppressions=0}

vdc() { "$VDC_HARNESS" "$@"; }

# Processes a test started outside the cluster's namespaces: stopped with
# SIGTERM (and waited for, so their mounts are gone) before the cleanup.
VDT_STOP_PIDS=()

# ctl NODE ARGS...: vdiskctl on NODE.
ctl() { "$VDC_HARNESS" ctl "$@"; }

_vdt_cleanup() {
	local rc=$? n d
	trap - EXIT INT TERM
	set +e
	if ((rc != 0)); then
		echo "=== $VDT_NAME failed (exit $rc) after $((SECONDS - VDT_START))s; cluster state and logs:" >&2
		vdc status >&2 2>&1
		for d in "$VDC_DIR"/n*; do
			[[ -d $d ]] || continue
			n=${d##*/}
			if [[ -f $d/vdiskd.log ]]; then
				echo "----- $n: last 40 lines of vdiskd.log" >&2
				tail -n 40 "$d/vdiskd.log" >&2
			fi
			if [[ -f $d/corosync.log ]]; then
				echo "----- $n: last 15 lines of corosync.log" >&2
				tail -n 15 "$d/corosync.log" >&2
			fi
		done
		echo "-----" >&2
		# Keep the logs and configs for a post-mortem (the cluster dir goes).
		local keep=${VDT_LOGS:-/tmp/vdt-logs}/$VDC_PREFIX
		if mkdir -p "$keep" 2>/dev/null; then
			(cd "$VDC_DIR" 2>/dev/null && find . -maxdepth 2 \( -name '*.log' -o -name '*.conf' -o -name '*.out' \) \
				-exec cp --parents {} "$keep/" \;) || true
			echo "full logs kept in $keep" >&2
		fi
	fi
	for n in "${VDT_STOP_PIDS[@]}"; do
		kill -TERM "$n" 2>/dev/null || continue
		for d in $(seq 50); do
			kill -0 "$n" 2>/dev/null || break
			sleep 0.1
		done
	done
	if ! vdc down; then
		echo "FAIL: $VDT_NAME: vdcluster down found sanitizer reports (above)" >&2
		rc=1
	fi
	rm -rf "$VDT_TMP" "$VDT_PUB"
	if ((rc == 0)); then
		echo "PASS: $VDT_NAME ($((SECONDS - VDT_START))s)"
	fi
	exit "$rc"
}
trap _vdt_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ((EUID != 0)); then
	echo "FAIL: $VDT_NAME: cluster tests need root (network namespaces)" >&2
	exit 1
fi

# ---------------------------------------------------------------- reporting

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() { echo "PASS: $*"; }

# step MSG: a progress line with the time since the test started.
step() { echo "--- [$((SECONDS - VDT_START))s] $*"; }

# ---------------------------------------------------------------- logs

# log_mark NODE: the current length of NODE's vdiskd.log, for log_since.
log_mark() { wc -l <"$VDC_DIR/n${1#n}/vdiskd.log"; }

# log_since NODE MARK: NODE's vdiskd.log lines after MARK.
log_since() { tail -n "+$(($2 + 1))" "$VDC_DIR/n${1#n}/vdiskd.log"; }

# log_has NODE MARK REGEX: a line after MARK matches REGEX (grep -Ei). Not a
# pipe into grep -q: under pipefail the writer's SIGPIPE would fail the test.
log_has() { grep -qEi -- "$3" <(log_since "$1" "$2"); }

# ---------------------------------------------------------------- assertions

# expect_ok DESC CMD...: CMD must exit 0. Its stdout is left in $OUT.
OUT=
expect_ok() {
	local desc=$1 rc=0 errf
	shift
	errf=$VDT_TMP/stderr
	OUT=$("$@" 2>"$errf") || rc=$?
	if ((rc != 0)); then
		echo "FAIL: $desc: '$*' exited $rc, expected 0" >&2
		echo "  stdout: $OUT" >&2
		echo "  stderr: $(cat "$errf")" >&2
		exit 1
	fi
	echo "ok: $desc"
}

# expect_fail DESC EXPECTED_EXIT SUBSTRING CMD...
#   CMD must exit EXPECTED_EXIT (or one of a comma-separated list, "1,2") and
#   its stderr must contain SUBSTRING (case-insensitive; "a|b" accepts either
#   literal alternative). A failure (exit 1) or usage error (exit 2) must explain itself in exactly
#   one line of stderr, as vdiskctl's contract says. Stdout is left in $OUT,
#   stderr in $ERR.
ERR=
expect_fail() {
	local desc=$1 want=$2 sub=$3 rc=0 errf ok=0 alt lines
	local -a alts
	shift 3
	errf=$VDT_TMP/stderr
	OUT=$("$@" 2>"$errf") || rc=$?
	ERR=$(cat "$errf")
	if [[ ",$want," != *",$rc,"* ]]; then
		echo "FAIL: $desc: '$*' exited $rc, expected $want" >&2
		echo "  stdout: $OUT" >&2
		echo "  stderr: $ERR" >&2
		exit 1
	fi
	IFS='|' read -r -a alts <<<"$sub"
	for alt in "${alts[@]}"; do
		if grep -qiF -- "$alt" "$errf"; then ok=1; fi
	done
	if ((!ok)); then
		echo "FAIL: $desc: '$*' exited $rc as expected, but stderr lacks '$sub'" >&2
		echo "  stderr: $ERR" >&2
		exit 1
	fi
	lines=$(grep -c . "$errf" || true)
	if (((rc == 1 || rc == 2) && lines != 1)); then
		echo "FAIL: $desc: '$*' exited $rc with $lines lines of stderr, expected a one-line reason" >&2
		echo "  stderr: $ERR" >&2
		exit 1
	fi
	echo "ok: $desc (exit $rc: $(head -n1 "$errf"))"
}

# client_refused DESC TEXT CMD...: a client CMD (nbdinfo, qemu-img, ...)
# fails and says TEXT (case-insensitive), on stdout or stderr. Clients print
# lines of their own around the server's reason, so expect_fail's one-line
# rule is not theirs.
client_refused() {
	local desc=$1 text=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	((rc != 0)) || fail "$desc: '$*' succeeded: $out"
	grep -qiF -- "$text" <<<"$out" || fail "$desc: exit $rc, but the output lacks '$text': $out"
	echo "ok: $desc refused (exit $rc: $(grep -m1 -iF -- "$text" <<<"$out"))"
}

# retry_until TIMEOUT_S CMD...: run CMD until it succeeds; 1 after TIMEOUT_S.
# Use as `retry_until 5 cmd || fail "..."`.
retry_until() {
	local t=$1 deadline
	shift
	deadline=$(($(date +%s%N) + t * 1000000000))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if (($(date +%s%N) >= deadline)); then
			return 1
		fi
		sleep 0.1
	done
}

# ---------------------------------------------------------------- cluster data

# disk_list NODE: the database's disks as NODE lists them, without which
# path serves each now and who has it open there (NODE's view of the
# moment, not the database).
disk_list() { ctl "$1" --json disk list | jq -S 'del(.disks[]?.serving, .disks[]?.open_here)'; }

# status_json NODE
status_json() { ctl "$1" --json status; }

# generation NODE: the database generation NODE reports.
generation() {
	local out
	out=$(ctl "$1" --json status) || return 1
	jq -er '.generation' <<<"$out"
}

# cmap_dump NODE: corosync-cmapctl -b vdisk. inside NODE.
cmap_dump() { vdc exec "$1" corosync-cmapctl -b vdisk.; }

# cmap_get NODE KEY: the value of one CMAP key (fails when absent).
cmap_get() {
	local out
	out=$(vdc exec "$1" corosync-cmapctl -g "$2" 2>/dev/null) || return 1
	printf '%s\n' "${out#* = }"
}

# cmap_has NODE KEY...: every KEY is in NODE's CMAP.
cmap_has() {
	local n=$1 dump k
	shift
	dump=$(cmap_dump "$n") || return 1
	for k in "$@"; do
		grep -qF "$k (" <<<"$dump" || return 1
	done
}

# cmap_lacks NODE PREFIX: no key in NODE's CMAP starts with PREFIX.
cmap_lacks() {
	local dump
	dump=$(cmap_dump "$1") || return 1
	! grep -q "^${2//./\\.}" <<<"$dump"
}

# members_count NODE: how many members NODE's vdiskd counts.
members_count() {
	local out
	out=$(ctl "$1" --json status) || return 1
	jq -er '.members | length' <<<"$out"
}

# members_are NODE N: NODE's vdiskd counts N members.
members_are() { [[ $(members_count "$1") == "$2" ]]; }

# wait_members NODE N [TIMEOUT_S]: until NODE's vdiskd counts N members.
wait_members() {
	retry_until "${3:-10}" members_are "$1" "$2" ||
		fail "$1: vdiskd counts $(members_count "$1") members after ${3:-10}s, want $2: $(status_json "$1")"
}

# same_lists NODE...: 0 if every NODE has the same disk list (and so the same
# generation); prints the first difference otherwise.
same_lists() {
	local first=$1 a b n
	a=$(disk_list "$first") || {
		echo "disk list on $first failed"
		return 1
	}
	shift
	for n in "$@"; do
		b=$(disk_list "$n") || {
			echo "disk list on $n failed"
			return 1
		}
		if [[ $a != "$b" ]]; then
			echo "disk list on $first and $n differ:"
			diff <(echo "$a") <(echo "$b") | head -n 30
			return 1
		fi
	done
	return 0
}

# converged TIMEOUT_S [NODE...]: every NODE (default all) shows the same disk
# list within TIMEOUT_S seconds, or the test fails showing the difference.
converged() {
	local t=$1 i
	local -a nodes
	shift
	if (($# == 0)); then
		nodes=()
		for ((i = 1; i <= VDT_NODES; i++)); do nodes+=("n$i"); done
	else
		nodes=("$@")
	fi
	if ! retry_until "$t" same_lists "${nodes[@]}"; then
		same_lists "${nodes[@]}" >&2 || true
		fail "disk lists of ${nodes[*]} not identical within ${t}s"
	fi
}

# disk_json NODE NAME: one disk from NODE's list, or fails.
disk_json() {
	local out
	out=$(ctl "$1" --json disk list) || return 1
	jq -e --arg n "$2" '.disks[] | select(.name == $n)' <<<"$out"
}

# assert_jq DESC JSON FILTER: jq -e FILTER must hold on JSON.
assert_jq() {
	if ! jq -e "$3" >/dev/null 2>&1 <<<"$2"; then
		echo "FAIL: $1: '$3' does not hold for:" >&2
		echo "$2" >&2
		exit 1
	fi
	echo "ok: $1"
}

# assert_eq DESC GOT WANT
assert_eq() {
	if [[ $2 != "$3" ]]; then
		fail "$1: got '$2', want '$3'"
	fi
	if [[ $2 == *$'\n'* ]]; then
		echo "ok: $1"
	else
		echo "ok: $1 ($2)"
	fi
}

# backing NODE NAME [SIZE]: a sparse backing file in NODE's directory; prints its path.
backing() {
	local f
	f=$VDC_DIR/$1/$2.img
	truncate -s "${3:-64M}" "$f"
	echo "$f"
}
