#!/usr/bin/env bash
# Bad input: invalid names, nodes, devices, modes and sizes, usage errors,
# unprivileged users and malformed vdisk.conf files each get a clear one-line
# error and the documented exit status, and change nothing anywhere. Reads
# are open to everybody; members of haclient may change the database.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

step "users: vdtest (not in haclient), vdtestha (in haclient)"
getent group haclient >/dev/null || groupadd --system haclient
if ! id vdtest >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin vdtest
fi
if id -nG vdtest | tr ' ' '\n' | grep -qx haclient; then
	gpasswd -d vdtest haclient >/dev/null
fi
if ! id vdtestha >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin -G haclient vdtestha
fi
id -nG vdtestha | tr ' ' '\n' | grep -qx haclient || usermod -a -G haclient vdtestha
echo "ok: $(id vdtest); $(id vdtestha)"

# vdiskctl where the test users can run it (lib.sh's public_copy).
PUB_VDISKCTL=$(public_copy "$VDISK_BUILD/cli/vdiskctl")

# as USER NODE ARGS...: vdiskctl ARGS on NODE as USER with USER's own groups
# (vdtest: none but its own, vdtestha: haclient as in /etc/group).
as() {
	local user=$1 node=$2
	shift 2
	vdc exec "$node" setpriv --reuid="$user" --regid="$user" --init-groups "$PUB_VDISKCTL" "$@"
}

step "3 nodes, 2 links"
vdc up

f0=$(backing n1 vd0)
expect_ok "create vd0 on n1" ctl n1 disk create vd0 --primary "n1:$f0" --mode 0640
converged 1
g0=$(generation n1)
l0=$(disk_list n1)
dev=$(backing n2 good)
SPECIAL="setuid, setgid and sticky bits are not allowed on a virtual disk"
# ids no node knows
uid=54321
while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
gid=54321
while getent group "$gid" >/dev/null; do gid=$((gid + 1)); done

step "invalid disk names"
expect_fail "name starting with '-'" 2 "name|option" \
	ctl n1 disk create -bad --primary "n2:$dev"
expect_fail "name starting with '-' after --" 2 "name" \
	ctl n1 disk create --primary "n2:$dev" -- -bad
expect_fail "name with a dot" 2 "name" \
	ctl n2 disk create a.b --primary "n2:$dev"
long=$(printf 'x%.0s' $(seq 64))
expect_fail "64-character name" 2 "long|name" \
	ctl n3 disk create "$long" --primary "n2:$dev"
expect_fail "empty name" 2 "name" \
	ctl n1 disk create "" --primary "n2:$dev"
expect_fail "name with a slash" 2 "name" \
	ctl n1 disk create a/b --primary "n2:$dev"
expect_fail "name with a space" 2 "name" \
	ctl n1 disk create "a b" --primary "n2:$dev"

step "unknown nodes and bad devices"
expect_fail "unknown node name" 1 "n9" \
	ctl n1 disk create vd1 --primary n9:/x
expect_fail "unknown node id" 1 "99" \
	ctl n1 disk create vd1 --primary 99:/x
expect_fail "missing device" 1 "n2: /srv/missing: No such file or directory" \
	ctl n1 disk create vd1 --primary n2:/srv/missing
expect_fail "missing secondary device" 1 "n3: /srv/missing2: No such file or directory" \
	ctl n1 disk create vd1 --primary "n2:$dev" --secondary n3:/srv/missing2
expect_fail "primary without a node" 2 "primary|NODE" \
	ctl n1 disk create vd1 --primary /x
expect_fail "relative device path" 2 "absolute|device|relative" \
	ctl n1 disk create vd1 --primary n2:relative.img
expect_fail "secondary on the primary's node" 2 "secondary" \
	ctl n1 disk create vd1 --primary "n2:$dev" --secondary "n2:$dev"
expect_fail "existing name" 1 "exist" \
	ctl n2 disk create vd0 --primary "n2:$dev"

step "a device that backs another disk, by another name"
link0=$VDC_DIR/n1/vd0-link
ln -s "$f0" "$link0"
expect_fail "vd0's file through a symlink" 1 \
	"n1: $link0 is the storage of disk 'vd0' already (its primary path n1:$f0): a device backs one virtual disk; give another device, or --force to share it" \
	ctl n2 disk create vd1 --primary "n1:$link0"
