#!/usr/bin/env bash
# scripts/sandbox.sh up refuses to wipe a sandbox that exists: a running one
# (its namespaces) and a stopped one (its directory, disk data included) are
# refused with exit 1 and what to do instead, and left as they were; a bad
# argument is a usage error (exit 2). The sandbox here is this test's own
# cluster (SANDBOX_PREFIX, SANDBOX_DIR), so no real sandbox is touched.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

SANDBOX=$VDISK_SRC/scripts/sandbox.sh
sandbox() { SANDBOX_PREFIX=$VDC_PREFIX SANDBOX_DIR=$VDC_DIR bash "$SANDBOX" "$@"; }

step "a running sandbox, with a disk and data on it"
vdc up
f=$(backing n2 vd1)
expect_ok "disk create vd1" ctl n1 disk create vd1 --primary "n2:$f"
printf 'sandbox data %s\n' "$RANDOM$RANDOM" >"$VDT_TMP/stamp"
dd if="$VDT_TMP/stamp" of="$f" conv=notrunc status=none
g0=$(generation n1)

step "up over it is refused"
expect_fail "sandbox.sh up over a running sandbox" 1 \
	"a sandbox is running (namespaces $VDC_PREFIX-" sandbox up
grep -qF "state and disk data in $VDC_DIR); up would wipe it: run $SANDBOX down first, or $SANDBOX up --force" <<<"$ERR" ||
	fail "the refusal does not say what to do instead: $ERR"
expect_fail "sandbox.sh up with a bad argument" 2 "usage: " sandbox up --forse
assert_eq "generation after the refusals" "$(generation n1)" "$g0"
cmp -n "$(stat -c %s "$VDT_TMP/stamp")" "$f" "$VDT_TMP/stamp" || fail "the disk data changed"
echo "ok: the sandbox, its database and its data are as they were"

step "a stopped sandbox's directory is refused too"
VDC_KEEP=1 vdc down
[[ -d $VDC_DIR ]] || fail "vdcluster down removed $VDC_DIR despite VDC_KEEP=1"
expect_fail "sandbox.sh up over a stopped sandbox" 1 \
	"a stopped sandbox's state and disk data are in $VDC_DIR; up would wipe it" sandbox up
cmp -n "$(stat -c %s "$VDT_TMP/stamp")" "$f" "$VDT_TMP/stamp" || fail "the disk data changed"
echo "ok: the stopped sandbox's data is as it was"

pass "$VDT_NAME"
