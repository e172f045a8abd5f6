#!/usr/bin/env bash
# Device filesystem, access control: on every node the kernel checks the
# owner, group and mode from the cluster database (default_permissions). An
# unprivileged user is denied a disk it has no rights to (and does not see it
# listed), may read but not
# write where it has r, may read and write where it has rw, whether the
# rights come from "other", from its primary group, from a supplementary
# group only or from owning the disk; it may
# chmod a disk it owns (a database update like any other), nothing else.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

user=vdtest

step "user $user"
if ! id "$user" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
fi
ugid=$(id -g "$user")
echo "ok: $(id "$user")"

# as_user CMD...: CMD as the user, with its own group as the primary one and
# the supplementary groups setpriv is given in user_groups (none by default).
user_groups=(--clear-groups)
as_user() { setpriv --reuid="$user" --regid="$ugid" "${user_groups[@]}" "$@"; }

dev() { echo "$VDC_DIR/$1/dev/vd1"; }

# read_as NODE: the user reads the second 4 KiB block through NODE's mount
# (prints its checksum; fails if dd does).
read_as() { as_user dd if="$(dev "$1")" bs=4096 skip=1 count=1 status=none | cksum; }

# write_as NODE: the user writes a new random block there through NODE's mount.
write_as() {
	head -c 4096 /dev/urandom >"$VDT_TMP/block"
	as_user dd of="$(dev "$1")" bs=4096 seek=1 conv=notrunc status=none <"$VDT_TMP/block"
}

# mode_is NODE MODE: NODE's device file of vd1 has the octal MODE.
mode_is() {
	local m
	m=$(stat -c %a "$(dev "$1")") || return 1
	[[ $m =~ ^[0-7]+$ ]] && ((8#$m == 8#$2))
}

# grant ARGS...: perm set on n1, then wait until n2 and n3 show the mode.
grant() {
	local mode=$2 n
	expect_ok "perm set vd1 $*" ctl n1 perm set vd1 "$@"
	for n in n2 n3; do
		retry_until 2 mode_is "$n" "$mode" ||
			fail "$n shows vd1 as $(stat -c %A "$(dev "$n")"), want mode $mode"
	done
}

# access_is WHAT r|- w|-: what the user may do on n2 and n3; a write is read
# back through the other node's mount. The directory lists vd1 to the user
# only where it may read it.
access_is() {
	local what=$1 r=$2 w=$3 n other listed
	for n in n2 n3; do
		listed=$(as_user ls "$VDC_DIR/$n/dev") || fail "$what: $user cannot list $n's device files"
		if [[ $r == r && $listed != *vd1* ]]; then
			fail "$what: $n does not list vd1 to $user, who may read it"
		elif [[ $r != r && $listed == *vd1* ]]; then
			fail "$what: $n lists vd1 to $user, who may not read it"
		fi
		if [[ $r == r ]]; then
			expect_ok "$what: $user reads on $n" read_as "$n"
		else
			expect_fail "$what: $user cannot open for reading on $n" 1 \
				"Permission denied" read_as "$n"
		fi
		if [[ $w != w ]]; then
			expect_fail "$what: $user cannot open for writing on $n" 1 \
				"Permission denied" write_as "$n"
			continue
		fi
		expect_ok "$what: $user writes on $n" write_as "$n"
		other=n$((5 - ${n#n}))
		dd if="$(dev "$other")" bs=4096 skip=1 count=1 status=none | cmp - "$VDT_TMP/block" ||
			fail "$what: the block $user wrote on $n does not read back on $other"
		echo "ok: $what: $other reads back what $user wrote on $n"
	done
}

step "3 nodes, 2 links; vd1 on n1, root:root 0600"
vdc up
f1=$(backing n1 vd1 16M)
expect_ok "create vd1" ctl n1 disk create vd1 --primary "n1:$f1" --owner root --group root \
	--mode 0600
retry_until 2 test -e "$(dev n2)" -a -e "$(dev n3)" || fail "vd1 missing from the mounts"
access_is "0600 root:root" - -

step "rights as other"
grant --mode 0604
access_is "0604" r -
grant --mode 0606
access_is "0606" r w

step "rights as a group member"
grant --mode 0060 --group "$ugid"
access_is "0060 group $user" r w
grant --mode 0040
access_is "0040 group $user" r -

step "rights from a supplementary group only"
sup=vdtestsup
getent group "$sup" >/dev/null || groupadd --system "$sup"
sgid=$(getent group "$sup" | cut -d: -f3)
grant --mode 0060 --group "$sgid"
access_is "0060 group $sup, $user not in it" - -
user_groups=(--groups "$sgid")
access_is "0060 group $sup, a supplementary group of $user" r w
grant --mode 0040
access_is "0040 group $sup, a supplementary group of $user" r -
user_groups=(--clear-groups)

step "rights as the owner; chmod by the owner only"
grant --mode 0600 --owner "$user" --group root
access_is "0600 owner $user" r w
g0=$(generation n1)
expect_ok "$user chmods its disk to 0400 on n3" as_user chmod 0400 "$(dev n3)"
retry_until 2 mode_is n1 400 || fail "n1 does not show the owner's chmod"
assert_eq "the owner's chmod is one database update" "$(generation n2)" "$((g0 + 1))"
access_is "0400 owner $user" r -
expect_fail "$user cannot give its disk away" 1 "Operation not permitted" \
	as_user chown root "$(dev n2)"
grant --mode 0666 --owner root
g0=$(generation n1)
expect_fail "$user cannot chmod a disk it does not own" 1 "Operation not permitted" \
	as_user chmod 0777 "$(dev n2)"
assert_eq "nothing changed" "$(generation n3)" "$g0"
