#!/usr/bin/env python3
"""vdpeer — a raw, hostile (or merely curious) peer of vdiskd's transport.

Speaks the wire formats of service/frame.h by hand, so the security tests can
do what a real vdiskd never does: send garbage, answer the challenge with the
wrong key, send broken frames after a good handshake, forge heartbeats.

Handshake (TCP, 88 bytes each, little-endian; see service/frame.h):
  connector -> HELLO H (nodeid, link, incarnation, nonce Nc, mac 0)
  acceptor  -> REPLY   (its nodeid, link, incarnation, nonce Na,
                        mac = HMAC-SHA256(key, H || R)), R = REPLY[:56]
  connector -> AUTH    (H's nodeid, link, incarnation, nonce again,
                        mac = HMAC-SHA256(key, H || R || A)), A = AUTH[:56]
Heartbeat (UDP, 72 bytes): mac = HMAC-SHA256(key, bytes 0..47)[:24].

Every TCP subcommand ends by waiting for the daemon to close the connection
and prints one JSON line describing what happened; the exit status is 0 when
the outcome is the expected one (see each subcommand), 1 otherwise, 2 on a
usage or setup error.

  vdpeer.py garbage HOST PORT [--bytes N]
      N random bytes (default 88): expect the daemon to disconnect.
  vdpeer.py hello HOST PORT --node ID --link L [--key FILE]
              [--auth good|wrong|althello|altinc|skip|none]
      HELLO as node ID on link L. With --auth wrong (default) answer the
      challenge with a MAC from a random key: expect a disconnect. With
      --auth althello (needs --key), a MAC from the right key but over a
      hello with another incarnation, as if a man in the middle had changed
      it: expect a disconnect. With --auth altinc (needs --key), an AUTH that
      claims another incarnation than the hello did, its MAC right for what
      was sent: expect a disconnect. With
      --auth skip, answer it with a data frame instead of AUTH: expect a
      disconnect (no frame is read before the handshake is over). With
      --auth good (needs --key): expect the connection to stay open (print
      "authenticated") and close it ourselves. --auth none: send only the
      hello and expect a refusal (a non-member, or the wrong link).
      With --key, the REPLY's MAC is checked too (the daemon must prove it
      holds the key): exit 1 when it does not verify.
  vdpeer.py frame HOST PORT --node ID --link L --key FILE --kind KIND
      A good handshake, then: truncated (40 bytes of a header, then
      silence), stalled (a header promising 8 MiB, 1000 bytes of it, then
      silence), oversized (payload_len 8 MiB + 1), badmagic, wrongsrc (a
      valid header claiming another node), badflags, badtag (a well-formed
      frame to the echo service whose 16-byte tag is not its GMAC under
      the connection's key: anyone on the wire could have written it):
      expect the daemon to disconnect us. Or cut (40 bytes of a header, 0.2 s, then we close;
      exit 0 unless the daemon closed first: the log tells the rest).
  vdpeer.py accept HOST PORT --node ID --link L [--key FILE] [--auth wrong|good]
              [--count N] [--hold S]
      Listens on HOST:PORT for N connections from vdiskd, one after the
      other; takes each one's HELLO and replies as node ID on link L, the
      REPLY's MAC from a random key (--auth wrong, expect vdiskd to
      disconnect) or from --key (--auth good: expect its AUTH, checked, and
      the connection kept for S seconds, then we close it). Prints the
      connections (conns) and the milliseconds from each close of ours to
      vdiskd's next connection (gaps_ms).
  vdpeer.py hb HOST PORT --node ID --link L [--key FILE] [--mac good|bad]
              [--type ping|pong] [--count N] [--interval MS] [--answer IFACE]
      UDP heartbeats; a pong carries the current CLOCK_MONOTONIC as its stamp
      and its own sequence numbers, from 2^40 (answering no ping of the
      daemon's).
      Prints how many were sent and how many answers came back. With
      --answer, the N pongs answer the pings HOST sends to PORT, seen on
      IFACE: their sequence number and stamp, as the real peer would.
"""

import argparse
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time

