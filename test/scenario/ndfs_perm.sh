#!/usr/bin/env bash
# Device filesystem, permissions: every node mounts ndfs with one file per
# disk; `perm set` on n1 shows in `ls -l` on n2 and n3, `chmod` on n2's file
# shows in `vdiskctl disk list -l` on n3, `chown` on n3's file everywhere;
# `ls -l` and `disk list -l` agree on every node, also for a modification
# time older than six months or in the future (the year instead of the time,
# as GNU ls shows it); disks created or deleted appear and disappear in every
# mount.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

# ls_view NODE: `ls -l` of NODE's mount as "mode owner group size time name",
# in the C locale as vdiskctl prints it.
ls_view() {
	# shellcheck disable=SC2012 # ls -l is what is compared
	LC_ALL=C ls -l "$VDC_DIR/$1/dev" |
		awk 'NR > 1 { sub(/[.+]$/, "", $1); print $1, $3, $4, $5, $6, $7, $8, $9 }'
}

# ctl_view NODE: `vdiskctl disk list -l` on NODE, the same fields.
ctl_view() { ctl "$1" disk list -l | awk '{ print $1, $2, $3, $4, $5, $6, $7, $8 }'; }

# views_agree NODE...: ls -l and disk list -l say the same on every NODE.
views_agree() {
	local n a b
	for n in "$@"; do
		a=$(ls_view "$n") && b=$(ctl_view "$n") || return 1
		[[ $a == "$b" ]] || {
			echo "$n: ls -l and disk list -l differ:"
			diff <(echo "$b") <(echo "$a")
			return 1
		}
	done
}

# shows NODE NAME WANT: `ls -l` on NODE lists NAME as WANT ("mode owner group").
shows() { [[ $(ls_view "$1" | awk -v n="$2" '$8 == n { print $1, $2, $3 }') == "$3" ]]; }

# ctl_shows NODE NAME WANT: the same in `disk list -l`.
ctl_shows() { [[ $(ctl_view "$1" | awk -v n="$2" '$8 == n { print $1, $2, $3 }') == "$3" ]]; }

expect_shows() {
	local desc=$1 how=$2 node=$3 name=$4 want=$5
	retry_until 2 "$how" "$node" "$name" "$want" ||
		fail "$desc: want $name as '$want' on $node; ls -l: '$(ls_view "$node")'; disk list -l: '$(ctl_view "$node")'"
	echo "ok: $desc ($want)"
}

step "3 nodes, 2 links"
vdc up

for n in n1 n2 n3; do
	assert_eq "ndfs mounted on $n" \
		"$(findmnt -n -o FSTYPE,OPTIONS "$VDC_DIR/$n/dev" | grep -o '^fuse.ndfs\|default_permissions\|allow_other' | tr '\n' ' ')" \
		"fuse.ndfs default_permissions allow_other "
	assert_eq "empty mount on $n" "$(ls -A "$VDC_DIR/$n/dev")" ""
done

step "a disk appears on every node"
f1=$(backing n1 vd1 64M)
expect_ok "create vd1 (primary n1, mode 0640)" ctl n1 disk create vd1 --primary "n1:$f1" --mode 0640
converged 2
group=$(jq -r .group <<<"$(disk_json n1 vd1)")
for n in n1 n2 n3; do
	expect_shows "vd1 on $n" shows "$n" vd1 "-rw-r----- root $group"
	assert_eq "vd1's size on $n" "$(stat -c %s "$VDC_DIR/$n/dev/vd1")" 67108864
done
ino=$(stat -c %i "$VDC_DIR/n1/dev/vd1")
assert_eq "the same inode number on n2 and n3" \
	"$(stat -c %i "$VDC_DIR/n2/dev/vd1") $(stat -c %i "$VDC_DIR/n3/dev/vd1")" "$ino $ino"
retry_until 2 views_agree n1 n2 n3 || fail "$(views_agree n1 n2 n3)"
echo "ok: ls -l agrees with disk list -l on every node"

step "perm set on n1 shows in ls -l on n2 and n3"
g0=$(generation n1)
expect_ok "perm set vd1 nobody:nogroup 0604 on n1" \
	ctl n1 perm set vd1 --owner nobody --group nogroup --mode 0604
for n in n2 n3; do
	expect_shows "ls -l on $n" shows "$n" vd1 "-rw----r-- nobody nogroup"
