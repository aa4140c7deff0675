#!/usr/bin/env python3
"""A Python peer for the scale-out tests: python3 sender.py HOST PORT MODE ARGS...

Plain sockets, as a user's script would have them. The bytes are either a
file's or a deterministic pattern generated as they are sent (no file on
disk, however large): 1 MiB blocks of one fixed pseudo-random block, each
starting with its (seed, index), so that two uploads never hold the same
bytes and a block out of place changes the digest.

Modes:
  file PATH              send the file, half-close, wait for the receiver's close
  pattern SIZE SEED      send SIZE pattern bytes, half-close, wait for the close
  hold SIZE SEED         send SIZE pattern bytes, print "sent", then wait for a line
                         on standard input before going on with MODE2 (below)
  reset SIZE SEED        send SIZE pattern bytes, print "sent", wait for a line on
                         standard input (or its end), then reset (SO_LINGER 0)
  idle SIZE SEED         send SIZE pattern bytes, print "sent", then send nothing
                         more and wait for the receiver to end the connection

Prints the SHA-256 of what it sent (pattern modes) as "sha256 HEX", then how
the connection ended: "closed" (graceful close after the half-close: success),
"reset" (ECONNRESET or EPIPE: the receiver refused the upload) or "reset-by-us".
Exit code 0 only for "closed" after a complete upload; 1 otherwise.
"""
import hashlib
import random
import socket
import struct
import sys

BLOCK = 1 << 20
_BASE = random.Random(20261203).randbytes(BLOCK)


def pattern(size, seed):
    """Yields the pattern's bytes in blocks of at most 1 MiB."""
    index = 0
    while size > 0:
        block = struct.pack(">QQ", seed, index) + _BASE[16:]
        yield block[:size] if size < BLOCK else block
        size -= BLOCK
        index += 1


def send_pattern(sock, size, seed, digest):
    for block in pattern(size, seed):
        digest.update(block)
        sock.sendall(block)


def await_close(sock):
    """Half-closes and reads until the receiver closes: its confirmation."""
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    digest = hashlib.sha256()
    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.settimeout(None)
            if mode == "file":
                with open(sys.argv[4], "rb") as file:
                    while chunk := file.read(BLOCK):
                        digest.update(chunk)
                        sock.sendall(chunk)
                await_close(sock)
            else:
                size, seed = int(sys.argv[4]), int(sys.argv[5])
                send_pattern(sock, size, seed, digest)
                if mode == "pattern":
                    await_close(sock)
                elif mode == "hold":
                    print("sent", flush=True)
                    sys.stdin.readline()
                    send_pattern(sock, int(sys.argv[6]), seed + 1_000_000, digest)
                    await_close(sock)
                elif mode == "reset":
                    print("sent", flush=True)
                    sys.stdin.readline()
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    print("reset-by-us", flush=True)
                    return 1
                elif mode == "idle":
                    print("sent", flush=True)
                    while sock.recv(65536):
                        pass
                    print("closed", flush=True)
                    return 1
                else:
                    print("unknown mode " + mode, file=sys.stderr)
                    return 2
    except (ConnectionResetError, BrokenPipeError) as e:
        print("sha256 " + digest.hexdigest(), flush=True)
        print("reset", flush=True)
        print("ERROR: " + str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print("ERROR: " + str(e), file=sys.stderr)
        return 1
    print("sha256 " + digest.hexdigest(), flush=True)
    print("closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