HS_MAGIC = 0x53484456
HB_MAGIC = 0x42484456
FRAME_MAGIC = 0x46544456
VERSION = 2
HS_SIZE = 88
HS_MAC_OFFSET = 56
HB_SIZE = 72
HB_MAC_OFFSET = 48
HB_MAC = 24
FRAME_HDR_SIZE = 104
FRAME_TAG = 16  # behind every frame after the handshake (service/frame_mac.h)
FRAME_PAYLOAD_MAX = 8 * 1024 * 1024
HS_HELLO, HS_REPLY, HS_AUTH = 1, 2, 3
HB_PING, HB_PONG = 1, 2
FRAME_DATA = 1
TCLIENT_ECHO = 1


def mac(key, data):
    if key is None:  # authkey = none: the daemon sends and accepts zeros
        return bytes(32)
    return hmac.new(key, data, hashlib.sha256).digest()


def hs_encode(typ, nodeid, link, incarnation, nonce, mac_=bytes(32)):
    return struct.pack("<IBBHIIQ32s32s", HS_MAGIC, VERSION, typ, 0, nodeid, link,
                       incarnation, nonce, mac_)


def hs_decode(buf):
    magic, ver, typ, res, nodeid, link, inc, nonce, mac_ = struct.unpack("<IBBHIIQ32s32s", buf)
    return dict(magic=magic, version=ver, type=typ, nodeid=nodeid, link=link,
                incarnation=inc, nonce=nonce, mac=mac_)


def frame_hdr(src_node, seq=1, payload_len=0, flags=0, client=TCLIENT_ECHO, magic=FRAME_MAGIC,
              msg_len=None):
    if msg_len is None:
        msg_len = payload_len
    # magic ver type flags client op src seq ack reqid config disk status
    # offset length payload_len frag_offset msg_len msg_seq deadline low
    return struct.pack("<IBBHHHIQQQQIiQIIIIQQQ", magic, VERSION, FRAME_DATA, flags, client, 0,
                       src_node, seq, 0, 1, 0, 0, 0, 0, 0, payload_len, 0, msg_len, 0, 0, 0)


assert len(frame_hdr(1)) == FRAME_HDR_SIZE


def hb_encode(typ, nodeid, link, incarnation, seq, stamp, key, good):
    # a pong says when it answered (the peer bounds the clocks' offset with it)
    peer_stamp = time.monotonic_ns() if typ == HB_PONG else 0
    head = struct.pack("<IBBHIIQQQQ", HB_MAGIC, VERSION, typ, 0, nodeid, link, incarnation, seq,
                       stamp, peer_stamp)
    m = mac(key, head)[:HB_MAC] if good else os.urandom(HB_MAC)
    return head + m


def load_key(path):
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def out(**kw):
    print(json.dumps(kw), flush=True)


def connect(host, port, timeout):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def wait_closed(s, timeout):
    """Seconds until the peer closed the connection, or None if it did not
    within timeout. Data the daemon sends meanwhile is read and ignored."""
    t0 = time.monotonic()
    s.settimeout(0.1)
    while time.monotonic() - t0 < timeout:
        try:
            if not s.recv(65536):
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
    return None


def send_safely(s, data):
    """The daemon may already have hung up; that is not our failure."""
    try:
        s.sendall(data)
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


def new_incarnation():
    return int.from_bytes(os.urandom(8), "little") | 1


