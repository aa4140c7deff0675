#!/usr/bin/env python3
"""The Python peer of ./server: python3 pyrecv.py PORT DIR [READ_BYTES].

A minimal thread-per-connection receiver: accepts on every interface,
numbers connections 1, 2, 3 ... and writes connection N to DIR/N.file,
reading with recv_into into one buffer of READ_BYTES per connection (default
READ_SIZE below: the fastest measured, see bench/README.md). The file is
closed before the connection, as ./server does. No idle timeout, no ERROR
marking: it does less than ./server, which is what makes it a fair floor.

The buffer is an anonymous mmap rather than a bytearray: a bytearray is
zero-filled, so every idle connection would hold the whole buffer resident
(1.25 GiB for 5,000 at 256 KiB), while mmap pages become resident only when
data arrives. That makes this peer as lean as a thread-per-connection
receiver can be.
"""
import mmap
import os
import socket
import sys
import threading

READ_SIZE = 256 * 1024  # bytes per recv_into: the fastest measured here (bench/README.md)


def receive(conn, path, size):
    buffer = mmap.mmap(-1, size)
    view = memoryview(buffer)
    try:
        # Leaving the with-block closes the file first, then the connection.
        with conn, open(path, "wb", buffering=0) as out:
            while n := conn.recv_into(buffer):
                done = 0
                while done < n:
                    done += out.write(view[done:n])
    except OSError:
        pass


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else READ_SIZE
    if size < 1:
        sys.exit(f"pyrecv.py: READ_BYTES must be 1 or more, not {size}")
    os.makedirs(directory, exist_ok=True)
    if socket.has_dualstack_ipv6():
        server = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=4096)
    else:
        server = socket.create_server(("", port), backlog=4096)
    number = 0
    while True:
        conn, _ = server.accept()
        number += 1
        path = os.path.join(directory, f"{number}.file")
        threading.Thread(target=receive, args=(conn, path, size), daemon=True).start()


if __name__ == "__main__":
    main()
