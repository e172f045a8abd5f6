#!/usr/bin/env bash
# What an administrator's Pacemaker commands do to a vdisk disk, on real
# Pacemaker (docs/pacemaker.md, "What each command does"). vd1 has its
# primary path on n1 and its secondary on n2; n3 has no path.
#   (a) pcs resource create: vd1 promoted on n1; n3's promotion score is
#       -INFINITY (never promoted);
#   (b) pcs resource move vd1-clone n3 --promoted: refused at once, the
#       primary stays on n1, the database unchanged (no promote/demote
#       loop), no constraint left behind, no failed action;
#   (c) pcs resource disable vd1-clone --wait while fio reads vd1 through
#       n3: every instance stopped, fio cut off with ESHUTDOWN and the
#       agent's log naming it, no NBD export and no device file on any
#       node, qemu-img refused with "stopped on this node"; the primary has
#       not moved (still n1, database unchanged);
#   (d) pcs resource enable vd1-clone --wait: promoted on n1 again, served on
#       every node;
#   (e) pcs node standby n1 --wait: the primary moves to n2 (demote hands it
#       over in one cycle) and n2 is promoted; unstandby: n1 comes back
#       unpromoted, the primary stays on n2. No failed action anywhere.
#   (f) vd2 (paths n1 and n2, one file under two names) promoted on n1, fio
#       writing and verifying through n1; n1's name for the file goes: n1's
#       monitor warns and scores -INFINITY without failing, Pacemaker moves
#       the promotion to n2 (the primary with it), n1's instance is never
#       stopped and fio on n1 sees no error; the name back, n1's score is 50
#       again. No failed action.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster/pcmk_lib.sh
source "$VDISK_SRC/test/cluster/pcmk_lib.sh"

# served_nowhere / served_everywhere: vd1's NBD export and device file on
# every node, or on none (nbdinfo must answer: no answer is no pass).
served_nowhere() {
	local n out
	for n in n1 n2 n3; do
		out=$(nbd_exports "$n") || return 1
		[[ -z $out && ! -e $VDC_DIR/$n/dev/vd1 ]] || return 1
	done
}
served_everywhere() {
	local n
	for n in n1 n2 n3; do
		[[ $(nbd_exports "$n") == vd1 && -e $VDC_DIR/$n/dev/vd1 ]] || return 1
	done
}

none_active() { [[ $(xq n1 "count(//clone[@id='vd1-clone']/resource[@active='true'])") == 0 ]]; }

# cli_constraints: how many constraints pcs's move commands left (pcs must
# answer).
cli_constraints() {
	local out
	out=$(pcmk exec n1 pcs constraint location config --full) || fail "pcs constraint location config failed"
	grep -c 'cli-' <<<"$out" || true
}

step "3 nodes, vd1: primary n1, secondary n2 (one file), n3 without a path"
cluster_up

# ------------------------------------------------------------------ (a)
step "(a) pcs resource create"
create_resources
wait_roles n1 vd1-clone Promoted n1 30
wait_roles n3 vd1-clone Unpromoted "n2 n3" 30
assert_eq "promotion score on n3 (no path)" "$(score n3)" -INFINITY
retry_until 10 served_everywhere || fail "vd1 is not served on every node"
echo "ok: vd1 served on every node"
no_failures n1

# ------------------------------------------------------------------ (b)
step "(b) pcs resource move vd1-clone n3 --promoted (n3 has no path)"
g0=$(generation n1)
t0=$SECONDS
rc=0
out=$(pcmk exec n1 timeout 120 pcs resource move vd1-clone n3 --promoted 2>&1) || rc=$?
echo "pcs exited $rc after $((SECONDS - t0))s: $out"
((rc != 124)) || fail "pcs resource move hung (killed after 120 s)"
((rc != 0)) || fail "pcs resource move to a node without a path succeeded: $out"
grep -qF "Unable to move resource 'vd1-clone'" <<<"$out" || fail "pcs did not refuse the move: $out"
((SECONDS - t0 < 60)) || fail "the refusal took $((SECONDS - t0)) s"
sleep 5
assert_eq "vd1 promoted on" "$(role_nodes n1 vd1-clone Promoted)" n1
assert_eq "vd1's primary" "$(primary_of vd1)" n1
assert_eq "database generation (no promote ran)" "$(generation n1)" "$g0"
assert_eq "cli- constraints left behind" "$(cli_constraints)" 0
no_failures n1

# ------------------------------------------------------------------ (c)
step "(c) pcs resource disable vd1-clone --wait, fio reading through n3"
wait_nbd n3 vd1
fio_bg reader n3 vd1 --rw=randread --bs=4k --iodepth=1 --size=64m --time_based --runtime=120 \
	--rate_iops=200
sleep 2
need_fio_running reader "the disable"
expect_ok "pcs resource disable --wait" pcmk exec n1 pcs resource disable vd1-clone --wait=60
retry_until 10 none_active || fail "vd1-clone still has active instances after the disable"
echo "ok: no instance of vd1-clone is active"
retry_until 10 bash -c "! kill -0 ${DP_FIO_PID[reader]} 2>/dev/null" ||
	fail "fio on n3 still runs 10 s after the disable: vd1 is still served there"
