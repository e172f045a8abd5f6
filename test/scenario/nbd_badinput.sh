#!/usr/bin/env bash
# NBD bad input: unknown exports and options, reads and writes past the end
# or over the size limit, and garbage before, during and after the
# handshake each get the protocol's answer (an error reply, or the
# connection closed with the reason in vdiskd's log), and afterwards the
# daemon still serves a normal client. While two clients hold half a
# handshake (one of them sent garbage), another one reads and writes; the
# half handshakes are dropped after the handshake timeout (10 s). Out of
# file descriptors, the server pauses its listener (logged once) instead of
# spinning on accept(), and takes clients again once it has descriptors.
# The client is a small raw-socket script, since no packaged client sends
# broken requests on purpose.
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"

for tool in python3 qemu-img nbdinfo; do
	command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

poke=$VDT_TMP/nbdpoke.py
cat >"$poke" <<'EOF'
# nbdpoke.py SOCKET EXPORT SIZE GONE DELETE-CMD...: the bad-input cases, one
# "ok:" line each; last, DELETE-CMD deletes export GONE under a client.
import socket
import struct
import subprocess
import sys
import time

PATH, EXPORT, SIZE, GONE = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
DELETE = sys.argv[5:]
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
CHUNK_MAGIC = 0x668E33EF
OPT_EXPORT_NAME, OPT_LIST, OPT_GO, OPT_STRUCTURED = 1, 3, 7, 8
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
ERR_UNSUP, ERR_INVALID, ERR_UNKNOWN = 0x80000001, 0x80000003, 0x80000006
CMD_READ, CMD_WRITE, CMD_DISC = 0, 1, 2
EINVAL, ENOSPC, ESHUTDOWN = 22, 28, 108


def ok(what):
    print("ok:", what, flush=True)


