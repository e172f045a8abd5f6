#!/usr/bin/env bash
# NBD over TCP: the listener is off by default (nothing listens); with
# `[nbd] listen` set, a TCP client counts as "other" in a disk's mode. It may
# read a disk that grants other r, as a read-only export; it may write one
# that grants other rw; a disk without other bits is refused exactly as a
# disk that does not exist (only the log says why). The server checks read-only itself: a write sent anyway (a client
# that ignores the read-only flag) gets EPERM and the disk keeps its bytes.
# `[nbd] allow` narrows the TCP clients by address: one outside it is
# disconnected before the handshake and the refusal logged.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

for tool in python3 nbdinfo ss; do
	command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

# A client that writes whatever the export flags say: no packaged one does.
nbdwrite=$VDT_TMP/nbdwrite.py
cat >"$nbdwrite" <<'EOF'
# nbdwrite.py HOST PORT EXPORT OFFSET FILE: writes FILE at OFFSET of EXPORT
# (NBD_OPT_GO, then one NBD_CMD_WRITE, without looking at the transmission
# flags) and prints the server's error number, 0 on success. A refused
# NBD_OPT_GO exits 1 with the reply type and the server's message.
import socket
import struct
import sys

host, port, export, offset, path = sys.argv[1:6]
data = open(path, "rb").read()
s = socket.create_connection((host, int(port)), timeout=10)


def recv(n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            sys.exit("nbdwrite: the server closed the connection")
        buf += chunk
    return buf


magic, opt_magic, _ = struct.unpack(">QQH", recv(18))
assert magic == 0x4E42444D41474943 and opt_magic == 0x49484156454F5054, "not an NBD server"
s.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
name = export.encode()
go = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, len(go)) + go)
while True:
    _, _, rtype, rlen = struct.unpack(">QIII", recv(20))
    payload = recv(rlen)
    if rtype & 0x80000000:
        sys.exit("nbdwrite: NBD_OPT_GO refused with %#x: %s"
                 % (rtype, payload.decode(errors="replace")))
    if rtype == 1:  # NBD_REP_ACK
        break
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 42, int(offset), len(data)) + data)
magic, error, handle = struct.unpack(">IIQ", recv(16))
assert magic == 0x67446698 and handle == 42, "bad reply"
print(error)
EOF

port=10809
addr=10.201.0.1

# info NAME: nbdinfo --json of export NAME on n1's listener, run on n2.
info() { vdc exec n2 nbdinfo --json "nbd://$addr:$port/$1"; }

# write_as_client NAME OFFSET FILE: nbdwrite.py from n2; prints the NBD error.
write_as_client() { vdc exec n2 python3 "$nbdwrite" "$addr" "$port" "$1" "$2" "$3"; }

# write_block NAME FILE BLOCK ERRNO: a client on n2 writes a random 4 KiB
# block at BLOCK of NAME; the server must answer ERRNO (an NBD error number),
# and FILE, NAME's backing file, must then hold the new block (0) or what it
# held before (any error).
write_block() {
	local name=$1 file=$2 block=$3 want=$4 before after
	before=$(dd if="$file" bs=4096 skip="$block" count=1 status=none | cksum)
	head -c 4096 /dev/urandom >"$VDT_TMP/block"
	expect_ok "write block $block of $name" \
		write_as_client "$name" $((block * 4096)) "$VDT_TMP/block"
	assert_eq "$name: the server's error" "$OUT" "$want"
	after=$(dd if="$file" bs=4096 skip="$block" count=1 status=none | cksum)
	if ((want == 0)); then
		assert_eq "$name holds the new block" "$after" "$(cksum <"$VDT_TMP/block")"
	else
		assert_eq "$name's bytes are unchanged" "$after" "$before"
	fi
}

# tcp_refused NAME: n2 cannot use export NAME over TCP.
tcp_refused() { ! info "$1" >/dev/null 2>&1; }

# fails_saying DESC SUBSTRING CMD...: CMD fails with SUBSTRING on stderr. NBD
# clients explain a refusal in several lines, so this is not expect_fail.
fails_saying() {
	local desc=$1 sub=$2
	shift 2
	if "$@" >/dev/null 2>"$VDT_TMP/err"; then
		fail "$desc: '$*' succeeded"
	fi
	grep -qiF -- "$sub" "$VDT_TMP/err" || fail "$desc: stderr lacks '$sub': $(cat "$VDT_TMP/err")"
	echo "ok: $desc ($(grep -m1 -iF -- "$sub" "$VDT_TMP/err"))"
}

step "3 nodes, 2 links; disks on n1: open 0604, shared 0606, private 0660"
vdc up
f_open=$(backing n1 open 16M)
f_shared=$(backing n1 shared 16M)
f_private=$(backing n1 private 16M)
expect_ok "create open (0604)" ctl n1 disk create open --primary "n1:$f_open" --mode 0604
expect_ok "create shared (0606)" ctl n1 disk create shared --primary "n1:$f_shared" --mode 0606
expect_ok "create private (0660)" ctl n1 disk create private --primary "n1:$f_private" \
	--mode 0660
converged 5
head -c 4096 /dev/urandom >"$VDT_TMP/before"
dd if="$VDT_TMP/before" of="$f_open" bs=4096 seek=1 conv=notrunc status=none

step "off by default"
expect_ok "ss on n1" vdc exec n1 ss -Hltn
if grep -q ":$port\b" <<<"$OUT"; then
	fail "something listens on port $port of n1 without [nbd] listen: $OUT"
