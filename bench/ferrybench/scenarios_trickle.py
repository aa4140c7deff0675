"""Many slow senders (j): 2,000 connections that each send 1 KiB every 50 ms for 10 s, into a running receiver:
the receiver's CPU over those 10 s, ferry against a one-thread Python epoll loop."""
import json
import os
import resource
import subprocess
import time

import trickle
from ferrybench.peers import Server, clear_dir, file_list, uploads_in
from ferrybench.results import rounds
from ferrybench.system import (BENCH, CLK_TCK, SETTLE_DEADLINE, LineReader, RunFailure, free_port, log, poll_until,
                               raise_nofile, tree, tree_cpu_ticks)

INTERVAL_MS = 50
CHUNK = 1024
PY_EPOLL = "python epoll, one thread"


def python_epoll(bench):
    port = free_port()
    directory = os.path.join(bench.work, f"pyepoll-{port}")
    return Server(PY_EPOLL, [bench.python, os.path.join(BENCH, "pyepoll.py"), str(port), directory], port,
                  directory, bench.logs)


def server_trickle(bench, key, count, seconds):
    """j: count senders (one Python process, one loop) each sending CHUNK bytes every INTERVAL_MS for seconds.
    Measured: the receiver's CPU (utime + stime of its process tree) from the first chunk to the last; then every
    file must hold exactly what was sent. The sender's own lateness is a row of its own."""
    name = f"trickle {count} x {CHUNK // 1024} KiB/{INTERVAL_MS} ms, {seconds:g} s"
    candidates = [
        (bench.result(key, f"{name}, server CPU", "ferry ./server", "cpu-ms", ferry=True),
         bench.ferry_server("ferry ./server")),
        *[(bench.result(key, f"{name}, server CPU", f"ferry@{n}", "cpu-ms"), bench.ferry_server(f"ferry@{n}", None, r))
          for n, r in bench.args.compare],
        (bench.result(key, f"{name}, server CPU", PY_EPOLL, "cpu-ms"), python_epoll(bench)),
    ]
    late = {r: bench.result(key, f"{name}, sender late (max)", r.peer, "ms", ferry=r.ferry) for r, _ in candidates}
    need = 2 * count + 1024  # the sender's sockets and each receiver's sockets and files
    if not raise_nofile(need):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        for r, _ in candidates:
            r.skipped = late[r].skipped = f"cannot raise the open-file limit to {need} (now {soft}/{hard}); run as root"
        log(f"  {name}: skipped: open-file limit too low")
        return
    peers = bench.start_servers(name, candidates)
    sends = round(seconds * 1000 / INTERVAL_MS)
    expected = trickle.chunk_bytes(CHUNK) * sends
    by_server = {id(s): r for r, s in candidates}

    def run_one(server):
        server.check_alive()
        proc = subprocess.Popen([bench.python, os.path.join(BENCH, "trickle.py"), str(server.port), str(count),
                                 str(INTERVAL_MS), str(seconds), str(CHUNK)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=False)
        reader = LineReader(proc.stdout)
        try:
            line = reader.readline(SETTLE_DEADLINE)
            if line != f"connected {count}":
                raise RunFailure(f"{server.name}: the senders did not connect ({line})")
            if not poll_until(lambda: len(uploads_in(server.dir)) >= count, SETTLE_DEADLINE, 0.01):
                raise RunFailure(f"{server.name}: only {len(uploads_in(server.dir))} of {count} accepted")
            pids = tree(server.proc.pid)
            ticks = tree_cpu_ticks(pids)
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            line = reader.readline(seconds * 4 + 60)
            cpu = (tree_cpu_ticks(pids) - ticks) / CLK_TCK
            if not line or not line.startswith("sent "):
                raise RunFailure(f"{server.name}: the senders did not finish ({line})")
            sent = json.loads(line[5:])
            line = reader.readline(SETTLE_DEADLINE)
            if not line or not line.startswith("done ") or proc.wait(SETTLE_DEADLINE) != 0:
                raise RunFailure(f"{server.name}: not every connection was closed cleanly ({line})")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        files = file_list(server.dir)
        if len(files) != count or any(size != len(expected) for _, size in files):
            raise RunFailure(f"{server.name}: {len(files)} files, sizes {sorted({s for _, s in files})}, expected "
                             f"{count} of {len(expected)}")
        if bench.args.verify:
            for path, _ in files:
                with open(path, "rb") as f:
                    if f.read() != expected:
                        raise RunFailure(f"{path} differs from what was sent")
        clear_dir(server.dir)
        row = late[by_server[id(server)]]
        row.extra.setdefault("sender", []).append(sent)
        log(f"    {server.name}: the senders took {sent['seconds']} s for {seconds:g} s, late max "
            f"{sent['late_max_ms']} ms, p99 {sent['late_p99_ms']} ms, {sent['short']} short sends, sender CPU "
            f"{sent['cpu_s']} s")
        late_row_samples.setdefault(id(server), []).append(sent["late_max_ms"] / 1000)
        time.sleep(0.2)
        return cpu

    late_row_samples = {}
    rounds(peers, run_one, bench.args.runs, bench.args.warmup, name)
    for r, server in candidates:
        # The warm-up rounds come first: keep only the timed ones.
        samples = late_row_samples.get(id(server), [])
        late[r].samples = samples[len(samples) - len(r.samples):] if r.samples else []
        late[r].skipped, late[r].errors = r.skipped, list(r.errors)