def recvn(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def connect(flags=3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(PATH)
    g = recvn(s, 18)
    assert g[:16] == b"NBDMAGICIHAVEOPT", g
    if flags is not None:
        s.sendall(struct.pack(">I", flags))
    return s


def opt(s, o, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, o, len(data)) + data)


def rep(s):
    magic, o, t, n = struct.unpack(">QIII", recvn(s, 20))
    assert magic == REP_MAGIC, hex(magic)
    return o, t, recvn(s, n)


def go(s, name):
    opt(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    while True:
        o, t, data = rep(s)
        assert o == OPT_GO, o
        if t != REP_INFO:
            return t, data


def request(s, typ, cookie, offset, length, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, typ, cookie, offset, length) + payload)


def simple(s, cookie, length=0):
    magic, err, ck = struct.unpack(">IIQ", recvn(s, 16))
    assert magic == SIMPLE_MAGIC and ck == cookie, (hex(magic), ck)
    if err == 0 and length:
        recvn(s, length)
    return err


def chunk(s, cookie):
    magic, flags, typ, ck, n = struct.unpack(">IHHQI", recvn(s, 20))
    assert magic == CHUNK_MAGIC and ck == cookie and flags & 1, (hex(magic), ck, flags)
    return typ, recvn(s, n)


def transmission(structured=False, name=EXPORT):
    s = connect()
    if structured:
        opt(s, OPT_STRUCTURED)
        assert rep(s)[1] == REP_ACK
    t, data = go(s, name)
    assert t == REP_ACK, (hex(t), data)
    return s


def good_read(s, cookie):
    request(s, CMD_READ, cookie, 0, 4096)
    assert simple(s, cookie, 4096) == 0


def read_back(s, cookie, offset, length):
    request(s, CMD_READ, cookie, offset, length)
    magic, err, ck = struct.unpack(">IIQ", recvn(s, 16))
    assert magic == SIMPLE_MAGIC and ck == cookie and err == 0, (hex(magic), ck, err)
    return recvn(s, length)


s = connect()
t, data = go(s, b"nosuchdisk")
assert t == ERR_UNKNOWN and b"nosuchdisk" in data, (hex(t), data)
ok("GO to an unknown export: NBD_REP_ERR_UNKNOWN (%s)" % data.decode())
opt(s, 99, b"whatever")
assert rep(s)[1] == ERR_UNSUP
ok("unknown option 99: NBD_REP_ERR_UNSUP")
opt(s, OPT_LIST, b"x")
assert rep(s)[1] == ERR_INVALID
ok("LIST with data: NBD_REP_ERR_INVALID")
opt(s, OPT_LIST)
names = []
while True:
    o, t, data = rep(s)
    if t != REP_SERVER:
        break
    names.append(data[4:4 + struct.unpack(">I", data[:4])[0]])
assert t == REP_ACK and EXPORT in names, (hex(t), names)
ok("the same connection still lists %s" % b", ".join(names).decode())
s.close()

s = connect()
opt(s, OPT_EXPORT_NAME, b"nosuchdisk")
assert closed(s)
ok("EXPORT_NAME of an unknown export: connection closed")

s = transmission()
request(s, CMD_READ, 1, SIZE - 512, 1024)
assert simple(s, 1) == EINVAL
request(s, CMD_WRITE, 2, SIZE, 512, b"\0" * 512)
assert simple(s, 2) == ENOSPC
request(s, CMD_READ, 3, 2**64 - 512, 1024)
assert simple(s, 3) == EINVAL
good_read(s, 4)
ok("read and write past the end: EINVAL, ENOSPC; the connection goes on")
request(s, CMD_READ, 5, 0, 64 << 20)
assert simple(s, 5) == EINVAL
request(s, 77, 6, 0, 0)
assert simple(s, 6) == EINVAL
good_read(s, 7)
ok("a 64 MiB read and an unknown command: EINVAL; the connection goes on")
request(s, CMD_WRITE, 8, 0, 64 << 20)
assert simple(s, 8) == EINVAL
assert closed(s)
ok("a 64 MiB write: EINVAL, then the connection is closed")

s = transmission(structured=True)
request(s, CMD_READ, 9, SIZE, 1)
typ, data = chunk(s, 9)
assert typ == 0x8001 and struct.unpack(">I", data[:4])[0] == EINVAL, (typ, data)
ok("structured read past the end: an error chunk (%s)" % data[6:].decode())
request(s, CMD_READ, 10, 0, 4096)
typ, data = chunk(s, 10)
assert typ == 1 and len(data) == 8 + 4096, (typ, len(data))
request(s, CMD_DISC, 11, 0, 0)
assert closed(s)
ok("structured read: one OFFSET_DATA chunk; DISC closes")

s = connect(flags=None)
s.sendall(b"GET / HTTP/1.1\r\nHost: vdisk\r\n\r\n")
assert closed(s)
ok("garbage instead of the client flags: connection closed")
s = connect()
s.sendall(b"\xde\xad\xbe\xef" * 8)
assert closed(s)
ok("garbage instead of an option: connection closed")
s = transmission()
good_read(s, 12)
s.sendall(b"\x00garbage in the middle of transmission\xff" * 4)
assert closed(s)
ok("garbage instead of a request: connection closed")
s = transmission()
request(s, CMD_WRITE, 13, 0, 1 << 20, b"half a write")
s.close()
s = connect()
s.sendall(struct.pack(">QI", IHAVEOPT, OPT_GO))
s.close()
ok("clients gone in the middle of a write and of an option")

stall = connect()
stall.sendall(struct.pack(">QI", IHAVEOPT, OPT_GO))
t0 = time.time()
junk = connect(flags=None)
junk.sendall(b"\x01\x02")
s = transmission()
for i in range(32):
    data = bytes([i]) * 4096
    request(s, CMD_WRITE, 100 + i, 65536 + i * 4096, 4096, data)
    assert simple(s, 100 + i) == 0
    assert read_back(s, 200 + i, 65536 + i * 4096, 4096) == data, i
request(s, CMD_DISC, 300, 0, 0)
assert closed(s)
assert time.time() - t0 < 8, "the I/O took so long that the handshake timeout may have passed"
ok("32 writes read back by a client while two others hold half a handshake")
stall.settimeout(30)
junk.settimeout(30)
assert closed(stall) and closed(junk)
waited = time.time() - t0
assert 9 <= waited <= 20, waited
ok("both half handshakes closed by the server after %.1f s" % waited)

s = transmission(structured=True, name=GONE.encode())
request(s, CMD_READ, 20, 0, 4096)
assert chunk(s, 20)[0] == 1
subprocess.run(DELETE, check=True, stdout=subprocess.DEVNULL)
deadline = time.time() + 10
while True:
    request(s, CMD_READ, 21, 0, 4096)
    typ, data = chunk(s, 21)
    if typ != 1 or time.time() > deadline:
        break
    time.sleep(0.1)
assert typ == 0x8001 and struct.unpack(">I", data[:4])[0] == ESHUTDOWN, (typ, data)
ok("%s deleted under a client: ESHUTDOWN (%s)" % (GONE, data[6:].decode()))
request(s, CMD_DISC, 22, 0, 0)
assert closed(s)
ok("the client goes with DISC")
EOF

step "3 nodes, 2 links"
vdc up
sock=$VDC_DIR/n1/run-vdisk/nbd.sock
uri="nbd+unix:///vd1?socket=$sock"
f1=$(backing n1 vd1 16M)
f2=$(backing n1 vd2 1M)
expect_ok "create vd1 on n1" ctl n1 disk create vd1 --primary "n1:$f1"
expect_ok "create vd2 on n1, to be deleted under a client" ctl n1 disk create vd2 --primary "n1:$f2"
converged 5
retry_until 10 nbdinfo "$uri" || fail "n1 does not serve vd1 over $sock"

step "a disk an NBD client has open is not deleted"
# qemu-io holds its connection for 8 s, then closes it.
vdc exec n1 qemu-io -f raw "$uri" -c "sleep 8000" >/dev/null &
holder=$!
open_on_n1() { ctl n1 --json disk show vd1 | jq -e '.disk.open_here | test("^1 NBD client ")' >/dev/null; }
retry_until 10 open_on_n1 || fail "n1's disk show never counted the NBD client: $(ctl n1 --json disk show vd1)"
expect_fail "delete of vd1 under an NBD client" 1 "'vd1' is in use: n1: 1 NBD client (pid " \
	ctl n2 disk delete vd1
grep -qE "'vd1' is in use: n1: 1 NBD client \(pid [0-9]+, [^)]+\); stop its users first, or delete it with --force" <<<"$ERR" ||
	fail "the refusal does not name the client and what to do: $ERR"
wait "$holder" || fail "qemu-io holding vd1 failed"
retry_until 5 eval '! open_on_n1' || fail "n1 still counts the NBD client after it left"

step "bad input over $sock"
out=$(python3 "$poke" "$sock" vd1 $((16 << 20)) vd2 "$VDC_HARNESS" ctl n2 disk delete vd2 --force 2>&1) ||
	fail "bad input: $out"
echo "$out"

step "the daemon still serves"
vdc pid n1 vdiskd >/dev/null || fail "vdiskd on n1 is gone"
head -c 16M /dev/urandom >"$VDT_TMP/src.img"
expect_ok "qemu-img convert into vd1" qemu-img convert -n -f raw -O raw "$VDT_TMP/src.img" "$uri"
expect_ok "qemu-img compare" qemu-img compare -f raw -F raw "$VDT_TMP/src.img" "$uri"
log=$VDC_DIR/n1/vdiskd.log
for reason in "unknown client flags" "bad option magic" "bad request magic" \
	"over the limit" "no virtual disk named 'nosuchdisk'" "'vd2' was deleted" "handshake timeout"; do
	grep -q "nbd: pid [0-9]* uid 0: .*$reason" "$log" || fail "vdiskd.log lacks '$reason'"
	echo "ok: logged: $(grep -m1 "nbd: pid [0-9]* uid 0: .*$reason" "$log" | sed 's/.*\] //')"
done

step "out of file descriptors: the listener pauses, then serves again"
pid=$(vdc pid n1 vdiskd)
hard=$(prlimit --pid "$pid" --nofile --noheadings --output HARD)
nfd=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
mark=$(log_mark n1)
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
# Room for 4 more descriptors; 16 clients connect and wait for the greeting.
prlimit --pid "$pid" --nofile=$((nfd + 4)):"$hard"
python3 - "$sock" >"$VDT_TMP/hold.out" 2>&1 <<'EOF' &
import socket, sys, time
held = []
for i in range(16):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
print("connected", len(held), flush=True)
time.sleep(4)
EOF
holder=$!
sleep 1
c0=$(cpu)
sleep 2
c1=$(cpu)
prlimit --pid "$pid" --nofile="$hard":"$hard"
wait "$holder" || fail "the holding client failed: $(cat "$VDT_TMP/hold.out")"
echo "vdiskd used $((c1 - c0)) clock ticks of CPU in 2 s out of descriptors"
((c1 - c0 < 100)) || fail "vdiskd spins while out of descriptors ($((c1 - c0)) ticks in 2 s)"
log_has n1 "$mark" "nbd: accept: Too many open files; pausing" ||
	fail "vdiskd did not log the accept pause"
n=$(grep -c "nbd: accept: Too many open files" <(log_since n1 "$mark"))
((n == 1)) || fail "the accept pause was logged $n times, not once"
echo "ok: the accept pause was logged once"
retry_until 10 nbdinfo "$uri" || fail "n1 does not serve vd1 again after the descriptor shortage"
echo "ok: n1 serves again once it has descriptors"
vdc pid n1 vdiskd >/dev/null || fail "vdiskd on n1 is gone"
pass "nbd_badinput"