def handshake(s, nodeid, link, key, auth):
    """HELLO, REPLY, AUTH. Returns a dict of what happened; 'reply' is None
    when the daemon hung up instead of replying."""
    nonce = os.urandom(32)
    incarnation = new_incarnation()
    hello = hs_encode(HS_HELLO, nodeid, link, incarnation, nonce)
    res = dict(incarnation=incarnation)
    s.sendall(hello)
    if auth == "none":
        res["reply"] = None
        return res
    try:
        raw = recv_exact(s, HS_SIZE)
    except ConnectionResetError:
        raw = b""
    if len(raw) != HS_SIZE:
        res["reply"] = None
        return res
    rep = hs_decode(raw)
    res["reply"] = dict(type=rep["type"], nodeid=rep["nodeid"], link=rep["link"])
    reply = raw[:HS_MAC_OFFSET]
    if key is not None:
        want = mac(key, hello + reply)
        res["reply_mac_ok"] = hmac.compare_digest(want, rep["mac"])
    if auth == "skip":
        # No AUTH at all: straight to a well-formed data frame for the
        # echo service, as if the handshake were over.
        a = frame_hdr(nodeid)
    else:
        auth_key = key if auth in ("good", "althello", "altinc") else os.urandom(128)
        other = incarnation ^ 0x5A5A
        a = hs_encode(HS_AUTH, nodeid, link, other if auth == "altinc" else incarnation,
                      nonce)[:HS_MAC_OFFSET]
        # What the MAC is computed over: the hello as sent, or (althello)
        # as a man in the middle would have rewritten it.
        h = hs_encode(HS_HELLO, nodeid, link, other, nonce) if auth == "althello" else hello
        a += mac(auth_key, h + reply + a)
    res["auth_sent"] = send_safely(s, a)
    return res


def cmd_garbage(args):
    s = connect(args.host, args.port, args.timeout)
    data = os.urandom(args.bytes)
    # Random bytes could, in theory, start with the magic; make sure not.
    data = b"\xde\xad" + data[2:]
    send_safely(s, data)
    closed = wait_closed(s, args.timeout)
    out(case="garbage", bytes=args.bytes, closed=closed is not None,
        closed_after_ms=None if closed is None else round(closed * 1000))
    return 0 if closed is not None else 1


def cmd_hello(args):
    key = load_key(args.key)
    if args.auth in ("good", "althello", "altinc") and key is None:
        print("vdpeer: --auth %s needs --key" % args.auth, file=sys.stderr)
        return 2
    s = connect(args.host, args.port, args.timeout)
    res = handshake(s, args.node, args.link, key, args.auth)
    ok = True
    if args.auth == "good":
        # Authenticated: the daemon keeps the connection. Give it a moment
        # to change its mind, then leave.
        closed = wait_closed(s, 1.0)
        res["authenticated"] = res["reply"] is not None and closed is None
        ok = res["authenticated"]
        s.close()
    else:
        closed = wait_closed(s, args.timeout)
        res["closed"] = closed is not None
        res["closed_after_ms"] = None if closed is None else round(closed * 1000)
        ok = closed is not None
        if args.auth == "none":
            ok = ok and res["reply"] is None
    if res.get("reply_mac_ok") is False:
        ok = False
    out(case="hello-" + args.auth, node=args.node, link=args.link, ok=ok, **res)
    return 0 if ok else 1


def cmd_frame(args):
    key = load_key(args.key)
    s = connect(args.host, args.port, args.timeout)
    res = handshake(s, args.node, args.link, key, "good")
    if res["reply"] is None or res.get("reply_mac_ok") is False:
        out(case="frame-" + args.kind, ok=False, error="handshake failed", **res)
        return 1
    kind = args.kind
    if kind in ("truncated", "cut"):
        data = frame_hdr(args.node, payload_len=16)[:40]
    elif kind == "stalled":
        data = frame_hdr(args.node, payload_len=FRAME_PAYLOAD_MAX) + bytes(1000)
    elif kind == "oversized":
        data = frame_hdr(args.node, payload_len=FRAME_PAYLOAD_MAX + 1)
    elif kind == "badmagic":
        data = frame_hdr(args.node, magic=0x12345678)
    elif kind == "wrongsrc":
        data = frame_hdr(args.node + 100)
    elif kind == "badflags":
        data = frame_hdr(args.node, flags=0x8000)
    elif kind == "badtag":
        data = frame_hdr(args.node, payload_len=4) + b"ping" + os.urandom(FRAME_TAG)
    else:
        print("vdpeer: unknown --kind " + kind, file=sys.stderr)
        return 2
    send_safely(s, data)
    if kind == "cut":
        # Nothing to decode yet: the daemon must just wait. Then we leave
        # in the middle of the header.
        closed = wait_closed(s, 0.2)
        s.close()
        out(case="frame-cut", ok=closed is None, closed_by_daemon=closed is not None, **res)
        return 0 if closed is None else 1
    closed = wait_closed(s, args.timeout)
    ok = closed is not None
    out(case="frame-" + kind, ok=ok, closed=ok,
        closed_after_ms=None if closed is None else round(closed * 1000), **res)
    return 0 if ok else 1


