#!/usr/bin/env bash
# Quorum: a node cut off from the others (nftables partition) loses quorum,
# refuses every database change with a clear error and keeps its last state;
# the quorate side goes on; after the heal the cut-off node converges to the
# majority's newer state.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "3 nodes, 2 links"
vdc up

f1=$(backing n1 vd1)
expect_ok "create vd1 on n1" ctl n1 disk create vd1 --primary "n1:$f1"
converged 1
g0=$(generation n3)
l0=$(disk_list n3)

step "isolate n3"
vdc isolate n3
vdc wait-quorum n3 no 15
quorate_is() {
	local out
	out=$(ctl "$1" --json status) || return 1
	[[ $(jq -r .quorate <<<"$out") == "$2" ]]
}
retry_until 5 quorate_is n3 false ||
	fail "n3's vdiskd still says quorate 5s after corosync lost quorum: $(status_json n3)"
echo "ok: n3's vdiskd reports no quorum"

step "changes on n3 are refused"
f2=$(backing n3 vd2)
expect_fail "create on n3 without quorum" 1 "quor" \
	ctl n3 disk create vd2 --primary "n3:$f2"
expect_fail "perm set on n3 without quorum" 1 "quor" \
	ctl n3 perm set vd1 --mode 0600
expect_fail "delete on n3 without quorum" 1 "quor" \
	ctl n3 disk delete vd1
assert_eq "n3's generation unchanged" "$(generation n3)" "$g0"
assert_eq "n3's disk list unchanged" "$(disk_list n3)" "$l0"
expect_ok "reads still work on n3" ctl n3 disk show vd1
grep -qxE "Served by: +held \(no quorum: this node holds the disk's I/O until it is part of a quorate partition\)" <<<"$OUT" ||
	fail "n3's disk show does not say vd1 is held for quorum: $OUT"
expect_ok "status on n3" ctl n3 status
grep -qxE "Shared I/O: +no: no quorum: this node is not part of a quorate partition" <<<"$OUT" ||
	fail "n3's status does not say it serves no shared I/O: $OUT"

step "the majority (n1, n2) goes on"
vdc wait-quorum n1 yes 10
vdc wait-quorum n2 yes 10
wait_members n1 2 15
serves_io() { ctl "$1" status | grep -qxE "Shared I/O: +yes \(lease [0-9.]+ s left\)"; }
retry_until 5 serves_io n1 || fail "n1's status does not say it serves shared I/O: $(ctl n1 status)"
expect_ok "create vd3 on n1" ctl n1 disk create vd3 --primary "n2:$(backing n2 vd3)"
expect_ok "perm set vd1 on n2" ctl n2 perm set vd1 --mode 0640
converged 1 n1 n2
g1=$(generation n1)
assert_eq "majority generation" "$g1" "$((g0 + 2))"
assert_eq "n3 still at its old generation" "$(generation n3)" "$g0"

step "heal n3: it converges to the majority's state"
vdc heal n3
vdc wait-quorum n3 yes 20
vdc wait-synced n3 20
gen_is() { [[ $(generation "$1") == "$2" ]]; }
retry_until 10 gen_is n3 "$g1" || fail "n3 at generation $(generation n3) 10s after the heal, want $g1"
converged 2
wait_members n3 3 10
assert_jq "n3 quorate and synced" "$(status_json n3)" '.quorate == true and .synced == true'

step "n3 accepts changes again"
expect_ok "create vd2 on n3" ctl n3 disk create vd2 --primary "n3:$f2"
converged 1
assert_eq "generation after the heal" "$(generation n1)" "$((g1 + 1))"

step "isolate n1 (lowest nodeid): the same holds for it"
vdc isolate n1
vdc wait-quorum n1 no 15
retry_until 5 quorate_is n1 false || fail "n1's vdiskd still says quorate: $(status_json n1)"
expect_fail "create on isolated n1" 1 "quor" \
	ctl n1 disk create vd4 --primary "n1:$(backing n1 vd4)"
vdc heal n1
vdc wait-quorum n1 yes 20
vdc wait-synced n1 20
converged 5
