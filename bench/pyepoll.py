#!/usr/bin/env python3
"""The one-thread Python peer of ./server for many slow senders: python3 pyepoll.py PORT DIR [READ_BYTES].

One thread, one level-triggered epoll loop over the listening socket and
every connection: accept (non-blocking), number connections 1, 2, 3 ... and
open DIR/N.file; when a connection is readable, one recv_into of READ_BYTES
(default READ_SIZE below: a short read is taken as drained, and the level
trigger reports whatever is left at the next wait) and write what came; at
the end of stream close the file, then the connection. No idle timeout, no
ERROR marking: it does less than ./server, the floor of scenario j.
"""
import os
import select
import socket
import sys

READ_SIZE = 64 * 1024  # bytes per recv_into (bench/README.md, scenario j)


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else READ_SIZE
    if size < 1:
        sys.exit(f"pyepoll.py: READ_BYTES must be 1 or more, not {size}")
    os.makedirs(directory, exist_ok=True)
    if socket.has_dualstack_ipv6():
        server = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=4096)
    else:
        server = socket.create_server(("", port), backlog=4096)
    server.setblocking(False)
    listening = server.fileno()
    buffer = bytearray(size)
    view = memoryview(buffer)
    poller = select.epoll()
    poller.register(listening, select.EPOLLIN)
    conns = {}  # fd -> (socket, file descriptor of N.file)
    number = 0
    while True:
        for fd, _ in poller.poll():
            if fd == listening:
                while True:
                    try:
                        conn, _ = server.accept()
                    except BlockingIOError:
                        break
                    number += 1
                    conn.setblocking(False)
                    out = os.open(os.path.join(directory, f"{number}.file"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                                  0o644)
                    conns[conn.fileno()] = (conn, out)
                    poller.register(conn.fileno(), select.EPOLLIN)
                continue
            conn, out = conns[fd]
            try:
                n = conn.recv_into(buffer)
            except BlockingIOError:
                continue
            except OSError:
                n = 0
            if n:
                done = 0
                while done < n:
                    done += os.write(out, view[done:n])
                continue
            poller.unregister(fd)
            del conns[fd]
            os.close(out)
            conn.close()


if __name__ == "__main__":
    main()