def accept_one(ls, args, key):
    """One connection from vdiskd on the listening socket ls: its HELLO,
    our REPLY as node --node, then (--auth good) its AUTH checked and the
    connection held --hold seconds, or (wrong) the wait for vdiskd to hang
    up. A dict of what happened, ok saying whether it was what we expect."""
    try:
        s, addr = ls.accept()
    except socket.timeout:
        return dict(ok=False, error="no connection")
    s.settimeout(args.timeout)
    raw = recv_exact(s, HS_SIZE)
    if len(raw) != HS_SIZE:
        s.close()
        return dict(ok=False, error="no hello", got=len(raw))
    h = hs_decode(raw)
    res = dict(peer="%s:%d" % addr,
               hello=dict(type=h["type"], nodeid=h["nodeid"], link=h["link"]))
    r = hs_encode(HS_REPLY, args.node, args.link, new_incarnation(),
                  os.urandom(32))[:HS_MAC_OFFSET]
    r += mac(key if args.auth == "good" else os.urandom(128), raw + r)
    send_safely(s, r)
    if args.auth == "good":
        a = recv_exact(s, HS_SIZE)
        res["auth_mac_ok"] = (len(a) == HS_SIZE and
                              hmac.compare_digest(mac(key, raw + r[:HS_MAC_OFFSET] +
                                                      a[:HS_MAC_OFFSET]),
                                                  a[HS_MAC_OFFSET:]))
        closed = wait_closed(s, args.hold)
        res["authenticated"] = res["auth_mac_ok"] and closed is None
        res["ok"] = res["authenticated"]
    else:
        closed = wait_closed(s, args.timeout)
        res["closed"] = closed is not None
        res["closed_after_ms"] = None if closed is None else round(closed * 1000)
        res["ok"] = closed is not None
    s.close()
    return res


def cmd_accept(args):
    key = load_key(args.key)
    if args.auth == "good" and key is None:
        print("vdpeer: --auth good needs --key", file=sys.stderr)
        return 2
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(1)
    ls.settimeout(args.timeout)
    conns, gaps, left = [], [], None
    for _ in range(args.count):
        res = accept_one(ls, args, key)
        now = time.monotonic()
        if left is not None and "hello" in res:
            # From our hanging up to its next connection, about (the
            # connection took a few ms): what vdiskd waited.
            gaps.append(round((now - left) * 1000))
        left = time.monotonic()
        conns.append(res)
        if not res["ok"]:
            break
    ls.close()
    ok = len(conns) == args.count and all(c["ok"] for c in conns)
    out(case="accept-" + args.auth, ok=ok, conns=conns, gaps_ms=gaps)
    return 0 if ok else 1


def pings_seen(iface, host, port):
    """Heartbeat pings that HOST sends to PORT, as the interface IFACE sees
    them (an AF_PACKET socket; whoever they are for gets them too): yields
    (seq, stamp) of each."""
    eth_p_ip = 0x0800
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(eth_p_ip))
    raw.bind((iface, eth_p_ip))
    src = socket.inet_aton(host)
    while True:
        pkt = raw.recv(2048)
        ihl = (pkt[0] & 0x0F) * 4
        if len(pkt) != ihl + 8 + HB_SIZE or pkt[9] != socket.IPPROTO_UDP or pkt[12:16] != src:
            continue
        if struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0] != port:
            continue
        magic, _, typ, _, _, _, _, seq, stamp = struct.unpack("<IBBHIIQQQ",
                                                              pkt[ihl + 8:ihl + 8 + 40])
        if magic == HB_MAGIC and typ == HB_PING:
            yield seq, stamp