grep -qiE "Cannot send after transport endpoint shutdown" "$VDT_TMP/reader.err" ||
	fail "fio did not fail with ESHUTDOWN: $(head -c 600 "$VDT_TMP/reader.err")"
unset "DP_FIO_PID[reader]"
echo "ok: fio on n3 cut off: $(grep -m1 -i 'shutdown' "$VDT_TMP/reader.err")"
grep -qE "vdisk\(vd1\).*vd1 is stopped on this node; its clients here were cut off .*1 NBD client \(pid [0-9]+, fio\)" \
	"$VDC_DIR/n3/pacemaker.log" || fail "n3's agent did not log the client it cut off"
echo "ok: n3's agent logged the client it cut off"
served_nowhere || fail "vd1 is still served somewhere after the disable"
echo "ok: no NBD export and no device file of vd1 on any node"
client_refused "qemu-img info vd1 on n2" "'vd1' is stopped on this node" \
	vdc exec n2 qemu-img info "$(nbd_uri n2 vd1)"
assert_eq "vd1's primary after the disable" "$(primary_of vd1)" n1
assert_eq "database generation (the primary did not move)" "$(generation n1)" "$g0"
no_failures n1

# ------------------------------------------------------------------ (d)
step "(d) pcs resource enable vd1-clone --wait"
expect_ok "pcs resource enable --wait" pcmk exec n1 pcs resource enable vd1-clone --wait=60
wait_roles n1 vd1-clone Promoted n1 30
wait_roles n1 vd1-clone Unpromoted "n2 n3" 30
retry_until 10 served_everywhere || fail "vd1 is not served on every node after the enable"
echo "ok: vd1 served on every node again"
assert_eq "vd1's primary" "$(primary_of vd1)" n1
no_failures n1

# ------------------------------------------------------------------ (e)
step "(e) pcs node standby n1 --wait, then unstandby"
expect_ok "pcs node standby n1 --wait" pcmk exec n2 pcs node standby n1 --wait=90
wait_roles n2 vd1-clone Promoted n2 30
assert_eq "vd1's primary with n1 in standby" "$(primary_of vd1)" n2
expect_ok "pcs node unstandby n1 --wait" pcmk exec n2 pcs node unstandby n1 --wait=90
wait_roles n2 vd1-clone Unpromoted "n1 n3" 45
assert_eq "vd1 still promoted on n2" "$(role_nodes n2 vd1-clone Promoted)" n2
assert_eq "vd1's primary after the unstandby" "$(primary_of vd1)" n2
no_failures n2

# ------------------------------------------------------------------ (f)
step "(f) vd2's path on n1 fails under fio on n1"
img=$VDC_DIR/vd2.img
truncate -s 128M "$img"
ln -s "$img" "$VDC_DIR/vd2-n1"
ln -s "$img" "$VDC_DIR/vd2-n2"
expect_ok "disk create vd2" ctl n1 disk create vd2 --primary "n1:$VDC_DIR/vd2-n1" \
	--secondary "n2:$VDC_DIR/vd2-n2"
disk_resource_create vd2
wait_roles n1 vd2-clone Promoted n1 30
wait_roles n1 vd2-clone Unpromoted "n2 n3" 30
wait_nbd n1 vd2
fio_bg pathfail n1 vd2 --rw=randwrite --bs=4k --iodepth=4 --size=32m --rate_iops=300 \
	--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_backlog=256
sleep 2
need_fio_running pathfail "the path failure"
n1log=$(wc -l <"$VDC_DIR/n1/pacemaker.log")
rm "$VDC_DIR/vd2-n1"
echo "n1's name for vd2's file removed"
wait_roles n2 vd2-clone Promoted n2 45
assert_eq "vd2's primary after n1's path failed" "$(primary_of vd2)" n2
# Into grep through a process substitution, not a pipe: grep -q stops at
# the first match, and under pipefail tail's SIGPIPE would fail the test
# or, negated, pass it (lib.sh's log_has). The warning is the monitor's
# ("fails: ...; never promoted here") or, when Pacemaker demotes before a
# monitor ran, the demote's ("fails (...); handing the primary"): CI saw
# both.
n1log_has() { grep -qE -- "$1" <(tail -n "+$((n1log + 1))" "$VDC_DIR/n1/pacemaker.log"); }
warned() { n1log_has "vdisk\(vd2\).*the primary path $VDC_DIR/vd2-n1 on n1 fails[:(]? .*No such file or directory"; }
retry_until 10 warned || fail "n1's agent did not warn of the failed path"
echo "ok: n1's agent warned of its failed path"
assert_eq "promotion score of vd2 on n1" "$(score n1 vd2)" -INFINITY
! n1log_has "vdisk\(vd2\).*vd2: stopped" ||
	fail "vd2's instance on n1 was stopped: its clients were cut off"
echo "ok: vd2's instance on n1 was never stopped"
need_fio_running pathfail "the end of the path failure"
fio_wait pathfail 90
fio_summary pathfail
ln -s "$img" "$VDC_DIR/vd2-n1"
score_back() { [[ $(score n1 vd2) == 50 ]]; }
retry_until 30 score_back || fail "n1's score for vd2 is not 50 again 30 s after its path came back"
echo "ok: n1's path back, its score is 50 again"
no_failures n2

pass "$VDT_NAME"