done

step "chmod 0600 on n2's file shows in disk list -l on n3"
expect_ok "chmod 0600 on n2" chmod 0600 "$VDC_DIR/n2/dev/vd1"
assert_eq "n2 shows the new mode at once" "$(stat -c %a "$VDC_DIR/n2/dev/vd1")" 600
expect_shows "disk list -l on n3" ctl_shows n3 vd1 "-rw------- nobody nogroup"
expect_shows "ls -l on n1" shows n1 vd1 "-rw------- nobody nogroup"
assert_eq "two updates: perm set and chmod" "$(generation n3)" "$((g0 + 2))"

step "chown on n3's file shows everywhere"
expect_ok "chown root:$group on n3" chown "root:$group" "$VDC_DIR/n3/dev/vd1"
for n in n1 n2; do
	expect_shows "disk list -l on $n" ctl_shows "$n" vd1 "-rw------- root $group"
	expect_shows "ls -l on $n" shows "$n" vd1 "-rw------- root $group"
done
assert_jq "the database has the numeric ids" "$(disk_json n1 vd1)" \
	".uid == 0 and .gid == $(getent group "$group" | cut -d: -f3) and .mode == 384"

step "a second disk appears, then disappears, everywhere"
f2=$(backing n2 vd2 32M)
expect_ok "create vd2 on n3 (primary n2)" ctl n3 disk create vd2 --primary "n2:$f2" --mode 0660
for n in n1 n2 n3; do
	expect_shows "vd2 on $n" shows "$n" vd2 "-rw-rw---- root $group"
done
retry_until 2 views_agree n1 n2 n3 || fail "$(views_agree n1 n2 n3)"
echo "ok: ls -l agrees with disk list -l on every node with two disks"
expect_ok "delete vd2 on n1" ctl n1 disk delete vd2
for n in n1 n2 n3; do
	retry_until 2 test ! -e "$VDC_DIR/$n/dev/vd2" || fail "$n: vd2 still in the mount"
	assert_eq "only vd1 listed on $n" "$(ls "$VDC_DIR/$n/dev")" vd1
done
echo "ok: vd2 gone from every mount"
converged 2
retry_until 2 views_agree n1 n2 n3 || fail "$(views_agree n1 n2 n3)"
echo "ok: ls -l agrees with disk list -l on every node at the end"

step "modification times older than six months and in the future"
f3=$(backing n3 vd3 16M)
expect_ok "create vd3 (primary n3)" ctl n1 disk create vd3 --primary "n3:$f3"
converged 2
# Only creation and permission changes set a disk's mtime, so the cluster is
# stopped and the persisted database given other times, the same on every node.
old=$(($(date +%s) - 200 * 86400))
future=$(($(date +%s) + 40 * 86400))
for n in n1 n2 n3; do vdc stop "$n" vdiskd; done
for n in n1 n2 n3; do
	db=$VDC_DIR/$n/state/vdisk.db
	jq --argjson old "$old" --argjson future "$future" \
		'(.disks[] | select(.name == "vd1") | .mtime) = $old |
		 (.disks[] | select(.name == "vd3") | .mtime) = $future' "$db" >"$VDT_TMP/db"
	cat "$VDT_TMP/db" >"$db"
done
for n in n1 n2 n3; do vdc start "$n" vdiskd; done
for n in n1 n2 n3; do vdc wait-synced "$n" 20; done
converged 5
for n in n1 n2 n3; do
	retry_until 5 test -e "$VDC_DIR/$n/dev/vd3" || fail "$n: vd3 not in the mount after the restart"
	assert_eq "vd1's time column on $n (200 days ago)" \
		"$(ls_view "$n" | awk '$8 == "vd1" { print $5, $6, $7 }')" \
		"$(LC_ALL=C date -d "@$old" '+%b %e  %Y' | awk '{ print $1, $2, $3 }')"
	assert_eq "vd3's time column on $n (40 days ahead)" \
		"$(ls_view "$n" | awk '$8 == "vd3" { print $5, $6, $7 }')" \
		"$(LC_ALL=C date -d "@$future" '+%b %e  %Y' | awk '{ print $1, $2, $3 }')"
done
retry_until 2 views_agree n1 n2 n3 || fail "$(views_agree n1 n2 n3)"
echo "ok: ls -l agrees with disk list -l for old and future times on every node"