def cmd_hb(args):
    key = load_key(args.key)
    typ = HB_PING if args.type == "ping" else HB_PONG
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    incarnation = int.from_bytes(os.urandom(8), "little") | 1
    answers = 0
    if args.answer:
        # Answer HOST's own pings, seen on the wire: pongs that would
        # count if their MAC did.
        pings = pings_seen(args.answer, args.host, args.port)
        for _ in range(args.count):
            seq, stamp = next(pings)
            s.sendto(hb_encode(HB_PONG, args.node, args.link, incarnation, seq, stamp, key,
                               args.mac == "good"), (args.host, args.port))
        out(case="hb-answer-" + args.mac, sent=args.count)
        return 0
    for i in range(args.count):
        stamp = time.monotonic_ns()
        # Far above any sequence number of the daemon's pings.
        pkt = hb_encode(typ, args.node, args.link, incarnation, (1 << 40) + i, stamp, key,
                        args.mac == "good")
        s.sendto(pkt, (args.host, args.port))
        time.sleep(args.interval / 1000.0)
        while True:
            try:
                s.recv(HB_SIZE + 1)
                answers += 1
            except BlockingIOError:
                break
    out(case="hb-" + args.type + "-" + args.mac, sent=args.count, answers=answers)
    return 0


def cmd_flood(args):
    """Opens --count connections that never say a word, holds them --hold
    seconds, and counts how many the daemon closed meanwhile."""
    socks, refused = [], 0
    t0 = time.monotonic()
    # One at a time: each connect returns once the kernel has completed the
    # handshake, which it does while the listen backlog has room, so the
    # pace follows the daemon's accepts and no SYN is dropped and retried.
    deadline = time.monotonic() + args.timeout
    for _ in range(args.count):
        if time.monotonic() >= deadline:
            break
        try:
            s = socket.create_connection((args.host, args.port), timeout=1.0)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            refused += 1
    out(case="flood", phase="open", opened=len(socks), refused=refused,
        open_ms=round((time.monotonic() - t0) * 1000))
    time.sleep(args.hold)
    closed = 0
    for s in socks:
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    out(case="flood", phase="done", opened=len(socks), refused=refused, closed_by_daemon=closed)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("host")
        p.add_argument("port", type=int)
        p.add_argument("--timeout", type=float, default=5.0,
                       help="seconds to wait for the daemon to disconnect")

    def as_node(p, key_required=False):
        p.add_argument("--node", type=int, required=True)
        p.add_argument("--link", type=int, required=True)
        p.add_argument("--key", required=key_required)

    p = sub.add_parser("garbage")
    common(p)
    p.add_argument("--bytes", type=int, default=HS_SIZE)
    p = sub.add_parser("hello")
    common(p)
    as_node(p)
    p.add_argument("--auth", choices=["good", "wrong", "althello", "altinc", "skip", "none"],
                   default="wrong")
    p = sub.add_parser("frame")
    common(p)
    as_node(p, key_required=True)
    p.add_argument("--kind", required=True,
                   choices=["truncated", "stalled", "cut", "oversized", "badmagic", "wrongsrc",
                            "badflags", "badtag"])
    p = sub.add_parser("accept")
    common(p)
    as_node(p)
    p.add_argument("--count", type=int, default=1, help="connections, one after the other")
    p.add_argument("--hold", type=float, default=1.0,
                   help="seconds an authenticated connection is kept")
    p.add_argument("--auth", choices=["good", "wrong"], default="wrong")
    p = sub.add_parser("hb")
    common(p)
    as_node(p)
    p.add_argument("--mac", choices=["good", "bad"], default="bad")
    p.add_argument("--type", choices=["ping", "pong"], default="ping")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--interval", type=float, default=20.0, help="milliseconds")
    p.add_argument("--answer", metavar="IFACE",
                   help="pong HOST's own pings, seen on IFACE, instead of sending our own")
    p = sub.add_parser("flood")
    common(p)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--hold", type=float, default=1.0, help="seconds")
    args = ap.parse_args()
    try:
        return {"garbage": cmd_garbage, "hello": cmd_hello, "frame": cmd_frame,
                "accept": cmd_accept, "hb": cmd_hb, "flood": cmd_flood}[args.cmd](args)
    except OSError as e:
        print("vdpeer: %s: %s" % (args.cmd, e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
