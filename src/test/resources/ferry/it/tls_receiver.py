#!/usr/bin/env python3
"""A TLS receiver for the client's tests, with Python's ssl module:

    python3 tls_receiver.py CERT KEY DIR ENDING [--client-ca FILE] [--max-tls 1.2|1.3] [--count N]

Listens on 127.0.0.1, a port the kernel picks, and prints "listening PORT".
Serves up to N connections (default 1) at once, each on a thread: saves
connection i's application data to DIR/i.file, reads until the sender's
close_notify, then ends as ENDING says:
  notify   answers with its own close_notify (unwrap()), then closes: a confirmation
  silent   closes without close_notify (close() after the last byte): a TCP FIN only
  reset    closes with SO_LINGER 0: a TCP reset
  stall    reads nothing after the handshake ("stalled I"), until killed
With --client-ca the sender must present a certificate from those CAs;
a sender whose certificate is refused fails in the handshake (this side's
alert), and nothing is saved.
After each connection it prints one line:
  "done I BYTES close_notify=yes|no TLSVERSION" or "failed I REASON".
"""
import socket
import ssl
import struct
import sys
import threading
import time

args = sys.argv[1:]
cert, key, out, ending = args[:4]
options = dict(zip(args[4::2], args[5::2]))
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.minimum_version = ssl.TLSVersion.TLSv1_2
if options.get("--max-tls") == "1.2":
    context.maximum_version = ssl.TLSVersion.TLSv1_2
if "--client-ca" in options:
    context.load_verify_locations(options["--client-ca"])
    context.verify_mode = ssl.CERT_REQUIRED
count = int(options.get("--count", "1"))
lock = threading.Lock()


def say(line):
    with lock:
        print(line, flush=True)


def serve(number, raw):
    raw.settimeout(30)
    try:
        conn = context.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
    except (ssl.SSLError, OSError) as e:
        raw.close()
        say("failed %d %s" % (number, e))
        return
    if ending == "stall":
        say("stalled %d" % number)
        time.sleep(600)
    total = 0
    notified = "no"
    version = conn.version()
    try:
        with open("%s/%d.file" % (out, number), "wb") as f:
            while True:
                try:
                    data = conn.recv(65536)
                except ssl.SSLEOFError:
                    break  # a TCP end without close_notify: cut short
                if not data:
                    notified = "yes"  # the sender's close_notify
                    break
                f.write(data)
                total += len(data)
        if ending == "notify":
            conn.unwrap().close()
        elif ending == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        else:
            conn.close()
        say("done %d %d close_notify=%s %s" % (number, total, notified, version))
    except (ssl.SSLError, OSError) as e:
        conn.close()
        say("failed %d %s" % (number, e))


with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
    listener.bind(("127.0.0.1", 0))
    listener.listen(count)
    say("listening %d" % listener.getsockname()[1])
    threads = []
    for number in range(1, count + 1):
        raw, _ = listener.accept()
        thread = threading.Thread(target=serve, args=(number, raw))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
