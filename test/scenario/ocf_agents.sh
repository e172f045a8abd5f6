#!/usr/bin/env bash
# The OCF agents (agents/vdiskd, agents/vdisk) on a 3-node cluster, run the way
# Pacemaker runs them (a node's network namespace, an environment of OCF
# variables and a bare PATH) but without Pacemaker:
#   (a) meta-data valid against OCF 1.1 (pcs's schema) and ra-api-1.dtd;
#       both agents shellcheck-clean;
#   (b) ocf:vdisk:vdiskd: ocf-tester on n1, whose vdiskd vdcluster stopped;
#       a daemon that does not answer is an error, bad parameters are
#       OCF_ERR_CONFIGURED, missing programs OCF_ERR_INSTALLED;
#   (c) ocf:vdisk:vdisk: ocf-tester on n1 (a path of vd1 there);
#   (d) monitor per role: promoted on the primary's node 8, the secondary's
#       node 0, a node without a path 0, stopped 7; promote and demote move
#       the primary; a pathless node cannot be promoted; a stopped instance
#       serves no device file;
#   (e) a failed local path: monitor and start succeed with a warning (the
#       node serves the disk through the other path), promote is refused;
#       demote off a failed primary hands it to the other path (the failed
#       one steps down), and onto a failed path is refused;
#   (f) bad parameters, a missing disk; with vdiskd down, monitor and
#       demote leave the recovery to the vdiskd resource, start fails.
# Every failure must come with an exit reason.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

# ocf-tester runs agents as nobody too: they must be readable by all.
OCF_DIR=$(public_copy "$VDISK_SRC/agents")
RNG=/usr/share/pcs/data/ocf-1.1.rng
VDISKD=$VDISK_BUILD/service/vdiskd
VDISKCTL=$VDISK_BUILD/cli/vdiskctl
# What Pacemaker gives an agent (under systemd).
RA_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

for tool in xmllint shellcheck ocf-tester jq; do
	command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh)"
done
[[ -r $RNG ]] || fail "$RNG missing (install pcs)"

# ra NODE AGENT ACTION [NAME=VALUE...]: the agent's ACTION on NODE with the
# resource parameters NAME=VALUE. Instance RA_INSTANCE (default the agent),
# Pacemaker's action timeout RA_TIMEOUT_MS (default 20000). Sets RA_RC,
# RA_OUT and RA_ERR. HA_RSCTMP is per node, as /run is on real nodes.
RA_RC=0
RA_OUT=
RA_ERR=
ra() {
	local node=$1 agent=$2 action=$3 kv
	local -a env=(PATH="$RA_PATH" OCF_ROOT=/usr/lib/ocf OCF_RA_VERSION_MAJOR=1
		OCF_RA_VERSION_MINOR=1 "OCF_RESOURCE_INSTANCE=${RA_INSTANCE:-$agent}"
		"HA_RSCTMP=$VDC_DIR/$node/rsctmp" "OCF_RESKEY_CRM_meta_timeout=${RA_TIMEOUT_MS:-20000}"
		HA_LOGFACILITY=none)
	shift 3
	for kv in "$@"; do env+=("OCF_RESKEY_$kv"); done
	RA_RC=0
	RA_OUT=$(vdc exec "$node" env -i "${env[@]}" "$OCF_DIR/$agent" "$action" \
		2>"$VDT_TMP/ra.err") || RA_RC=$?
	RA_ERR=$(cat "$VDT_TMP/ra.err")
}

# expect_ra DESC WANT REASON NODE AGENT ACTION [NAME=VALUE...]: the action
# exits WANT; an error (not 0, 7 or 8) must give an exit reason, containing
# REASON (case-insensitive) unless REASON is empty.
expect_ra() {
	local desc=$1 want=$2 reason=$3 got
	shift 3
	ra "$@"
	if ((RA_RC != want)); then
		echo "  stdout: $RA_OUT" >&2
		echo "  stderr: $RA_ERR" >&2
		fail "$desc: $3 $2 on $1 exited $RA_RC, want $want"
	fi
	got=$(sed -n 's/^ocf-exit-reason://p' <<<"$RA_ERR" | tail -n 1)
	case $want in
	0 | 7 | 8) ;;
	*)
		[[ -n $got ]] || fail "$desc: exit $RA_RC without an exit reason; stderr: $RA_ERR"
		if [[ -n $reason ]] && ! grep -qiF -- "$reason" <<<"$got"; then
			fail "$desc: exit reason '$got' lacks '$reason'"
		fi
		;;
	esac
	echo "ok: $desc (exit $RA_RC${got:+: $got})"
}

