#!/usr/bin/env python3
"""The senders of scenario j: python3 trickle.py PORT COUNT INTERVAL_MS SECONDS CHUNK_BYTES.

COUNT connections to 127.0.0.1:PORT, driven by this one thread: each sends
the same CHUNK_BYTES every INTERVAL_MS for SECONDS, then half-closes and
waits for the receiver to close. The connections are spread evenly over the
interval (1 ms slots), so the receiver sees a steady stream of small
segments, not COUNT at once. Lines on standard output, for the bench:

    connected COUNT        all connected; it then waits for "go" on standard input
    sent {json}            the last chunk is sent: how late the schedule ran
    done {json}            every connection was closed by the receiver

How late: each slot's sends start at most "late" after their scheduled time
(the maximum, the 99th percentile and the mean over slots, in ms); a chunk
the socket did not take whole is finished at the next slot and counted in
"short". The chunk is the byte pattern of chunk_bytes() below, so the bench
can check every file.
"""
import json
import os
import resource
import selectors
import socket
import sys
import time

SLOT = 0.001  # seconds between batches of sends


def chunk_bytes(size):
    return bytes((i * 7 + 13) & 0xFF for i in range(size))


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    port, count, interval_ms, seconds, size = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                               float(sys.argv[4]), int(sys.argv[5]))
    chunk = chunk_bytes(size)
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE)
        socks.append(s)
    pending = count
    deadline = time.monotonic() + 60
    while pending:
        if time.monotonic() > deadline:
            sys.exit(f"trickle.py: only {count - pending} of {count} connected")
        for key, _ in sel.select(1):
            err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                sys.exit(f"trickle.py: connect failed: {os.strerror(err)}")
            sel.unregister(key.fileobj)
            pending -= 1
    print(f"connected {count}", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("trickle.py: no go")

    slots_per_interval = max(1, round(interval_ms / 1000 / SLOT))
    batches = [socks[i::slots_per_interval] for i in range(slots_per_interval)]
    sends = round(seconds * 1000 / interval_ms)
    total_slots = sends * slots_per_interval
    left = {s: b"" for s in socks}  # what a short send left over
    lateness, short = [], 0
    cpu0 = cpu()
    start = time.monotonic()
    for k in range(total_slots):
        due = start + k * SLOT
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        lateness.append(time.monotonic() - due)
        for s in batches[k % slots_per_interval]:
            data = left[s] + chunk if left[s] else chunk
            try:
                n = s.send(data)
            except BlockingIOError:
                n = 0
            if n < len(data):
                short += 1
                left[s] = data[n:]
            elif left[s]:
                left[s] = b""
    for s, data in left.items():
        if data:
            s.setblocking(True)
            s.sendall(data)
            s.setblocking(False)
    elapsed = time.monotonic() - start
    ordered = sorted(lateness)
    print("sent " + json.dumps({
        "seconds": round(elapsed, 3), "sends": sends, "bytes_each": sends * size, "short": short,
        "late_max_ms": round(ordered[-1] * 1000, 2), "late_p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        "late_mean_ms": round(sum(ordered) / len(ordered) * 1000, 3), "cpu_s": round(cpu() - cpu0, 2)}), flush=True)

    for s in socks:
        s.shutdown(socket.SHUT_WR)
        sel.register(s, selectors.EVENT_READ)
    pending, resets = count, 0
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            try:
                data = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data, resets = b"", resets + 1
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                pending -= 1
    print("done " + json.dumps({"closed": count - pending, "resets": resets}), flush=True)
    sys.exit(0 if pending == 0 and resets == 0 else 1)


if __name__ == "__main__":
    main()
