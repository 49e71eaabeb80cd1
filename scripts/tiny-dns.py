#!/usr/bin/env python3
"""A one-purpose DNS server for scripts/verify-static-root.sh: answers every A query with the
address given on the command line (AAAA and others: no records), so that a static binary's
resolver can be shown to reach DNS (as Kubernetes service names need) from an empty root."""
import socket
import struct
import sys

address, port, answer = sys.argv[1], int(sys.argv[2]), socket.inet_aton(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((address, port))
print("ready", flush=True)
while True:
    query, client = sock.recvfrom(512)
    ident = query[:2]
    # The question: labels up to the zero byte, then type and class.
    end = query.index(b"\0", 12) + 5
    question = query[12:end]
    qtype = struct.unpack("!H", query[end - 4:end - 2])[0]
    records = b""
    count = 0
    if qtype == 1:
        records = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + answer
        count = 1
    header = ident + struct.pack("!HHHHH", 0x8180, 1, count, 0, 0)
    sock.sendto(header + question + records, client)