primary_of() { ctl n3 --json disk show "$1" | jq -r .disk.primary.node_name; }
secondary_of() { ctl n3 --json disk show "$1" | jq -r '.disk.secondary.node_name // "-"'; }

# ------------------------------------------------------------------ (a)
step "(a) meta-data and shellcheck"
for a in vdiskd vdisk; do
	md=$(OCF_ROOT=/usr/lib/ocf "$OCF_DIR/$a" meta-data) || fail "$a meta-data failed"
	# The DTD is loaded from the directory ocf-tester validates in.
	expect_ok "$a meta-data against OCF 1.1 ($RNG)" \
		xmllint --noout --relaxng "$RNG" --path /usr/share/resource-agents - <<<"$md"
	expect_ok "$a meta-data against ra-api-1.dtd" \
		xmllint --noout --valid --path /usr/share/resource-agents - <<<"$md"
	expect_ok "shellcheck $a" shellcheck "$OCF_DIR/$a"
done

vdc up
n1conf=$VDC_DIR/n1/vdisk.conf
DPARAMS=("config=$n1conf" "binary=$VDISKD" "vdiskctl=$VDISKCTL" "logfile=$VDC_DIR/n1/vdiskd.log")

# ------------------------------------------------------------------ (b)
step "(b) ocf:vdisk:vdiskd on n1"
vdc stop n1 vdiskd
expect_ok "ocf-tester ocf:vdisk:vdiskd on n1" vdc exec n1 env "HA_RSCTMP=$VDC_DIR/n1/rsctmp" \
	ocf-tester -n vdiskd -o "config=$n1conf" -o "binary=$VDISKD" -o "vdiskctl=$VDISKCTL" \
	-o "logfile=$VDC_DIR/n1/vdiskd.log" "$OCF_DIR/vdiskd"
echo "$OUT" | tail -n 3

expect_ra "vdiskd monitor, stopped" 7 "" n1 vdiskd monitor "${DPARAMS[@]}"
expect_ra "vdiskd start" 0 "" n1 vdiskd start "${DPARAMS[@]}"
pid=$(<"$VDC_DIR/n1/run-vdisk/vdiskd.pid")
assert_eq "the pid file names the daemon" "$(vdc pid n1 vdiskd)" "$pid"
assert_jq "n1 synced after start" "$(ctl n1 --json status)" '.synced == true'
expect_ra "vdiskd start again" 0 "" n1 vdiskd start "${DPARAMS[@]}"
assert_eq "still the same daemon" "$(vdc pid n1 vdiskd)" "$pid"
expect_ra "vdiskd monitor, running" 0 "" n1 vdiskd monitor "${DPARAMS[@]}"
# A hung daemon: the monitor must answer within its timeout, with a reason.
kill -STOP "$pid"
t0=$SECONDS
RA_TIMEOUT_MS=6000 expect_ra "vdiskd monitor, daemon stopped by SIGSTOP" 1 "does not answer" \
	n1 vdiskd monitor "${DPARAMS[@]}"
((SECONDS - t0 <= 6)) || fail "the monitor took $((SECONDS - t0))s, beyond its 6s timeout"
kill -CONT "$pid"
expect_ra "vdiskd monitor, continued" 0 "" n1 vdiskd monitor "${DPARAMS[@]}"

expect_ra "vdiskd validate-all" 0 "" n1 vdiskd validate-all "${DPARAMS[@]}"
expect_ra "vdiskd: relative config" 6 "absolute" n1 vdiskd validate-all \
	config=vdisk.conf "binary=$VDISKD" "vdiskctl=$VDISKCTL"
expect_ra "vdiskd: relative logfile" 6 "absolute" n1 vdiskd validate-all \
	"config=$n1conf" "binary=$VDISKD" "vdiskctl=$VDISKCTL" logfile=vdiskd.log
