#!/usr/bin/env python3
"""nbdzero.py SOCKET EXPORT OFFSET LENGTH [no-hole]: one NBD_CMD_WRITE_ZEROES
and a disconnect, with no flush: unlike qemu-io or nbdsh, which flush when
they close, it shows where the zeros are when the server has answered."""
import socket
import struct
import sys

CMD_DISC, CMD_WRITE_ZEROES = 2, 6
CMD_FLAG_NO_HOLE = 1 << 1
OPT_EXPORT_NAME = 1
FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES = 1, 2


def recvn(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("server closed the connection")
        buf += d
    return buf


def main():
    path, export = sys.argv[1], sys.argv[2].encode()
    offset, length = int(sys.argv[3]), int(sys.argv[4])
    flags = CMD_FLAG_NO_HOLE if sys.argv[5:] == ["no-hole"] else 0
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    if recvn(s, 18)[:16] != b"NBDMAGICIHAVEOPT":
        sys.exit("not a fixed newstyle NBD server")
    s.sendall(struct.pack(">I", FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
    s.sendall(struct.pack(">QII", 0x49484156454F5054, OPT_EXPORT_NAME, len(export)) + export)
    recvn(s, 10)  # size, transmission flags
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, CMD_WRITE_ZEROES, 1, offset, length))
    magic, error, handle = struct.unpack(">IIQ", recvn(s, 16))
    if magic != 0x67446698 or handle != 1:
        sys.exit("unexpected reply magic %#x handle %d" % (magic, handle))
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, CMD_DISC, 2, 0, 0))
    s.close()
    if error:
        sys.exit("write-zeroes failed: NBD error %d" % error)


main()