expect_fail "vd0's file as the secondary" 1 "n1: $f0 is the storage of disk 'vd0' already" \
	ctl n2 disk create vd1 --primary "n2:$dev" --secondary "n1:$f0"
loop0=$(losetup -f --show "$f0")
trap 'rc=$?; set +e; losetup -d "$loop0"; (exit $rc); _vdt_cleanup' EXIT
expect_fail "a loop device over vd0's file" 1 \
	"n1: $loop0 is the storage of disk 'vd0' already" \
	ctl n3 disk create vd1 --primary "n1:$loop0"
losetup -d "$loop0"
trap _vdt_cleanup EXIT
expect_fail "--force on another command" 2 "option --force does not apply" \
	ctl n1 perm set vd0 --mode 0600 --force

step "bad modes, sizes, owners"
expect_fail "--mode 999" 2 "mode" ctl n1 disk create vd1 --primary "n2:$dev" --mode 999
expect_fail "--mode abc" 2 "mode" ctl n1 disk create vd1 --primary "n2:$dev" --mode abc
expect_fail "--mode 17777" 2 "mode" ctl n1 perm set vd0 --mode 17777
expect_fail "--mode 4755 on perm set" 2 "--mode '4755': $SPECIAL" ctl n1 perm set vd0 --mode 4755
expect_fail "--mode 02640 on perm set" 2 "--mode '02640': $SPECIAL" ctl n2 perm set vd0 --mode 02640
expect_fail "--mode 1777 on create" 2 "--mode '1777': $SPECIAL" \
	ctl n3 disk create vd1 --primary "n2:$dev" --mode 1777
expect_fail "--mode empty" 2 "mode" ctl n1 perm set vd0 --mode ""
expect_fail "--size abc" 2 "size" ctl n1 disk create vd1 --primary "n2:$dev" --size abc
expect_fail "--size 12Q" 2 "size" ctl n1 disk create vd1 --primary "n2:$dev" --size 12Q
expect_fail "--size -5" 2 "size" ctl n1 disk create vd1 --primary "n2:$dev" --size -5
expect_fail "--size 0" 2 "size" ctl n1 disk create vd1 --primary "n2:$dev" --size 0
expect_fail "unknown owner" 1 "nosuchuser" \
	ctl n1 disk create vd1 --primary "n2:$dev" --owner nosuchuser
expect_fail "unknown group on perm set" 1 "nosuchgroup" \
	ctl n3 perm set vd0 --group nosuchgroup
expect_fail "unknown numeric owner $uid" 1 "unknown user '$uid'" \
	ctl n1 disk create vd1 --primary "n2:$dev" --owner "$uid"
expect_fail "unknown numeric owner $uid on perm set" 1 "unknown user '$uid'" \
	ctl n2 perm set vd0 --owner "$uid"
expect_fail "unknown numeric group $gid on perm set" 1 "unknown group '$gid'" \
	ctl n3 perm set vd0 --group "$gid"

step "missing disks and usage errors"
expect_fail "delete of a missing disk" 1 "nodisk" ctl n1 disk delete nodisk
expect_fail "perm set of a missing disk" 1 "nodisk" ctl n2 perm set nodisk --mode 0600
expect_fail "show of a missing disk" 1 "nodisk" ctl n3 disk show nodisk
expect_fail "create without --primary" 2 "primary" ctl n1 disk create vd1
expect_fail "perm set without changes" 2 "owner|group|mode" ctl n1 perm set vd0
expect_fail "unknown command" 2 "frobnicate" ctl n1 frobnicate
expect_fail "unknown disk subcommand" 2 "frobnicate" ctl n1 disk frobnicate
expect_fail "unknown option" 2 "bogus" ctl n1 disk list --bogus
expect_fail "missing name" 2 "name|NAME" ctl n1 disk delete
expect_fail "extra argument" 2 "extra|unexpected|argument" ctl n1 status now
expect_fail "wrong IPC name" 1 "nosuchservice|connect|vdiskd" ctl n1 -n nosuchservice status

step "unprivileged user vdtest"
expect_fail "vdtest: create" 1 \
	"permission denied: disk create needs root or membership of group haclient (it changes the cluster database)" \
	as vdtest n1 disk create vd1 --primary "n2:$dev"