badconf=$VDT_TMP/bad-ipc.conf
printf '[daemon]\nipc_name = no/slash\n' >"$badconf"
expect_ra "vdiskd: bad ipc_name in the config" 6 "ipc_name" n1 vdiskd validate-all \
	"config=$badconf" "binary=$VDISKD" "vdiskctl=$VDISKCTL"
expect_ra "vdiskd: missing config" 5 "$VDT_TMP/none.conf" n1 vdiskd validate-all \
	"config=$VDT_TMP/none.conf" "binary=$VDISKD" "vdiskctl=$VDISKCTL"
expect_ra "vdiskd: missing program" 5 "/nonexistent/vdiskd" n1 vdiskd start \
	"config=$n1conf" binary=/nonexistent/vdiskd "vdiskctl=$VDISKCTL"
expect_ra "vdiskd: probe where vdisk is missing" 7 "" n1 vdiskd monitor \
	"config=$VDT_TMP/none.conf" binary=/nonexistent/vdiskd CRM_meta_interval=0
# n2's vdiskd is vdcluster's: not the agent's to monitor or to start twice.
n2params=("config=$VDC_DIR/n2/vdisk.conf" "binary=$VDISKD" "vdiskctl=$VDISKCTL" "logfile=$VDC_DIR/n2/vdiskd.log")
expect_ra "vdiskd monitor on n2, a daemon the agent did not start" 7 "" n2 vdiskd monitor "${n2params[@]}"
expect_ra "vdiskd start on n2, a daemon the agent did not start" 1 "not started by this agent" \
	n2 vdiskd start "${n2params[@]}"
vdc pid n2 vdiskd >/dev/null || fail "n2's vdiskd is gone"
# The agent's daemon on n1 stays: what follows needs it, vdcluster stops it.

# ------------------------------------------------------------------ (c)
step "(c) ocf:vdisk:vdisk on n1: ocf-tester"
f=$VDC_DIR/vd1.img
truncate -s 64M "$f"
expect_ok "disk create vd1 (n1 primary, n2 secondary: one file)" \
	ctl n1 disk create vd1 --primary "n1:$f" --secondary "n2:$f"
converged 5
expect_ok "ocf-tester ocf:vdisk:vdisk on n1" vdc exec n1 env "HA_RSCTMP=$VDC_DIR/n1/rsctmp" \
	ocf-tester -n vd1-tester -o disk=vd1 -o "vdiskctl=$VDISKCTL" -o "config=$n1conf" "$OCF_DIR/vdisk"
echo "$OUT" | tail -n 3

# ------------------------------------------------------------------ (d)
step "(d) roles"
P=(disk=vd1 "vdiskctl=$VDISKCTL")
if [[ $(primary_of vd1) != n1 ]]; then
	expect_ok "vd1's primary back to n1" ctl n1 map promote vd1 n1
fi
for n in n1 n2 n3; do
	expect_ra "vd1 monitor on $n before start" 7 "" "$n" vdisk monitor "${P[@]}"
	expect_ra "vd1 start on $n" 0 "" "$n" vdisk start "${P[@]}"
done
expect_ra "vd1 monitor on n1 (primary path, not promoted yet)" 0 "" n1 vdisk monitor "${P[@]}"
expect_ra "vd1 promote on n1 (already the primary)" 0 "" n1 vdisk promote "${P[@]}"
expect_ra "vd1 monitor on n1 (promoted)" 8 "" n1 vdisk monitor "${P[@]}"
expect_ra "vd1 monitor on n2 (secondary path)" 0 "" n2 vdisk monitor "${P[@]}"
expect_ra "vd1 monitor on n3 (no path)" 0 "" n3 vdisk monitor "${P[@]}"
expect_ra "vd1 promote on n3 (no path)" 1 "no path" n3 vdisk promote "${P[@]}"
assert_eq "vd1's primary" "$(primary_of vd1)" n1
expect_ra "vd1 demote on n1" 0 "" n1 vdisk demote "${P[@]}"
assert_eq "vd1's primary after the demote on n1" "$(primary_of vd1)" n2
expect_ra "vd1 monitor on n1 (demoted)" 0 "" n1 vdisk monitor "${P[@]}"
expect_ra "vd1 promote on n2 (already the primary)" 0 "" n2 vdisk promote "${P[@]}"
expect_ra "vd1 monitor on n2 (promoted)" 8 "" n2 vdisk monitor "${P[@]}"
expect_ra "vd1 promote on n1" 0 "" n1 vdisk promote "${P[@]}"
assert_eq "vd1's primary after the promote on n1" "$(primary_of vd1)" n1
expect_ra "vd1 monitor on n1 (promoted again)" 8 "" n1 vdisk monitor "${P[@]}"
expect_ra "vd1 demote on n2 (not the primary: nothing to do)" 0 "" n2 vdisk demote "${P[@]}"
assert_eq "vd1's primary after the demote on n2" "$(primary_of vd1)" n1
expect_ra "vd1 monitor on n2 (demoted)" 0 "" n2 vdisk monitor "${P[@]}"
[[ -e $VDC_DIR/n3/dev/vd1 ]] || fail "vd1's started instance on n3 does not serve its device file"
for n in n3 n2 n1; do
	expect_ra "vd1 stop on $n" 0 "" "$n" vdisk stop "${P[@]}"
	expect_ra "vd1 monitor on $n after stop" 7 "" "$n" vdisk monitor "${P[@]}"
	# A stopped instance: the disk is not served on that node.
	[[ ! -e $VDC_DIR/$n/dev/vd1 ]] || fail "vd1's stopped instance on $n still serves its device file"
