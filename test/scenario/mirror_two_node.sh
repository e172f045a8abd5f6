#!/usr/bin/env bash
# A mirror on a two-node cluster (corosync two_node, no qdevice): created,
# with a note that it needs a tie-breaker (with two_node both halves of a
# split keep quorum, and each could write its own replica); on three nodes
# no such note (the mirror scenario's cluster).
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "2 nodes, no qdevice"
vdc up -n 2
truncate -s 16M "$VDC_DIR/n1/vm.img" "$VDC_DIR/n2/vm.img"
expect_ok "disk create vm --mirror" ctl n1 disk create vm --mirror \
	"n1:$VDC_DIR/n1/vm.img,n2:$VDC_DIR/n2/vm.img" --assume-clean
echo "$OUT"
grep -q "^note: a two-node cluster needs a tie-breaker for a mirror (corosync qdevice" <<<"$OUT" ||
	fail "disk create on two nodes says nothing of the tie-breaker"
echo "ok: the note names the tie-breaker"
truncate -s 16M "$VDC_DIR/n1/vs.img"
expect_ok "disk create vs (one path)" ctl n1 disk create vs --primary "n1:$VDC_DIR/n1/vs.img"
! grep -q "tie-breaker" <<<"$OUT" || fail "a disk that is no mirror got the note"
echo "ok: no note for a disk that is no mirror"
pass "mirror_two_node"