fi
echo "ok: nothing listens on port $port"
fails_saying "nbdinfo over TCP without a listener" "Connection refused" info open

step "[nbd] listen = $addr:$port on n1"
sed -i "/^\[nbd\]$/a listen = $addr:$port" "$VDC_DIR/n1/vdisk.conf"
mark=$(log_mark n1)
vdc restart n1 vdiskd
vdc wait-synced n1 20
log_has n1 "$mark" "nbd: serving on .* and $addr:$port" ||
	fail "n1's log does not say it serves on $addr:$port: $(log_since n1 "$mark" | grep nbd)"
expect_ok "ss on n1" vdc exec n1 ss -Hltn
grep -q "$addr:$port\b" <<<"$OUT" || fail "n1 does not listen on $addr:$port: $OUT"
echo "ok: n1 listens on $addr:$port"

step "other r: a read-only export"
retry_until 10 info open || fail "open not served over TCP"
expect_ok "nbdinfo open" info open
assert_jq "open: 16 MiB, read-only" "$(jq '.exports[0]' <<<"$OUT")" \
	'."export-size" == 16777216 and ."is_read_only" == true'
truncate -s 16M "$VDT_TMP/open.img"
expect_ok "copy open out over TCP" \
	vdc exec n2 nbdcopy "nbd://$addr:$port/open" "$VDT_TMP/open.img"
assert_eq "it holds what the backing file holds" \
	"$(dd if="$VDT_TMP/open.img" bs=4096 skip=1 count=1 status=none | cksum)" \
	"$(cksum <"$VDT_TMP/before")"

step "a write sent anyway gets EPERM from the server"
# NBD_EPERM is 1
write_block open "$f_open" 1 1

step "other rw: writes work"
expect_ok "nbdinfo shared" info shared
assert_jq "shared: writable" "$(jq '.exports[0]' <<<"$OUT")" '."is_read_only" == false'
write_block shared "$f_shared" 2 0

step "no other bits: refused as if the disk did not exist"
MISSING="refused with 0x80000006: no virtual disk named 'private'"
mark=$(log_mark n1)
fails_saying "nbdinfo private" "server replied with error to opt_go" info private
fails_saying "NBD_OPT_GO private" "$MISSING" write_as_client private 0 "$VDT_TMP/block"
fails_saying "NBD_OPT_GO nosuchdisk" "refused with 0x80000006: no virtual disk named 'nosuchdisk'" \
	write_as_client nosuchdisk 0 "$VDT_TMP/block"
log_has n1 "$mark" "permission denied: 'private' .* \(TCP clients count as others\)" ||
	fail "n1's log does not record the refusal"
echo "ok: the client learns nothing; n1's log says TCP clients count as others"
assert_eq "private's first block is still zero" \
	"$(dd if="$f_private" bs=4096 count=1 status=none | tr -d '\0' | wc -c)" 0

step "a TCP client's export list holds only what it may read"
expect_ok "nbdinfo --list over TCP" vdc exec n2 nbdinfo --list --json "nbd://$addr:$port"
assert_eq "listed exports" "$(jq -c '[.exports[]."export-name"] | sort' <<<"$OUT")" \
	'["open","shared"]'

step "a mode change applies to the next TCP client"
expect_ok "perm set private 0664" ctl n2 perm set private --mode 0664
retry_until 5 info private || fail "private still refused over TCP after perm set 0664"
expect_ok "nbdinfo private" info private
assert_jq "private: read-only" "$(jq '.exports[0]' <<<"$OUT")" '."is_read_only" == true'
expect_ok "perm set shared 0600" ctl n3 perm set shared --mode 0600
retry_until 5 tcp_refused shared || fail "shared still served over TCP after perm set 0600"
fails_saying "NBD_OPT_GO shared after perm set 0600" \
	"refused with 0x80000006: no virtual disk named 'shared'" \
	write_as_client shared 0 "$VDT_TMP/block"

step "[nbd] allow = 10.201.0.2/32, 10.201.9.0/24: n2 is served, n3 is disconnected"
sed -i "/^listen = $addr:$port\$/a allow = 10.201.0.2/32, 10.201.9.0/24" "$VDC_DIR/n1/vdisk.conf"
vdc restart n1 vdiskd
vdc wait-synced n1 20
retry_until 10 info open || fail "n2 (in [nbd] allow) not served over TCP"
echo "ok: n2 reads open over TCP"
mark=$(log_mark n1)
fails_saying "nbdinfo from n3 (not in [nbd] allow)" "nbdinfo" \
	vdc exec n3 nbdinfo --json "nbd://$addr:$port/open"
retry_until 3 log_has n1 "$mark" "TCP client 10.201.0.3 is not in \[nbd\] allow: disconnected" ||
	fail "n1's log does not record the refusal of n3: $(log_since n1 "$mark" | grep nbd)"
echo "ok: n3 was disconnected before the handshake, and n1's log says why"
sed -i 's/^allow = .*/allow = 10.201.0.0\/33/' "$VDC_DIR/n1/vdisk.conf"
expect_fail "vdiskd with a bad [nbd] allow" 1 "invalid network '10.201.0.0/33' in 'allow'" \
	vdc exec n1 "$VDISK_BUILD/service/vdiskd" -f -c "$VDC_DIR/n1/vdisk.conf"
