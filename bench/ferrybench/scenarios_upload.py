"""The server's single uploads: one file from nc -N into a running receiver (c, warm), into a receiver started
afresh (i, cold), and into ./server with its costlier options (f)."""
import os
import shutil
import time

from ferrybench.peers import FLOOR, SOCAT_BUFFERS, Server, SinkServer, clear_dir, file_list, nc_send, py_name
from ferrybench.results import rounds
from ferrybench.system import (BENCH, CLK_TCK, GiB, RUN_DEADLINE, RunFailure, Skip, free_port, log, poll_until,
                               tree, tree_cpu_ticks)


def server_single(bench, key, name, size):
    """c: one upload into a running receiver (warm), against socat at both buffer sizes, the Python
    receiver at each read size, and the floor: nc -N into a receiver that only discards."""
    cpu_rows = nc_rounds(bench, key, name, size, [
        (bench.result(key, name, "ferry ./server", "ms", ferry=True), bench.ferry_server("ferry ./server")),
        *bench.compared(key, name),
        *((bench.result(key, name, f"socat -b {b}", "ms"), socat_server(bench, f"socat -b {b}", b))
          for b in SOCAT_BUFFERS),
        *bench.python_rows(key, name),
        (bench.result(key, name, FLOOR, "ms"), sink_server(bench, FLOOR)),
    ])
    per_gib(bench, key, f"{name}, server CPU per GiB", size, cpu_rows, only=ferry_or_socat)


def server_cold(bench, key, name, size):
    """i: each round starts every receiver afresh (waiting until it listens, not timed), times one upload from
    nc -N until the file is complete, and stops it."""
    source = bench.source(size)
    makers = [
        (bench.result(key, name, "ferry ./server", "ms", ferry=True), lambda: bench.ferry_server("ferry ./server")),
        *((bench.result(key, name, f"ferry@{n}", "ms"), lambda n=n, r=r: bench.ferry_server(f"ferry@{n}", None, r))
          for n, r in bench.args.compare),
        *((bench.result(key, name, f"socat -b {b}", "ms"), lambda b=b: socat_server(bench, f"socat -b {b}", b))
          for b in SOCAT_BUFFERS),
        *((bench.result(key, name, py_name(r), "ms"), lambda r=r: bench.python_server(py_name(r), r))
          for r in bench.args.py_read),
    ]
    if without_nc(name, makers):
        return
    cpu_rows = bench.cpu_rows(key, name, makers)

    def run_one(make):
        server = make()
        try:
            bench.start(server)
        except Skip as e:
            raise RunFailure(f"{server.name} cannot run here: {e}")
        try:
            return nc_upload(bench, server, source, size)
        finally:
            server.stop()
            bench.servers.remove(server)
            shutil.rmtree(server.dir, ignore_errors=True)

    for result, make in makers:  # a missing tool skips its peer before the rounds
        if result.peer.startswith("socat") and not shutil.which("socat"):
            result.skipped = "socat not found"
            log(f"  {name}: skipping {result.peer}: {result.skipped}")
    rounds(makers, run_one, bench.args.runs, bench.args.warmup, name, cpu_rows)
    per_gib(bench, key, f"{name}, server CPU per GiB", size, cpu_rows, only=ferry_or_socat)


def server_options(bench, key, name, size):
    """f: what --checksum sha256 and --fsync cost, against ferry's default and socat."""
    nc_rounds(bench, key, name, size, [
        (bench.result(key, name, "ferry ./server", "ms", ferry=True), bench.ferry_server("ferry ./server")),
        (bench.result(key, name, "ferry --checksum sha256", "ms"),
         bench.ferry_server("ferry --checksum sha256", {"FERRY_CHECKSUM": "sha256"})),
        (bench.result(key, name, "ferry --fsync", "ms"), bench.ferry_server("ferry --fsync", {"FERRY_FSYNC": "1"})),
        (bench.result(key, name, "socat -b 1048576", "ms"), socat_server(bench, "socat -b 1048576", 1048576)),
    ])