done
echo "ok: a stopped instance serves no device file of vd1"
expect_ra "vd1 stop on n1 again" 0 "" n1 vdisk stop "${P[@]}"

# ------------------------------------------------------------------ (e)
step "(e) a failed local path"
f1=$(backing n1 vd2) f2=$(backing n2 vd2)
expect_ok "disk create vd2 (n1 primary, n2 secondary: a file each)" \
	ctl n1 disk create vd2 --primary "n1:$f1" --secondary "n2:$f2"
converged 5
P2=(disk=vd2 "vdiskctl=$VDISKCTL")
for n in n1 n2; do expect_ra "vd2 start on $n" 0 "" "$n" vdisk start "${P2[@]}"; done
expect_ra "vd2 promote on n1" 0 "" n1 vdisk promote "${P2[@]}"
# The secondary's file replaced by a directory: open fails on n2 only.
mv "$f2" "$f2.saved"
mkdir "$f2"
# A failing path is no failure of the instance (the node serves the disk
# through the other path; stopping would cut its clients off): a warning,
# and the score (-INFINITY) keeps the node from being promoted.
expect_ra "vd2 monitor on n2, its path broken" 0 "" n2 vdisk monitor "${P2[@]}"
grep -q "secondary path .* fails: .*Is a directory; never promoted here" <<<"$RA_ERR" ||
	fail "the monitor did not warn of the broken path: $RA_ERR"
expect_ra "vd2 monitor on n1, its path fine" 8 "" n1 vdisk monitor "${P2[@]}"
expect_ra "vd2 stop on n2" 0 "" n2 vdisk stop "${P2[@]}"
expect_ra "vd2 start on n2, its path broken" 0 "" n2 vdisk start "${P2[@]}"
grep -q "fails: .*Is a directory; started, never promoted here" <<<"$RA_ERR" ||
	fail "the start did not warn of the broken path: $RA_ERR"
[[ -e $VDC_DIR/n2/dev/vd2 ]] || fail "n2 does not serve vd2 with its own path broken"
expect_ra "vd2 promote on n2, its path broken" 1 "Is a directory" n2 vdisk promote "${P2[@]}"
expect_ra "vd2 stop on n2 again" 0 "" n2 vdisk stop "${P2[@]}"
rmdir "$f2"
mv "$f2.saved" "$f2"
expect_ra "vd2 start on n2, path repaired" 0 "" n2 vdisk start "${P2[@]}"
# Now the primary's: demote must still get the disk off it.
mv "$f1" "$f1.saved"
mkdir "$f1"
expect_ra "vd2 monitor on n1, the promoted path broken" 8 "" n1 vdisk monitor "${P2[@]}"
grep -q "primary path .* fails" <<<"$RA_ERR" || fail "the monitor did not warn of the broken path: $RA_ERR"
expect_ra "vd2 demote on n1, its path broken" 0 "" n1 vdisk demote "${P2[@]}"
assert_eq "vd2's primary after the demote" "$(primary_of vd2)" n2
assert_eq "vd2's secondary after the demote (the failed path stepped down)" \
	"$(secondary_of vd2)" n1
