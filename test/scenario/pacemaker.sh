#!/usr/bin/env bash
# Pacemaker runs vdisk: a 3-node namespace cluster with real Pacemaker
# (test/cluster/pcmk) and the OCF agents of this tree. vd1 has its primary
# path on n1 and its secondary on n2 (one file both open: a dual-ported
# device); n3 has no path.
#   (a) pcs resource create: the vdiskd clone starts on every node, the vd1
#       promotable clone everywhere, promoted on n1 (vd1's primary), with
#       promotion scores 100 (n1), 50 (n2), -INFINITY (n3: never
#       promoted); the device filesystem of Pacemaker's vdiskd shows on the
#       host;
#   (b) pcs resource move vd1-clone n2 --promoted: the primary moves to n2;
#   (c) with fio writing and verifying through n3, n2 (promoted) is killed
#       whole (Pacemaker, corosync, vdiskd): Pacemaker promotes n1, vd1's
#       primary is n1, fio completes without an error;
#   (d) n2 comes back: vdiskd and vd1 start there, unpromoted; n1 stays
#       promoted. No failed action anywhere.
#   (e) vdiskd on n1 (promoted) crashes: Pacemaker restarts it, and vd1
#       after it; vd1 is promoted where its primary is; the only failed
#       action is vdiskd's monitor (vd1's instance did not fail on its own).
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
# shellcheck source=../tools/datapath_lib.sh
source "$VDISK_SRC/test/tools/datapath_lib.sh"

# shellcheck source-path=SCRIPTDIR source=../cluster/pcmk_lib.sh
source "$VDISK_SRC/test/cluster/pcmk_lib.sh"

# restarted_on NODE OLD_PID: NODE runs another vdiskd than OLD_PID, and
# Pacemaker has the vdiskd clone started everywhere.
restarted_on() {
	local p
	p=$(vdc pid "$1" vdiskd 2>/dev/null) && [[ $p != "$2" ]] &&
		roles_are n2 vdiskd-clone Started "n1 n2 n3"
}

# vd1_settled NODE: vd1 has one promoted and two unpromoted instances.
vd1_settled() {
	[[ $(xq "$1" "count(//clone[@id='vd1-clone']/resource[@role='Promoted'])") == 1 &&
		$(xq "$1" "count(//clone[@id='vd1-clone']/resource[@role='Unpromoted'])") == 2 ]]
}

# scores_are N1 N2 N3: vd1's promotion scores on n1, n2, n3.
scores_are() { [[ "$(score n1) $(score n2) $(score n3)" == "$*" ]]; }

step "3 nodes, vd1: primary n1, secondary n2 (one file)"
cluster_up

# ------------------------------------------------------------------ (a)
step "(a) pcs resource create"
create_resources
wait_roles n1 vd1-clone Promoted n1 30
wait_roles n3 vd1-clone Unpromoted "n2 n3" 30
assert_eq "vd1's primary" "$(primary_of vd1)" n1
assert_eq "promotion score on n1" "$(score n1)" 100
assert_eq "promotion score on n2" "$(score n2)" 50
assert_eq "promotion score on n3 (no path)" "$(score n3)" -INFINITY
no_failures n2
# Pacemaker's vdiskd mounts its device filesystem where users look.
[[ -e $VDC_DIR/n3/dev/vd1 ]] || fail "n3's device filesystem does not show vd1"
echo "ok: n3's device filesystem shows vd1"

# ------------------------------------------------------------------ (b)
step "(b) pcs resource move vd1-clone n2 --promoted"
expect_ok "pcs resource move" pcmk exec n3 pcs resource move vd1-clone n2 --promoted
echo "$OUT"
wait_roles n1 vd1-clone Promoted n2 30
assert_eq "vd1's primary after the move" "$(primary_of vd1)" n2
# pcs removed its constraint after the move: the scores keep vd1 on n2.
retry_until 15 scores_are 50 100 -INFINITY ||
	fail "scores after the move: n1 $(score n1), n2 $(score n2); want 50 and 100"
echo "ok: scores follow the move (n1 50, n2 100)"
sleep 3
assert_eq "vd1 still promoted on n2 a while later" "$(role_nodes n1 vd1-clone Promoted)" n2
no_failures n1

# ------------------------------------------------------------------ (c)
step "(c) n2 (promoted) killed under fio load from n3"
wait_nbd n3 vd1
fio_bg failover n3 vd1 --rw=randwrite --bs=4k --iodepth=8 --numjobs=2 \
	--size=32m --offset_increment=32m --rate_iops=400 \
	--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_backlog=512
sleep 4
need_fio_running failover "the kill of n2"
t_kill=$SECONDS
pcmk kill n2
echo "n2 killed"
wait_roles n1 vd1-clone Promoted n1 45
echo "Pacemaker promoted n1 $((SECONDS - t_kill))s after the kill"
assert_eq "vd1's primary after the failover" "$(primary_of vd1)" n1
need_fio_running failover "the end of the failover"
fio_wait failover 90
fio_summary failover
no_failures n1

# ------------------------------------------------------------------ (d)
step "(d) n2 comes back"
vdc start n2 corosync
vdc wait-quorum n2 yes 30
expect_ok "Pacemaker on n2" pcmk start n2
expect_ok "all online" pcmk wait-online 60
wait_roles n1 vdiskd-clone Started "n1 n2 n3" 45
wait_roles n1 vd1-clone Unpromoted "n2 n3" 45
assert_eq "vd1 still promoted on n1" "$(role_nodes n2 vd1-clone Promoted)" n1
assert_eq "vd1's primary" "$(primary_of vd1 n2)" n1
assert_eq "promotion score on n2 (secondary again)" "$(score n2)" 50
no_failures n2

# ------------------------------------------------------------------ (e)
step "(e) vdiskd on n1 (promoted) crashes"
old=$(vdc pid n1 vdiskd)
vdc kill n1 vdiskd
retry_until 30 failed_once n2 vdiskd_monitor ||
	fail "Pacemaker did not notice the crash of vdiskd on n1 within 30s"
echo "ok: vdiskd's monitor on n1 failed"
retry_until 45 restarted_on n1 "$old" ||
	fail "vdiskd on n1 not restarted within 45s: $(pcmk status)"
echo "ok: vdiskd on n1 restarted (pid $old -> $(vdc pid n1 vdiskd))"
retry_until 45 vd1_settled n2 ||
	fail "vd1 not promoted once and unpromoted twice after 45s: $(pcmk status)"
promoted=$(role_nodes n2 vd1-clone Promoted)
assert_eq "vd1 promoted where its primary is" "$promoted" "$(primary_of vd1)"
assert_eq "failed actions of vd1" "$(failures n2 vd1_)" 0

pass "$VDT_NAME"