expect_fail "vdtest: ping" 1 \
	"permission denied: ping needs root or membership of group haclient (it sends traffic over the cluster's links)" \
	as vdtest n1 ping n2 --count 1
expect_fail "vdtest: disk stop" 1 \
	"permission denied: disk stop needs root or membership of group haclient (it cuts this node's clients of the disk off)" \
	as vdtest n1 disk stop vd0
expect_fail "vdtest: delete" 1 "permission|denied|not permitted|haclient" \
	as vdtest n2 disk delete vd0
expect_fail "vdtest: perm set" 1 "permission|denied|not permitted|haclient" \
	as vdtest n3 perm set vd0 --mode 0666
expect_ok "vdtest: status" as vdtest n1 status
expect_ok "vdtest: status --json" as vdtest n2 --json status
assert_jq "vdtest sees the status" "$OUT" ".generation == $g0 and .quorate == true"
expect_ok "vdtest: disk list" as vdtest n3 --json disk list
assert_eq "vdtest sees the same disk list" "$(jq -S 'del(.disks[]?.serving, .disks[]?.open_here)' <<<"$OUT")" "$l0"
expect_ok "vdtest: disk list -l" as vdtest n1 disk list -l
expect_ok "vdtest: disk show" as vdtest n2 disk show vd0
expect_ok "vdtest: node list" as vdtest n3 node list

step "nothing changed anywhere"
converged 1
for n in n1 n2 n3; do
	assert_eq "generation on $n" "$(generation "$n")" "$g0"
done
assert_eq "disk list" "$(disk_list n3)" "$l0"

step "haclient member vdtestha may change the database"
expect_ok "vdtestha: create vd1" as vdtestha n2 disk create vd1 --primary "n2:$dev" --mode 0600
expect_ok "vdtestha: perm set vd1" as vdtestha n3 perm set vd1 --mode 0660
expect_ok "vdtestha: delete vd1" as vdtestha n1 disk delete vd1
name63=$(printf 'y%.0s' $(seq 63))
expect_ok "vdtestha: create a 63-character name" as vdtestha n1 disk create "$name63" --primary "n2:$dev"
converged 1
assert_eq "four updates by vdtestha" "$(generation n1)" "$((g0 + 4))"
assert_jq "the 63-character name is listed" "$(ctl n3 --json disk list)" \
	"[.disks[].name] == [\"vd0\", \"$name63\"]"
expect_ok "--force shares vd0's file, and says so" \
	ctl n2 disk create vd2 --primary "n1:$link0" --force
grep -qF "note: --force: n1: $link0 is the storage of disk 'vd0' too (its primary path n1:$f0); writes to either disk change the other" <<<"$OUT" ||
	fail "create --force did not say what it overrode: $OUT"
expect_ok "delete vd2" ctl n1 disk delete vd2

step "malformed vdisk.conf"
conf_dir=$VDT_TMP/conf
mkdir -p "$conf_dir"
printf '[daemon]\nstate_dir = %s/s\nfrobnicate = 1\n' "$conf_dir" >"$conf_dir/unknown-key.conf"
printf '# comment\n[transport]\nport = 70000\n' >"$conf_dir/bad-value.conf"
printf '[daemon]\nstate_dir = %s/s\n[transport\nport = 5420\n' "$conf_dir" >"$conf_dir/no-bracket.conf"
printf '[daemon]\n\nstate_dir = relative/dir\n' >"$conf_dir/relative.conf"
printf '[nosuchsection]\nkey = 1\n' >"$conf_dir/unknown-section.conf"
printf '[daemon]\nstate_dir\n' >"$conf_dir/no-equals.conf"
printf '[transport]\npolicy = sideways\n' >"$conf_dir/bad-policy.conf"
printf '[links]\nn1 = 10.0.0.1\nn2 = not-an-address!!, 999.1.1.1\n' >"$conf_dir/bad-links.conf"
printf '[links]\nn1 = 10.0.0.1, 999.1.1.1\n' >"$conf_dir/bad-link-ip.conf"
expect_conf_error() {
	local file=$1 line=$2 rc=0 err
	err=$(timeout 10 "$VDISK_BUILD/service/vdiskd" -f -c "$conf_dir/$file" 2>&1 >/dev/null) || rc=$?
	if ((rc == 0 || rc == 124)); then
		fail "vdiskd -c $file: exit $rc, expected a configuration error; output: $err"
	fi
	grep -qF "$file:$line:" <<<"$err" ||
		fail "vdiskd -c $file: exit $rc, but the error does not name '$file:$line:': $err"
	echo "ok: vdiskd -c $file: exit $rc: $(grep -F "$file:$line:" <<<"$err" | head -n1)"
}
expect_conf_error unknown-key.conf 3
expect_conf_error bad-value.conf 3
expect_conf_error no-bracket.conf 3
expect_conf_error relative.conf 3
expect_conf_error unknown-section.conf 1
expect_conf_error no-equals.conf 2
expect_conf_error bad-policy.conf 2
expect_conf_error bad-links.conf 3
expect_conf_error bad-link-ip.conf 2
rc=0
err=$(timeout 10 "$VDISK_BUILD/service/vdiskd" -f -c "$conf_dir/nonexistent.conf" 2>&1 >/dev/null) || rc=$?
((rc != 0 && rc != 124)) || fail "vdiskd with a missing config file: exit $rc"
grep -qF "nonexistent.conf" <<<"$err" || fail "vdiskd with a missing config file does not name it: $err"
echo "ok: vdiskd -c nonexistent.conf: exit $rc: $err"