expect_ra "vd2 monitor on n1 (its secondary path broken)" 0 "" n1 vdisk monitor "${P2[@]}"
grep -q "secondary path .* fails" <<<"$RA_ERR" || fail "the monitor did not warn of the broken path: $RA_ERR"
expect_ra "vd2 promote on n2" 0 "" n2 vdisk promote "${P2[@]}"
expect_ra "vd2 monitor on n2 (promoted)" 8 "" n2 vdisk monitor "${P2[@]}"
expect_ra "vd2 demote on n2 (the other path is broken)" 1 "Is a directory" n2 vdisk demote \
	"${P2[@]}"
assert_eq "vd2's primary after the refused demote" "$(primary_of vd2)" n2
rmdir "$f1"
mv "$f1.saved" "$f1"

# ------------------------------------------------------------------ (f)
step "(f) bad parameters, a missing disk, vdiskd down"
expect_ra "vdisk validate-all" 0 "" n3 vdisk validate-all "${P[@]}"
expect_ra "vdisk: no disk" 6 "required" n3 vdisk validate-all "vdiskctl=$VDISKCTL"
expect_ra "vdisk: a '/' in the name" 6 "letters, digits" n3 vdisk validate-all \
	disk=vd1/x "vdiskctl=$VDISKCTL"
expect_ra "vdisk: a name starting with '_'" 6 "start with" n3 vdisk validate-all \
	disk=_vd1 "vdiskctl=$VDISKCTL"
expect_ra "vdisk: a name of 64 characters" 6 "63" n3 vdisk validate-all \
	"disk=$(printf 'd%.0s' {1..64})" "vdiskctl=$VDISKCTL"
expect_ra "vdisk: a name of 63 characters" 0 "" n3 vdisk validate-all \
	"disk=$(printf 'd%.0s' {1..63})" "vdiskctl=$VDISKCTL"
expect_ra "vdisk: bad disk on start" 6 "letters, digits" n3 vdisk start \
	"disk=vd 1" "vdiskctl=$VDISKCTL"
expect_ra "vdisk: missing vdiskctl" 5 "/nonexistent/vdiskctl" n3 vdisk start \
	disk=vd1 vdiskctl=/nonexistent/vdiskctl
expect_ra "vdisk: start of a disk that does not exist" 6 "no such disk" n3 vdisk start \
	disk=nosuch "vdiskctl=$VDISKCTL"
expect_ra "vdisk: probe of a disk that does not exist" 7 "" n3 vdisk monitor \
	disk=nosuch "vdiskctl=$VDISKCTL" CRM_meta_interval=0
expect_ra "vd1 start on n3" 0 "" n3 vdisk start "${P[@]}"
vdc stop n3 vdiskd
# The vdiskd resource recovers the daemon, and this instance with it.
expect_ra "vd1 monitor on n3, vdiskd down" 0 "" n3 vdisk monitor "${P[@]}"
grep -q "does not answer" <<<"$RA_ERR" || fail "the monitor did not log that vdiskd does not answer: $RA_ERR"
expect_ra "vd1 demote on n3, vdiskd down" 0 "" n3 vdisk demote "${P[@]}"
expect_ra "vd1 stop on n3, vdiskd down" 0 "" n3 vdisk stop "${P[@]}"
# Start waits for the daemon while its timeout lasts (here 6 s).
t0=$SECONDS
RA_TIMEOUT_MS=6000 expect_ra "vd1 start on n3, vdiskd down" 1 "does not answer" \
	n3 vdisk start "${P[@]}"
((SECONDS - t0 <= 6)) || fail "the start took $((SECONDS - t0))s, beyond its 6s timeout"
# ... and starts once the daemon is back.
(
	RA_TIMEOUT_MS=30000 ra n3 vdisk start "${P[@]}"
	exit "$RA_RC"
) &
ra_pid=$!
sleep 2
vdc start n3 vdiskd
wait "$ra_pid" || fail "vd1 start on n3 did not succeed once vdiskd was back"
echo "ok: vd1 start on n3 waited for vdiskd"
expect_ra "vd1 monitor on n3" 0 "" n3 vdisk monitor "${P[@]}"
vdc wait-synced n3

pass "$VDT_NAME"
