#!/usr/bin/env python3
"""The Python peer of ./client: python3 pysend.py HOST PORT FILE.

Minimal and fair: the same protocol steps as ./client and `nc -N`. It sends
the file with socket.sendfile (the kernel's sendfile, as ./client uses),
half-closes, and waits for the receiver to close its side before exiting.
"""
import socket
import sys

with open(sys.argv[3], "rb") as file, socket.create_connection((sys.argv[1], int(sys.argv[2]))) as sock:
    sock.sendfile(file)
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
