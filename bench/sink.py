#!/usr/bin/env python3
"""The discarding receiver for the client benchmarks: python3 sink.py PORT MODE.

Accepts one connection at a time on 127.0.0.1:PORT, reads it to end of file,
throws the bytes away, closes, and prints the number of bytes received (one
line per connection) so that the benchmark can check every byte arrived.

MODE splice moves the bytes socket -> pipe -> /dev/null with splice(2): they
are never copied to user space, so the sink uses the least CPU of any
receiver and the sender is what is measured. MODE recv reads them with
recv_into into a 1 MiB buffer (the portable fallback).
"""
import fcntl
import os
import socket
import sys

F_SETPIPE_SZ = 1031
CHUNK = 1 << 20


def drain_splice(conn, pipe_r, pipe_w, null):
    total = 0
    fd = conn.fileno()
    while n := os.splice(fd, pipe_w, CHUNK, flags=os.SPLICE_F_MOVE):
        total += n
        while n:
            n -= os.splice(pipe_r, null, n, flags=os.SPLICE_F_MOVE)
    return total


def drain_recv(conn, buffer):
    total = 0
    while n := conn.recv_into(buffer):
        total += n
    return total


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    server = socket.create_server(("127.0.0.1", port), backlog=128)
    if mode == "splice":
        pipe_r, pipe_w = os.pipe()
        try:
            fcntl.fcntl(pipe_w, F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass  # the default 64 KiB pipe still works, with more calls
        null = os.open(os.devnull, os.O_WRONLY)
        drain = lambda conn: drain_splice(conn, pipe_r, pipe_w, null)
    else:
        buffer = bytearray(CHUNK)
        drain = lambda conn: drain_recv(conn, buffer)
    while True:
        conn, _ = server.accept()
        with conn:
            try:
                total = drain(conn)
            except OSError:
                total = -1
        print(total, flush=True)


if __name__ == "__main__":
    main()
