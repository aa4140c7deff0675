"""The server under load: many uploads at once (d) and many idle connections (e)."""
import resource
import shutil
import socket
import threading
import time

from ferrybench.peers import clear_dir, file_list, uploads_in
from ferrybench.results import alternate, fmt, rounds
from ferrybench.system import (CLK_TCK, MiB, RUN_DEADLINE, SETTLE_DEADLINE, RunFailure, Skip, listen_overflows, log,
                               poll_until, raise_nofile, tree, tree_cpu_ticks, tree_rss_bytes, tree_threads)


def server_concurrent(bench, key, name, count, size):
    """d: count uploads of size bytes at once, from threads parked before the clock, until all files are
    complete."""
    source = bench.source(size)
    candidates = [
        (bench.result(key, name, "ferry ./server", "ms", ferry=True), bench.ferry_server("ferry ./server")),
        *bench.compared(key, name),
        *bench.python_rows(key, name),
    ]
    cpu_rows = bench.cpu_rows(key, name, candidates)
    peers = bench.start_servers(name, candidates)

    def run_one(server):
        server.check_alive()
        pids = tree(server.proc.pid)
        ticks = tree_cpu_ticks(pids)
        go = threading.Event()
        errors = []

        def send():
            try:
                go.wait()
                with open(source, "rb") as f, socket.create_connection(("127.0.0.1", server.port),
                                                                       timeout=RUN_DEADLINE) as s:
                    s.sendfile(f)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
            except OSError as e:
                errors.append(e)

        senders = [threading.Thread(target=send) for _ in range(count)]
        for t in senders:
            t.start()
        time.sleep(0.05)  # every sender is parked on the event
        start = time.perf_counter()
        go.set()
        for t in senders:
            t.join(RUN_DEADLINE)
        if errors or any(t.is_alive() for t in senders):
            raise RunFailure(f"{server.name}: {len(errors)} of {count} senders failed: {errors[:1]}")
        complete = lambda: sorted(s for _, s in file_list(server.dir)) == [size] * count
        if not poll_until(complete, RUN_DEADLINE):
            raise RunFailure(f"{server.name}: files not complete: {sorted(s for _, s in file_list(server.dir))}")
        elapsed = time.perf_counter() - start
        cpu = (tree_cpu_ticks(pids) - ticks) / CLK_TCK
        bench.verify(server.dir, [source])
        clear_dir(server.dir)
        time.sleep(0.1)
        return elapsed, cpu

    rounds(peers, run_one, bench.args.runs, bench.args.warmup, name, cpu_rows)


def server_idle(bench, key, count, settle, window):
    """e: count idle connections into a receiver started afresh each round: the resident memory and the CPU of its
    process tree while they idle for window seconds (after settle seconds), and the time to accept them all."""
    name = f"{count} idle connections"
    need = 2 * count + 1024
    rows = {}  # peer -> (RSS row, CPU row, accept row)
    # The idle timeout is lengthened only here, so that the connections stay open while measured.
    idle_env = {"FERRY_IDLE_TIMEOUT_MS": "3600000"}
    servers = (("ferry ./server", lambda: bench.ferry_server("ferry ./server", idle_env)),
               *((f"ferry@{n}", lambda n=n, r=r: bench.ferry_server(f"ferry@{n}", idle_env, r))
                 for n, r in bench.args.compare),
               ("python threads", lambda: bench.python_server("python threads")))
    for peer, _ in servers:
        ferry = peer.startswith("ferry")
        rows[peer] = (bench.result(key, f"idle RSS ({count} conns)", peer, "MiB", ferry=ferry),
                      bench.result(key, f"idle CPU ({window:g} s)", peer, "cpu-ms", ferry=ferry),
                      bench.result(key, f"accept {count} conns", peer, "ms", ferry=ferry))
    if not raise_nofile(need):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        for row in (r for group in rows.values() for r in group):
            row.skipped = f"cannot raise the open-file limit to {need} (now {soft}/{hard}); run as root"
        log(f"  {name}: skipped: open-file limit too low")
        return

    # A fresh receiver per round, stopped before the connections close: a thread-per-connection
    # receiver takes minutes to wind down 5,000 threads woken at once (they queue for the GIL),
    # and a long-lived JVM would carry garbage from earlier rounds into the measurement.
    def measure(make):
        server = make()
        bench.start(server)
        pids = tree(server.proc.pid)
        before = tree_rss_bytes(pids)
        socks = []
        overflows = listen_overflows()
        try:
            start = time.perf_counter()
            for _ in range(count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.settimeout(30)
                s.connect(("127.0.0.1", server.port))
            opened = lambda: len(uploads_in(server.dir)) >= count
            if not poll_until(opened, SETTLE_DEADLINE, 0.005):
                raise RunFailure(f"{server.name}: only {len(uploads_in(server.dir))} of {count} accepted")
            accepted = time.perf_counter() - start
            # A full accept queue drops the SYN and the sender retries after 1 s: count them (system-wide).
            overflows = listen_overflows() - overflows
            time.sleep(settle)
            server.check_alive()
            pids = tree(server.proc.pid)
            ticks0, t0 = tree_cpu_ticks(pids), time.monotonic()
            time.sleep(window)
            ticks1, t1 = tree_cpu_ticks(pids), time.monotonic()
            resident, threads = tree_rss_bytes(pids), tree_threads(pids)
            server.check_alive()
        except OSError as e:
            raise RunFailure(f"{server.name}: opening {count} connections: {e}")
        finally:
            bench.stop_all()
            for s in socks:
                s.close()
            shutil.rmtree(server.dir, ignore_errors=True)
        time.sleep(0.2)
        # CPU seconds per window, scaled by the real length of the sleep.
        return {"rss": resident, "cpu": (ticks1 - ticks0) / CLK_TCK * window / (t1 - t0), "accept": accepted,
                "threads": threads, "rss_before": before, "processes": len(pids), "overflows": overflows}

    def record(entry, m, recording):
        peer, _ = entry
        rss, cpu, accept = rows[peer]
        if recording:
            rss.samples.append(m["rss"])
            cpu.samples.append(m["cpu"])
            accept.samples.append(m["accept"])
            accept.extra["listen_overflows"] = accept.extra.get("listen_overflows", 0) + m["overflows"]
        rss.extra.update(processes=m["processes"], threads_with_connections=m["threads"],
                         rss_before_connections_MiB=round(m["rss_before"] / MiB, 1))
        return f"{peer} RSS {fmt(m['rss'], 'MiB')}, CPU {fmt(m['cpu'], 'cpu-ms')}, accept {fmt(m['accept'], 'ms')}"

    def failed(entry, e):
        peer, _ = entry
        for row in rows[peer]:
            if isinstance(e, Skip):
                row.skipped = str(e)
            else:
                row.errors.append(str(e))
        return f"{peer}: {'skipped' if isinstance(e, Skip) else 'FAILED'} ({e})"

    alternate(servers, lambda entry: measure(entry[1]), bench.args.runs, bench.args.warmup, name, record, failed,
              "; ", (RunFailure, Skip))