step "vdiskd in the background: a failed start is its exit status, with the reason"
bg_conf() { # bg_conf FILE AUTHKEY
	printf '[daemon]\nstate_dir = %s/bg-state\nrun_dir = %s/bg-run\nipc_name = vdt-bg-%s\n[transport]\nport = 5999\nauthkey = %s\n' \
		"$conf_dir" "$conf_dir" "$$" "$2" >"$conf_dir/$1"
}
bg_conf bg-nokey.conf "$conf_dir/no-such-key"
rc=0
err=$(timeout 10 "$VDISK_BUILD/service/vdiskd" -c "$conf_dir/bg-nokey.conf" 2>&1 >/dev/null) || rc=$?
assert_eq "exit status of a background start without its authkey" "$rc" 1
grep -qF "no-such-key: No such file or directory" <<<"$err" ||
	fail "the background start does not say why it failed: $err"
grep -qF "did not start" <<<"$err" || fail "the background start does not say it did not start: $err"
echo "ok: vdiskd -c bg-nokey.conf (background): exit 1: $(grep -F no-such-key <<<"$err")"
rc=0
timeout 10 "$VDISK_BUILD/service/vdiskd" -c "$conf_dir/bg-nokey.conf" >&- 2>&- || rc=$?
assert_eq "exit status of that start with stdout and stderr closed" "$rc" 1
bg_conf bg-ok.conf none
# bg_serves DESC: the vdiskd of bg-ok.conf runs, answers, and stops on SIGTERM.
bg_serves() {
	local pid
	pid=$(pgrep -f -- "-c $conf_dir/bg-ok.conf" || true)
	[[ -n $pid ]] || fail "$1: no background vdiskd after a start that said it worked"
	VDT_STOP_PIDS+=("$pid")
	expect_ok "$1: the background vdiskd answers" \
		timeout 10 "$VDISK_BUILD/cli/vdiskctl" -n "vdt-bg-$$" status
	kill -TERM "$pid"
	retry_until 10 bash -c "! kill -0 $pid 2>/dev/null" || fail "background vdiskd $pid ignores SIGTERM"
	echo "ok: $1: the background vdiskd serves and stops"
}
rc=0
err=$(timeout 10 "$VDISK_BUILD/service/vdiskd" -c "$conf_dir/bg-ok.conf" 2>&1 >/dev/null) || rc=$?
assert_eq "exit status of a background start that works" "$rc" 0
# (It runs: a failure here must not leave it, and its mount, behind.)
[[ -z $err ]] || { pkill -TERM -f -- "-c $conf_dir/bg-ok.conf"; fail "a background start that worked printed: $err"; }
bg_serves "vdiskd -c bg-ok.conf"
# Started with stdin, stdout and stderr closed: descriptors 0..2 must not be
# handed to its sockets and then replaced by /dev/null.
rc=0
timeout 10 "$VDISK_BUILD/service/vdiskd" -c "$conf_dir/bg-ok.conf" <&- >&- 2>&- || rc=$?
assert_eq "exit status of a background start with stdio closed" "$rc" 0
bg_serves "vdiskd -c bg-ok.conf, stdio closed"
