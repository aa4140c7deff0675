#!/usr/bin/env python3
"""A TLS sender for ServerTlsIT, independent of ferry: Python's ssl module.

usage: tls_sender.py PORT FILE ENDING CA [--cert CERT --key KEY] [--tls12] [--dribble]

Connects to localhost:PORT, trusting the CA file CA, sends FILE's bytes, then
ends as ENDING says:
  notify  unwrap(): sends close_notify, then waits (10 s at most) for the
          server's close_notify; prints "confirmed" when it arrived
  close   close(): a TCP end with no close_notify (a cut-off upload)
With --dribble the encrypted stream (handshake included) goes out in pieces
of 1000 bytes, 2 ms apart, so that the server's reads cut TLS records in two
(ssl.MemoryBIO; only with ENDING notify).
Prints the protocol first ("protocol TLSv1.3"). Any failure: one line
"failed: ..." on stdout and exit 1.
"""
import socket
import ssl
import sys
import time


def main():
    port, path, ending, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    rest = sys.argv[5:]
    context = ssl.create_default_context(cafile=ca)
    if "--cert" in rest:
        context.load_cert_chain(rest[rest.index("--cert") + 1], rest[rest.index("--key") + 1])
    if "--tls12" in rest:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    if "--dribble" in rest:
        dribble(context, raw, path)
        return
    tls = context.wrap_socket(raw, server_hostname="localhost")
    print("protocol", tls.version(), flush=True)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            tls.sendall(chunk)
    if ending == "notify":
        plain = tls.unwrap()
        print("confirmed", flush=True)
        plain.close()
    else:
        tls.close()
        print("closed", flush=True)


def dribble(context, raw, path):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")

    def flush():
        data = outgoing.read()
        for at in range(0, len(data), 1000):
            raw.sendall(data[at:at + 1000])
            time.sleep(0.002)

    def receive():
        data = raw.recv(65536)
        if not data:
            raise OSError("the server closed the connection")
        incoming.write(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            receive()
    flush()
    print("protocol", tls.version(), flush=True)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(16384)
            if not chunk:
                break
            tls.write(chunk)
            flush()
    while True:
        try:
            tls.unwrap()
            break
        except ssl.SSLWantReadError:
            flush()
            receive()
    flush()
    print("confirmed", flush=True)
    raw.close()


if __name__ == "__main__":
    try:
        main()
    except (OSError, ssl.SSLError) as e:
        print("failed:", e, flush=True)
        sys.exit(1)