def without_nc(name, candidates):
    """True, with every candidate's row skipped, when nc (the sender) is not found."""
    if shutil.which("nc"):
        return False
    for result, _ in candidates:
        result.skipped = "nc (the sender) not found"
    log(f"  {name}: skipped: nc (the sender) not found")
    return True


def nc_rounds(bench, key, name, size, candidates):
    """Rounds of one upload of size bytes from nc -N to each candidate (result, server), with its CPU."""
    source = bench.source(size)
    if without_nc(name, candidates):
        return
    cpu_rows = bench.cpu_rows(key, name, candidates)
    peers = bench.start_servers(name, candidates)
    rounds(peers, lambda server: nc_upload(bench, server, source, size), bench.args.runs, bench.args.warmup, name,
           cpu_rows)
    return cpu_rows


def nc_upload(bench, server, source, size):
    """One upload of source from nc -N to server, until its file is complete: (seconds, CPU seconds)."""
    server.check_alive()
    pids = tree(server.proc.pid)
    ticks = tree_cpu_ticks(pids, reaped=True)
    start = time.perf_counter()
    nc_send(server.port, source, RUN_DEADLINE, server.name)
    if isinstance(server, SinkServer):
        # The floor: nothing is saved; the sink reports the bytes of the connection once it closed it.
        got = server.reader.readline(RUN_DEADLINE)
        elapsed = time.perf_counter() - start
        if got is None or int(got) != size:
            raise RunFailure(f"{server.name}: the sink received {got} of {size} bytes")
        cpu = (tree_cpu_ticks(pids) - ticks) / CLK_TCK
        time.sleep(0.05)
        return elapsed, cpu
    # nc -N exits when the receiver closes the connection; the file must also be complete.
    return saved(bench, server, source, size, start, pids, ticks, "nc")


def saved(bench, server, source, size, start, pids, ticks, sender):
    """After the sender exited: waits until server's one file is complete, then (seconds since start, CPU
    seconds of the receiver's process tree pids since ticks); checks the file and clears the directory."""
    complete = lambda: [s for _, s in file_list(server.dir)] == [size]
    if not poll_until(complete, RUN_DEADLINE):
        raise RunFailure(f"{server.name}: file not complete after {sender} exited: {file_list(server.dir)}")
    elapsed = time.perf_counter() - start
    time.sleep(0.02)  # socat's child: exited and reaped, so that its CPU is counted
    cpu = (tree_cpu_ticks(pids, reaped=True) - ticks) / CLK_TCK
    bench.verify(server.dir, [source])
    clear_dir(server.dir)
    time.sleep(0.05)
    return elapsed, cpu


def per_gib(bench, key, scenario, size, cpu_rows, only=None):
    """Rows of CPU seconds per GiB, named scenario, from the CPU rows (each sample scaled): every row, or those
    only(row) keeps."""
    for row in (cpu_rows or {}).values():
        if only is None or only(row):
            per = bench.result(key, scenario, row.peer, "cpu-s/GiB", ferry=row.ferry)
            per.samples = [cpu * GiB / size for cpu in row.samples]
            per.skipped, per.errors = row.skipped, list(row.errors)


def ferry_or_socat(row):
    """c's and i's rows per GiB: ferry (and --compare builds) and socat."""
    return row.ferry or row.peer.startswith(("socat", "ferry@"))


def socat_server(bench, name, buffer=None):
    """socat saving each connection over one file, with its default buffer or -b buffer."""
    port = free_port()
    directory = os.path.join(bench.work, f"socat-{port}")
    size = ["-b", str(buffer)] if buffer else []
    return Server(name, ["socat", "-u", *size, f"TCP-LISTEN:{port},reuseaddr,fork",
                         f"OPEN:{os.path.join(directory, 'upload.file')},creat,trunc"],
                  port, directory, bench.logs, wants_tools=("socat",))


def sink_server(bench, name):
    """The floor's receiver: bench/sink.py in splice mode, which reports each connection's bytes."""
    port = free_port()
    return SinkServer(name, [bench.python, os.path.join(BENCH, "sink.py"), str(port), "splice"], port, None,
                      bench.logs)
