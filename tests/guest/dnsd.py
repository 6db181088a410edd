# A DNS server for tests, answering A queries for the names in a hosts file
# (standard library only). Usage: python3 -S dnsd.py HOSTS ADDR PORT
# Answers NXDOMAIN for other names; serves until killed.
import socket
import struct
import sys


def load(path):
    names = {}
    with open(path) as f:
        for line in f:
            words = line.split("#")[0].split()
            if len(words) >= 2 and words[0].count(".") == 3:
                for name in words[1:]:
                    names.setdefault(name.lower().rstrip("."), words[0])
    return names


def question(msg):
    """The first question's name, and where the question ends; None if malformed."""
    labels, i = [], 12
    while i < len(msg):
        n = msg[i]
        if n == 0:
            return ".".join(labels), i + 5
        if n & 0xC0 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return None


def answer(msg, names):
    if len(msg) < 12:
        return None
    ident, flags, qd = struct.unpack(">HHH", msg[:6])
    q = question(msg) if qd == 1 and not flags & 0x8000 else None
    if q is None or q[1] > len(msg):
        return None
    name, end = q
    qtype = struct.unpack(">H", msg[end - 4:end - 2])[0]
    addr = names.get(name.lower().rstrip("."))
    rcode = 0 if addr else 3
    ans = b""
    if addr and qtype == 1:
        ans = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
    head = struct.pack(">HHHHHH", ident, 0x8180 | rcode, 1, 1 if ans else 0, 0, 0)
    return head + msg[12:end] + ans


def main():
    names = load(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], int(sys.argv[3])))
    print("dnsd: serving %d names" % len(names), flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        reply = answer(msg, names)
        if reply:
            s.sendto(reply, peer)


main()
