#!/usr/bin/env python3
"""ferry's benchmark: ./client and ./server side by side with nc, socat and
Python peers, in one run, alternating (A B C A B C ...), reporting medians.

    bench/run                  # full run: 7 timed rounds per scenario
    bench/run --quick          # smoke form for CI: tiny sizes, one round, < 60 s
    bench/run --only a,c --runs 11 --json /tmp/bench.json
    bench/run --launcher       # where ./client's start-up time goes
    bench/run --only c,d,e --compare /work/other-checkout   # two ferry builds side by side

Scenarios (see bench/README.md):
  a  client, 100 MiB to a discarding sink: ./client vs nc -N vs Python sendfile
  b  client, 500 B end to end: the same three senders
  c  server, one 100 MiB upload from nc -N into a running receiver until the file
     is complete on disk: ./server vs socat -b 256 KiB and 1 MiB vs a thread-per-connection
     Python receiver, and the floor (nc -N into a receiver that only discards)
  i  server cold: the same upload, the first after the receiver started (one fresh receiver per round)
  d  server, 32 concurrent uploads of 8 MiB: ./server vs the Python receiver
  e  server, 5,000 idle connections: resident memory and idle CPU of the whole
     process tree, ./server vs the Python receiver
  f  server, 100 MiB with --checksum sha256 and --fsync against the default
  g  server to S3, one 1 GiB upload from nc -N into s3proxy (started here):
     ./server PORT s3://... vs nc -l | rclone rcat vs nc -l | aws s3 cp -
  h  many files: 1,000 files of 4 KiB into one running ./server, from one ./client (sequential,
     then --parallel 8) vs a shell loop of nc -N

--compare [NAME=]DIR adds the ferry build in DIR (DIR/server) as one more
receiver, "ferry@NAME", in c, i, d and e, started as ./server is.

Exit code: 0 when everything ran (whether or not a target was met), 1 when a
run failed (a peer exited non-zero, a file arrived incomplete, a deadline
passed), 2 for bad arguments. A missing tool skips its peer with a message.
"""
import argparse
import filecmp
import hashlib
import json
import os
import platform
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import pyrecv
import s3store

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
MiB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Deadlines: generous, but nothing waits forever.
START_DEADLINE = 120.0  # a server's first start compiles ferry
RUN_DEADLINE = 120.0  # one sender, one upload
SETTLE_DEADLINE = 60.0
S3_DEADLINE = 600.0  # one upload of scenario g (1 GiB) through a receiver and s3proxy

S3_BUCKET = "ferry-bench"
AWS = "/usr/bin/aws"  # Debian's awscli 2: a version manager's `aws` earlier on the PATH is not the peer
# The peers' settings, the fastest measured (bench/README.md says what was tried):
S3_RCLONE = ["--s3-chunk-size", "32M"]  # rclone rcat flags
S3_AWS = {}  # the s3 section of aws's config file (its defaults were fastest); keys with -- are flags of aws s3 cp
S3_NC = ""  # flags of the peers' nc -l
PY_READ = pyrecv.READ_SIZE  # the Python receiver's recv_into size, the fastest measured (bench/README.md)
SOCAT_BUFFERS = (262144, 1048576)  # socat -b in c and i: both rows are measured, the faster one counts
PARALLEL = 8  # ./client --parallel in h
GiB = 1 << 30


class RunFailure(Exception):
    """A run that did not complete: this makes the benchmark exit non-zero."""


class Skip(Exception):
    """A peer that cannot run here (a missing tool): reported, not a failure."""


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def wait_exit(proc, deadline):
    """Waits for proc to exit, waking the moment it does (pidfd), killing it after deadline seconds.

    Returns (exit code, CPU seconds of the process and the children it reaped, or None if unknown).
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(deadline * 1000):
                proc.kill()
                proc.wait()
                raise RunFailure(f"{proc.args[0]} still running after {deadline:.0f} s")
        finally:
            os.close(pidfd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return proc.returncode, usage.ru_utime + usage.ru_stime
    # Popen.wait(timeout) polls with sleeps of up to 50 ms: a watchdog keeps the plain wait exact.
    timer = threading.Timer(deadline, proc.kill)
    timer.start()
    try:
        return proc.wait(), None
    finally:
        timer.cancel()


def timed_process(cmd, stdin_path=None, deadline=RUN_DEADLINE, env=None):
    """Runs cmd to completion; returns (seconds from process start to exit, CPU seconds).

    A non-zero exit is a RunFailure."""
    with tempfile.TemporaryFile() as err:
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
            rc, cpu = wait_exit(proc, deadline)
            elapsed = time.perf_counter() - start
        finally:
            if stdin_path:
                stdin.close()
        if rc != 0:
            err.seek(0)
            detail = err.read().decode(errors="replace").strip().splitlines()
            raise RunFailure(f"{' '.join(cmd)} exited {rc}: {detail[0] if detail else '(no message)'}")
    return elapsed, cpu


def free_port():
    with socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def listening(port):
    """True while some socket listens on port (read from /proc: no connection is made)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for row in f:
                    fields = row.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def poll_until(condition, deadline, interval=0.001):
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(interval)
    return True


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def wait_usage(proc, deadline):
    """Waits for proc to exit (killing it after deadline seconds); returns (exit code, its resource usage)."""
    end = time.monotonic() + deadline
    pidfd = os.pidfd_open(proc.pid)
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, usage
            left = end - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                raise RunFailure(f"{proc.args[0]} still running after {deadline:.0f} s")
            select.select([pidfd], [], [], left)  # readable once the process has exited
    finally:
        os.close(pidfd)


def blocked_reading_stdin(pid):
    """True when a thread of pid waits in read(0, ...): a tool that has started and wants its input.

    /proc/PID/task/TID/syscall names the system call a thread is blocked in; where it cannot be read
    (not root), this answers True, and only nc's listening is waited for."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
        except PermissionError:
            return True
        except OSError:
            continue
        if fields[:2] == ["0", "0x0"]:
            return True
    return False


def vm_hwm(pid):
    """A process's peak resident memory since it started (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def read_tail(file):
    """The last lines of a temporary file of error output."""
    file.flush()
    file.seek(0)
    return " | ".join(file.read().decode(errors="replace").strip().splitlines()[-3:]) or "(no message)"


def tree(pid):
    """pid and all its descendants (by parent pid)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(proc_stat(entry)[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def sum_over(pids, value):
    """The sum of value(pid) over the processes; one that is gone or unreadable counts 0."""
    total = 0
    for pid in pids:
        try:
            total += value(pid)
        except (OSError, ValueError, IndexError):
            pass
    return total


def tree_cpu_ticks(pids, reaped=False):
    """utime + stime of the processes (with reaped: also of the children they waited for, as socat's)."""
    def ticks(pid):
        fields = proc_stat(pid)
        return sum(int(f) for f in fields[11:15 if reaped else 13])
    return sum_over(pids, ticks)


def tree_rss_bytes(pids):
    def rss(pid):
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    return sum_over(pids, rss)


def tree_threads(pids):
    return sum_over(pids, lambda pid: int(proc_stat(pid)[17]))


def listen_overflows():
    """The kernel's count of connections dropped because an accept queue was full (TcpExt ListenOverflows)."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            if names.startswith("TcpExt:"):
                return int(dict(zip(names.split()[1:], values.split()[1:]))["ListenOverflows"])
    except (OSError, KeyError, ValueError):
        pass
    return 0


class Server:
    """A receiver process, started before timing and kept running across rounds (in e: one per round)."""

    def __init__(self, name, cmd, port, directory, logs, env=None, wants_tools=()):
        self.name, self.cmd, self.port, self.dir = name, cmd, port, directory
        self.log_path = os.path.join(logs, f"{name.split()[0]}-{port}.log")
        self.env, self.wants_tools = env, wants_tools
        self.replace_env = False  # True: env is the whole environment, not additions to the bench's
        self.proc = None

    # True: the receiver's standard output is a pipe to the bench (read through self.reader), not its log.
    reports = False

    def start(self):
        for tool in self.wants_tools:
            if not shutil.which(tool):
                raise Skip(f"{tool} not found")
        if self.dir:
            os.makedirs(self.dir, exist_ok=True)
        env = dict(self.env) if self.replace_env else dict(os.environ, **(self.env or {}))
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE if self.reports else out,
                                         stderr=out if self.reports else subprocess.STDOUT,
                                         cwd=ROOT, env=env, start_new_session=True)
        if self.reports:
            self.reader = LineReader(self.proc.stdout)
        if not poll_until(lambda: listening(self.port) or self.proc.poll() is not None, START_DEADLINE, 0.02):
            self.stop()
            raise RunFailure(f"{self.name} did not listen on {self.port} within {START_DEADLINE:.0f} s")
        if self.proc.poll() is not None:
            raise RunFailure(f"{self.name} exited {self.proc.returncode}: {self.tail()}")

    def tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-3:])
        except OSError:
            return ""

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RunFailure(f"{self.name} died (exit {self.proc.returncode}): {self.tail()}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class SinkServer(Server):
    """The floor of c: bench/sink.py in splice mode, which discards every byte (socket -> pipe -> /dev/null,
    never in user space) and prints each connection's byte count once it has closed the connection."""

    FLOOR = "floor: nc -N into a discarding sink"
    reports = True


FLOOR = SinkServer.FLOOR


def py_name(read):
    """The Python receiver's row: its read size in the name."""
    return f"python threads, {label(read)} reads"


def uploads_in(directory):
    """The received files of a receiver's directory: not ferry's lock file (.ferry.lock) or other dot files."""
    return [e for e in os.scandir(directory) if not e.name.startswith(".")]


def clear_dir(directory):
    for entry in uploads_in(directory):
        os.unlink(entry.path)


def file_list(directory):
    return [(e.path, e.stat().st_size) for e in uploads_in(directory)]


# ---------------------------------------------------------------- results

class Result:
    def __init__(self, key, scenario, peer, unit, ferry=False, extra=None):
        self.key, self.scenario, self.peer, self.unit, self.ferry = key, scenario, peer, unit, ferry
        self.samples, self.errors, self.skipped = [], [], None
        self.extra = extra if extra is not None else {}

    def median(self):
        return statistics.median(self.samples) if self.samples else None

    def as_json(self):
        return {"key": self.key, "scenario": self.scenario, "peer": self.peer, "unit": self.unit,
                "ferry": self.ferry, "samples": self.samples, "runs": len(self.samples),
                "median": self.median(), "min": min(self.samples, default=None),
                "max": max(self.samples, default=None), "errors": self.errors, "skipped": self.skipped,
                "extra": self.extra}


def rounds(peers, run_one, total_rounds, warmup, label, cpu_rows=None):
    """Runs every peer once per round, in order (A B C A B C ...); the first warmup rounds are not recorded.

    peers: list of (result, state) where run_one(state) returns one sample, or (sample, CPU seconds)
    when cpu_rows maps the result to a row for the CPU. A peer that fails is dropped from the
    remaining rounds; its error is recorded.
    """
    cpu_rows = cpu_rows or {}
    active = [(r, s) for r, s in peers if r.skipped is None and not r.errors]
    for n in range(warmup + total_rounds):
        line = []
        for result, state in list(active):
            try:
                value = run_one(state)
            except RunFailure as e:
                for row in (result, cpu_rows.get(result)):
                    if row is not None:
                        row.errors.append(str(e))
                active.remove((result, state))
                line.append(f"{result.peer}: FAILED ({e})")
                continue
            cpu = None
            if isinstance(value, tuple):
                value, cpu = value
            if n >= warmup:
                result.samples.append(value)
                if cpu is not None and result in cpu_rows:
                    cpu_rows[result].samples.append(cpu)
            line.append(f"{result.peer} {fmt(value, result.unit)}" + (f" (CPU {fmt(cpu, 'cpu-ms')})" if cpu else ""))
        tag = "warm-up" if n < warmup else f"round {n - warmup + 1}/{total_rounds}"
        log(f"  {label} {tag}: " + ", ".join(line))
        if not active:
            break
    for result, row in cpu_rows.items():
        row.skipped = result.skipped


def fmt(value, unit):
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "MiB":
        return f"{value / MiB:.1f} MiB"
    if unit == "cpu-ms":
        return f"{value * 1000:.0f} ms"
    if unit == "cpu-s/GiB":
        return f"{value:.3f} s/GiB"
    return f"{value:g} {unit}"


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="ferry-bench-", dir=args.dir)
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs)
        self.results = []
        self.servers = []
        self.stores = []
        self.python = args.python or pick_python()
        # Directories outside self.work that the bench made, deleted with it.
        self.scratch = []
        self.files = {}

    # -- helpers

    def source(self, size):
        """A file of size pseudo-random bytes, made once (then it stays in the page cache)."""
        if size not in self.files:
            path = os.path.join(self.work, f"source-{size}.bin")
            with open(path, "wb") as f:
                left = size
                while left:
                    chunk = os.urandom(min(left, 4 * MiB))
                    f.write(chunk)
                    left -= len(chunk)
            with open(path, "rb") as f:  # read once: cached for every peer alike
                while f.read(4 * MiB):
                    pass
            self.files[size] = path
        return self.files[size]

    def start(self, server):
        self.servers.append(server)
        server.start()
        return server

    def stop_all(self):
        for server in self.servers + self.stores:
            try:
                server.stop()
            except Exception as e:  # keep stopping the rest
                log(f"warning: stopping {getattr(server, 'name', 's3proxy')}: {e}")
        self.servers.clear()
        self.stores.clear()

    def result(self, *a, **kw):
        r = Result(*a, **kw)
        self.results.append(r)
        return r

    def ferry_server(self, name, env=None, root=ROOT, url=None, under=None):
        """./server on a free port, saving into a directory of the bench's own (in under, if given, instead of the
        bench's temporary directory), or to url (s3://...)."""
        port = free_port()
        directory = os.path.join(under or self.work, f"ferry-{port}")
        return Server(name, [os.path.join(root, "server"), str(port), url or directory], port, directory, self.logs,
                      env)

    def compared(self, key, scenario, env=None):
        """(result, server) for each --compare build, placed right after ferry so that rounds alternate."""
        return [(self.result(key, scenario, f"ferry@{name}", "ms"), self.ferry_server(f"ferry@{name}", env, root))
                for name, root in self.args.compare]

    def python_server(self, name, read=PY_READ):
        port = free_port()
        directory = os.path.join(self.work, f"pyrecv-{port}")
        return Server(name, [self.python, os.path.join(BENCH, "pyrecv.py"), str(port), directory, str(read)], port,
                      directory, self.logs)

    def python_rows(self, key, scenario):
        """(result, server) for each --py-read size: the Python receiver's rows of c and d."""
        return [(self.result(key, scenario, py_name(read), "ms"), self.python_server(py_name(read), read))
                for read in self.args.py_read]

    # -- a, b: client to a discarding sink

    def client_scenario(self, key, name, size):
        source = self.source(size)
        port = free_port()
        sink_mode = self.args.sink
        if sink_mode == "socat":
            sink_cmd = ["socat", "-u", "-b", "262144", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                        "/dev/null"]
        else:
            sink_cmd = [self.python, os.path.join(BENCH, "sink.py"), str(port), sink_mode]
        sink = subprocess.Popen(sink_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None,
                                start_new_session=True)
        reader = LineReader(sink.stdout) if sink_mode != "socat" else None
        try:
            if not poll_until(lambda: listening(port) or sink.poll() is not None, 30, 0.01) or sink.poll() is not None:
                raise RunFailure(f"sink {' '.join(sink_cmd)} did not start")
            host = "127.0.0.1"
            peers = [
                (self.result(key, name, "ferry ./client", "ms", ferry=True),
                 [os.path.join(ROOT, "client"), host, str(port), source]),
                (self.result(key, name, "nc -N", "ms"), ["nc", "-N", host, str(port)]),
                (self.result(key, name, "python sendfile", "ms"),
                 [self.python, os.path.join(BENCH, "pysend.py"), host, str(port), source]),
            ]
            for result, cmd in peers:
                if not shutil.which(cmd[0]):
                    result.skipped = f"{cmd[0]} not found"
                    log(f"  {name}: skipping {result.peer}: {result.skipped}")
            cpu_rows = {r: self.result(key, f"{name}, sender CPU", r.peer, "cpu-ms", ferry=r.ferry) for r, _ in peers}

            def run_one(cmd):
                stdin = source if cmd[0] == "nc" else None
                elapsed, cpu = timed_process(cmd, stdin_path=stdin)
                if reader is not None:
                    line = reader.readline(10)
                    if line is None:
                        raise RunFailure(f"{cmd[0]}: the sink reported nothing within 10 s")
                    if int(line) != size:
                        raise RunFailure(f"{cmd[0]}: the sink received {line.strip()} of {size} bytes")
                time.sleep(0.05)
                return elapsed, cpu

            rounds(peers, run_one, self.args.runs, self.args.warmup, name, cpu_rows)
        finally:
            sink.kill()
            sink.wait()

    # -- c: one large upload from nc -N

    def server_single(self, key, name, size):
        """c: one upload into a running receiver (warm), against socat at both buffer sizes, the Python
        receiver at each read size, and the floor: nc -N into a receiver that only discards."""
        cpu_rows = self.nc_rounds(key, name, size, [
            (self.result(key, name, "ferry ./server", "ms", ferry=True), self.ferry_server("ferry ./server")),
            *self.compared(key, name),
            *((self.result(key, name, f"socat -b {b}", "ms"), self.socat_server(f"socat -b {b}", b))
              for b in SOCAT_BUFFERS),
            *self.python_rows(key, name),
            (self.result(key, name, FLOOR, "ms"), self.sink_server(FLOOR)),
        ])
        self.per_gib(key, name, size, cpu_rows)

    def per_gib(self, key, name, size, cpu_rows):
        """Rows of CPU seconds per GiB received, from the server-CPU rows of ferry (and --compare builds) and socat
        (each sample scaled)."""
        for row in (cpu_rows or {}).values():
            if row.ferry or row.peer.startswith(("socat", "ferry@")):
                per = self.result(key, f"{name}, server CPU per GiB", row.peer, "cpu-s/GiB", ferry=row.ferry)
                per.samples = [cpu * GiB / size for cpu in row.samples]
                per.skipped, per.errors = row.skipped, list(row.errors)

    def sink_server(self, name):
        port = free_port()
        return SinkServer(name, [self.python, os.path.join(BENCH, "sink.py"), str(port), "splice"], port, None,
                          self.logs)

    # -- i: the first upload after the receiver starts

    def server_cold(self, key, name, size):
        """i: each round starts every receiver afresh (waiting until it listens, not timed), times one upload from
        nc -N until the file is complete, and stops it."""
        source = self.source(size)
        makers = [
            (self.result(key, name, "ferry ./server", "ms", ferry=True), lambda: self.ferry_server("ferry ./server")),
            *((self.result(key, name, f"ferry@{n}", "ms"), lambda n=n, r=r: self.ferry_server(f"ferry@{n}", None, r))
              for n, r in self.args.compare),
            *((self.result(key, name, f"socat -b {b}", "ms"), lambda b=b: self.socat_server(f"socat -b {b}", b))
              for b in SOCAT_BUFFERS),
            *((self.result(key, name, py_name(r), "ms"), lambda r=r: self.python_server(py_name(r), r))
              for r in self.args.py_read),
        ]
        if not shutil.which("nc"):
            for result, _ in makers:
                result.skipped = "nc (the sender) not found"
            log(f"  {name}: skipped: nc (the sender) not found")
            return
        cpu_rows = {r: self.result(key, f"{name}, server CPU", r.peer, "cpu-ms", ferry=r.ferry) for r, _ in makers}

        def run_one(make):
            server = make()
            try:
                self.start(server)
            except Skip as e:
                raise RunFailure(f"{server.name} cannot run here: {e}")
            try:
                return self.nc_upload(server, source, size)
            finally:
                server.stop()
                self.servers.remove(server)
                shutil.rmtree(server.dir, ignore_errors=True)

        for result, make in makers:  # a missing tool skips its peer before the rounds
            if result.peer.startswith("socat") and not shutil.which("socat"):
                result.skipped = "socat not found"
                log(f"  {name}: skipping {result.peer}: {result.skipped}")
        rounds(makers, run_one, self.args.runs, self.args.warmup, name, cpu_rows)
        self.per_gib(key, name, size, cpu_rows)

    def socat_server(self, name, buffer=None):
        """socat saving each connection over one file, with its default buffer or -b buffer."""
        port = free_port()
        directory = os.path.join(self.work, f"socat-{port}")
        size = ["-b", str(buffer)] if buffer else []
        return Server(name, ["socat", "-u", *size, f"TCP-LISTEN:{port},reuseaddr,fork",
                             f"OPEN:{os.path.join(directory, 'upload.file')},creat,trunc"],
                      port, directory, self.logs, wants_tools=("socat",))

    def nc_rounds(self, key, name, size, candidates):
        """Rounds of one upload of size bytes from nc -N to each candidate (result, server), with its CPU."""
        source = self.source(size)
        if not shutil.which("nc"):
            for result, _ in candidates:
                result.skipped = "nc (the sender) not found"
            log(f"  {name}: skipped: nc (the sender) not found")
            return
        cpu_rows = {r: self.result(key, f"{name}, server CPU", r.peer, "cpu-ms", ferry=r.ferry)
                    for r, _ in candidates}
        peers = self.start_servers(name, candidates)
        rounds(peers, lambda server: self.nc_upload(server, source, size), self.args.runs, self.args.warmup, name,
               cpu_rows)
        return cpu_rows

    def nc_upload(self, server, source, size):
        """One upload of source from nc -N to server, until its file is complete: (seconds, CPU seconds)."""
        server.check_alive()
        pids = tree(server.proc.pid)
        ticks = tree_cpu_ticks(pids, reaped=True)
        start = time.perf_counter()
        with open(source, "rb") as stdin:
            proc = subprocess.Popen(["nc", "-N", "127.0.0.1", str(server.port)], stdin=stdin,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            rc, _ = wait_exit(proc, RUN_DEADLINE)
        if rc != 0:
            raise RunFailure(f"nc -N to {server.name} exited {rc}: {proc.stderr.read().decode().strip()}")
        proc.stderr.close()
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
        complete = lambda: [s for _, s in file_list(server.dir)] == [size]
        if not poll_until(complete, RUN_DEADLINE):
            raise RunFailure(f"{server.name}: file not complete after nc exited: {file_list(server.dir)}")
        elapsed = time.perf_counter() - start
        time.sleep(0.02)  # socat's child: exited and reaped, so that its CPU is counted
        cpu = (tree_cpu_ticks(pids, reaped=True) - ticks) / CLK_TCK
        self.verify(server.dir, [source])
        clear_dir(server.dir)
        time.sleep(0.05)
        return elapsed, cpu

    # -- f: what --checksum sha256 and --fsync cost

    def server_options(self, key, name, size):
        self.nc_rounds(key, name, size, [
            (self.result(key, name, "ferry ./server", "ms", ferry=True), self.ferry_server("ferry ./server")),
            (self.result(key, name, "ferry --checksum sha256", "ms"),
             self.ferry_server("ferry --checksum sha256", {"FERRY_CHECKSUM": "sha256"})),
            (self.result(key, name, "ferry --fsync", "ms"), self.ferry_server("ferry --fsync", {"FERRY_FSYNC": "1"})),
            (self.result(key, name, "socat -b 1048576", "ms"), self.socat_server("socat -b 1048576", 1048576)),
        ])

    def start_servers(self, name, candidates):
        peers = []
        for result, server in candidates:
            try:
                self.start(server)
                peers.append((result, server))
            except Skip as e:
                result.skipped = str(e)
                log(f"  {name}: skipping {result.peer}: {e}")
            except RunFailure as e:
                result.errors.append(str(e))
                log(f"  {name}: {result.peer} FAILED to start: {e}")
        return peers

    def verify(self, directory, sources):
        """Checks that the received files hold the sent bytes (after timing; not counted)."""
        if not self.args.verify:
            return
        received = sorted(path for path, _ in file_list(directory))
        for path in received:
            if not filecmp.cmp(path, sources[0], shallow=False):
                raise RunFailure(f"{path} differs from what was sent")

    # -- d: concurrent uploads

    def server_concurrent(self, key, name, count, size):
        source = self.source(size)
        candidates = [
            (self.result(key, name, "ferry ./server", "ms", ferry=True), self.ferry_server("ferry ./server")),
            *self.compared(key, name),
            *self.python_rows(key, name),
        ]
        cpu_rows = {r: self.result(key, f"{name}, server CPU", r.peer, "cpu-ms", ferry=r.ferry)
                    for r, _ in candidates}
        peers = self.start_servers(name, candidates)

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
            self.verify(server.dir, [source])
            clear_dir(server.dir)
            time.sleep(0.1)
            return elapsed, cpu

        rounds(peers, run_one, self.args.runs, self.args.warmup, name, cpu_rows)

    # -- e: idle connections

    def server_idle(self, key, count, settle, window):
        name = f"{count} idle connections"
        need = 2 * count + 1024
        rows = {}  # peer -> (RSS row, CPU row, accept row)
        # The idle timeout is lengthened only here, so that the connections stay open while measured.
        idle_env = {"FERRY_IDLE_TIMEOUT_MS": "3600000"}
        servers = (("ferry ./server", lambda: self.ferry_server("ferry ./server", idle_env)),
                   *((f"ferry@{n}", lambda n=n, r=r: self.ferry_server(f"ferry@{n}", idle_env, r))
                     for n, r in self.args.compare),
                   ("python threads", lambda: self.python_server("python threads")))
        for peer, _ in servers:
            ferry = peer.startswith("ferry")
            rows[peer] = (self.result(key, f"idle RSS ({count} conns)", peer, "MiB", ferry=ferry),
                          self.result(key, f"idle CPU ({window:g} s)", peer, "cpu-ms", ferry=ferry),
                          self.result(key, f"accept {count} conns", peer, "ms", ferry=ferry))
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
            self.start(server)
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
                self.stop_all()
                for s in socks:
                    s.close()
                shutil.rmtree(server.dir, ignore_errors=True)
            time.sleep(0.2)
            # CPU seconds per window, scaled by the real length of the sleep.
            return {"rss": resident, "cpu": (ticks1 - ticks0) / CLK_TCK * window / (t1 - t0), "accept": accepted,
                    "threads": threads, "rss_before": before, "processes": len(pids), "overflows": overflows}

        active = list(servers)
        for n in range(self.args.warmup + self.args.runs):
            recording = n >= self.args.warmup
            line = []
            for entry in list(active):
                peer, make = entry
                rss, cpu, accept = rows[peer]
                try:
                    m = measure(make)
                except (RunFailure, Skip) as e:
                    for row in (rss, cpu, accept):
                        if isinstance(e, Skip):
                            row.skipped = str(e)
                        else:
                            row.errors.append(str(e))
                    active.remove(entry)
                    line.append(f"{peer}: {'skipped' if isinstance(e, Skip) else 'FAILED'} ({e})")
                    continue
                if recording:
                    rss.samples.append(m["rss"])
                    cpu.samples.append(m["cpu"])
                    accept.samples.append(m["accept"])
                    accept.extra["listen_overflows"] = accept.extra.get("listen_overflows", 0) + m["overflows"]
                rss.extra.update(processes=m["processes"], threads_with_connections=m["threads"],
                                 rss_before_connections_MiB=round(m["rss_before"] / MiB, 1))
                line.append(f"{peer} RSS {fmt(m['rss'], 'MiB')}, CPU {fmt(m['cpu'], 'cpu-ms')}, "
                            f"accept {fmt(m['accept'], 'ms')}")
            tag = "warm-up" if not recording else f"round {n - self.args.warmup + 1}/{self.args.runs}"
            log(f"  {name} {tag}: " + "; ".join(line))
            if not active:
                break

    # -- g: 1 GiB saved to S3 (s3proxy): ./server s3://... vs nc -l | rclone rcat, nc -l | aws s3 cp -

    def server_s3(self, key, name, size):
        """One upload of size bytes from nc -N into an S3 store, through ferry and through the tools a user
        would pipe nc -l into instead, each round until the object is complete; the object is checked
        (listing, size, SHA-256, no multipart upload left) and deleted after timing."""
        source = self.source(size)
        if not shutil.which("nc"):
            log(f"  {name}: skipped: nc (the sender and the peers' receiver) not found")
            self.result(key, name, "ferry ./server", "ms", ferry=True).skipped = "nc not found"
            return
        digest = file_sha256(source)
        store = s3store.S3Proxy(ROOT, find_java(), os.path.join(self.work, "store"), free_port(), log)
        self.stores.append(store)
        try:
            store.start(S3_BUCKET)
        except s3store.S3Error as e:
            raise RunFailure(f"s3proxy: {e}")
        log(f"  s3proxy {store.endpoint} (filesystem-nio2 in {store.dir}), bucket {S3_BUCKET}")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
        peers = []
        for n, settings in enumerate(self.args.s3_ferry):
            ferry = n == 0
            env = dict(base, **store.env(), **settings)
            label_ = "ferry ./server" + "".join(f" {k}={v}" for k, v in settings.items())
            server = self.ferry_server(label_, env, url=f"s3://{S3_BUCKET}/ferry{n}")
            server.replace_env = True
            peers.append(S3Peer(label_, "ferry", ferry=ferry, server=server, prefix=f"ferry{n}/"))
        empty = os.path.join(self.work, "empty.conf")
        open(empty, "w").close()
        for n, flags in enumerate(self.args.s3_rclone):
            env = dict(base, RCLONE_CONFIG=empty, RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
                       RCLONE_CONFIG_BENCH_ENDPOINT=store.endpoint, RCLONE_CONFIG_BENCH_REGION=s3store.REGION,
                       RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=s3store.ACCESS_KEY,
                       RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=s3store.SECRET_KEY,
                       RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true")
            for m, nc in enumerate(self.args.s3_nc):
                object_key = f"rclone{n}-{m}/upload.bin"
                cmd = ["rclone", "rcat", "-q", *flags, f"bench:{S3_BUCKET}/{object_key}"]
                peers.append(S3Peer("rclone rcat" + "".join(f" {f}" for f in flags) + nc_label(nc), "rclone",
                                    cmd=cmd, env=env, prefix=object_key, nc=nc, tool="rclone"))
        for n, settings in enumerate(self.args.s3_aws):
            conf = os.path.join(self.work, f"aws-{n}.conf")
            flags = [k for k in settings if k.startswith("--")]
            s3_settings = {k: v for k, v in settings.items() if not k.startswith("--")}
            with open(conf, "w") as f:
                f.write(f"[default]\nregion = {s3store.REGION}\n")
                if s3_settings:
                    f.write("s3 =\n" + "".join(f"  {k} = {v}\n" for k, v in s3_settings.items()))
            env = dict(base, AWS_CONFIG_FILE=conf, AWS_SHARED_CREDENTIALS_FILE=empty, AWS_PAGER="",
                       AWS_ACCESS_KEY_ID=s3store.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=s3store.SECRET_KEY)
            for m, nc in enumerate(self.args.s3_nc):
                object_key = f"aws{n}-{m}/upload.bin"
                # awscli 2.9 ignores AWS_ENDPOINT_URL (2.13 and later read it): the endpoint is an option.
                cmd = [AWS, "s3", "cp", *flags, "-", f"s3://{S3_BUCKET}/{object_key}", "--endpoint-url",
                       store.endpoint]
                peers.append(S3Peer("aws s3 cp" + "".join(f" {k}={v}" if v else f" {k}" for k, v in settings.items())
                                    + nc_label(nc), "aws", cmd=cmd, env=env, prefix=object_key, nc=nc, tool=AWS))
        rows = {}
        for peer in peers:
            rows[peer] = (self.result(key, name, peer.name, "ms", ferry=peer.ferry),
                          self.result(key, f"{name}, receiver CPU", peer.name, "cpu-ms", ferry=peer.ferry),
                          self.result(key, f"{name}, receiver peak RSS", peer.name, "MiB", ferry=peer.ferry),
                          self.result(key, f"{name}, s3proxy CPU", peer.name, "cpu-ms", ferry=peer.ferry))
        active = []
        for peer in peers:
            try:
                if peer.server:
                    self.start(peer.server)
                elif not os.access(peer.tool, os.X_OK) and not shutil.which(peer.tool):
                    raise Skip(f"{peer.tool} not found")
                active.append(peer)
            except Skip as e:
                for row in rows[peer]:
                    row.skipped = str(e)
                log(f"  {name}: skipping {peer.name}: {e}")
            except RunFailure as e:
                for row in rows[peer]:
                    row.errors.append(str(e))
                log(f"  {name}: {peer.name} FAILED to start: {e}")
        for n in range(self.args.warmup + self.args.runs):
            recording = n >= self.args.warmup
            line = []
            for peer in list(active):
                try:
                    m = self.s3_upload(peer, store, source, size, digest)
                except (RunFailure, s3store.S3Error, OSError) as e:
                    for row in rows[peer]:
                        row.errors.append(str(e))
                    active.remove(peer)
                    line.append(f"{peer.name}: FAILED ({e})")
                    continue
                if recording:
                    for row, value in zip(rows[peer], (m["time"], m["cpu"], m["rss"], m["store_cpu"])):
                        row.samples.append(value)
                line.append(f"{peer.name} {fmt(m['time'], 'ms')} (CPU {fmt(m['cpu'], 'cpu-ms')}, "
                            f"RSS {fmt(m['rss'], 'MiB')}, s3proxy CPU {fmt(m['store_cpu'], 'cpu-ms')})")
            tag = "warm-up" if not recording else f"round {n - self.args.warmup + 1}/{self.args.runs}"
            log(f"  {name} {tag}: " + "; ".join(line))
            if not active:
                break

    def s3_upload(self, peer, store, source, size, digest):
        """One upload to S3 through peer, timed from the sender's start until the object is complete."""
        store.check_alive()
        store_pids = tree(store.proc.pid)
        store_ticks = tree_cpu_ticks(store_pids)
        if peer.server:
            peer.server.check_alive()
            pids = tree(peer.server.proc.pid)
            ticks = tree_cpu_ticks(pids)
            start = time.perf_counter()
            with open(source, "rb") as stdin:
                sender = subprocess.Popen(["nc", "-N", "127.0.0.1", str(peer.server.port)], stdin=stdin,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                rc, _ = wait_exit(sender, S3_DEADLINE)
            elapsed = time.perf_counter() - start
            if rc != 0:
                raise RunFailure(f"nc -N to {peer.name} exited {rc}: {sender.stderr.read().decode().strip()}")
            sender.stderr.close()
            cpu = (tree_cpu_ticks(pids) - ticks) / CLK_TCK
            rss = sum_over(pids, vm_hwm)
            # ferry closes the connection once the object is complete: it must be listed now, not later.
            objects = store.client.objects(S3_BUCKET, peer.prefix)
            if len(objects) != 1 or list(objects.values()) != [size]:
                raise RunFailure(f"{peer.name}: not one complete object under {peer.prefix} when nc -N returned:"
                                 f" {objects} (ferry's log: {peer.server.tail()})")
            object_key = next(iter(objects))
        else:
            port = free_port()
            with tempfile.TemporaryFile() as err:
                listener = subprocess.Popen(["nc", "-l", *peer.nc, "127.0.0.1", str(port)], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=err)
                consumer = subprocess.Popen(peer.cmd, stdin=listener.stdout, stdout=subprocess.DEVNULL, stderr=err,
                                            env=peer.env, cwd=self.work)
                listener.stdout.close()
                try:
                    # Started before the clock, as ferry is: nc listens and the tool waits for its first read.
                    ready = lambda: (listening(port) and blocked_reading_stdin(consumer.pid)) or \
                        listener.poll() is not None or consumer.poll() is not None
                    if not poll_until(ready, START_DEADLINE, 0.005) or listener.poll() is not None \
                            or consumer.poll() is not None:
                        raise RunFailure(f"{peer.name}: the pipeline did not start: {read_tail(err)}")
                    start = time.perf_counter()
                    with open(source, "rb") as stdin:
                        sender = subprocess.Popen(["nc", "-N", "127.0.0.1", str(port)], stdin=stdin,
                                                  stdout=subprocess.DEVNULL, stderr=err)
                        rc_sender, _ = wait_exit(sender, S3_DEADLINE)
                    usages = [wait_usage(p, S3_DEADLINE) for p in (consumer, listener)]
                    elapsed = time.perf_counter() - start
                finally:
                    for p in (listener, consumer):
                        if p.poll() is None:
                            p.kill()
                            p.wait()
                if rc_sender != 0 or any(rc != 0 for rc, _ in usages):
                    raise RunFailure(f"{peer.name}: exit codes sender {rc_sender}, {peer.kind} {usages[0][0]}, "
                                     f"nc -l {usages[1][0]}: {read_tail(err)}")
            cpu = sum(u.ru_utime + u.ru_stime for _, u in usages)
            rss = sum(u.ru_maxrss for _, u in usages) * 1024
            object_key = peer.prefix
        store_cpu = (tree_cpu_ticks(store_pids) - store_ticks) / CLK_TCK
        # Outside the timed part: the object as the store serves it, and nothing left half-done.
        if self.args.verify:
            got_size, got = store.client.sha256(S3_BUCKET, object_key)
            if (got_size, got) != (size, digest):
                raise RunFailure(f"{peer.name}: {object_key} holds {got_size} bytes, SHA-256 {got[:16]}..., "
                                 f"not {size} bytes, {digest[:16]}...")
        pending = store.client.pending_uploads(S3_BUCKET, peer.prefix)
        if pending:
            raise RunFailure(f"{peer.name}: multipart uploads left pending: {pending}")
        store.client.delete(S3_BUCKET, object_key)
        time.sleep(0.2)
        return {"time": elapsed, "cpu": cpu, "rss": rss, "store_cpu": store_cpu}

    # -- h: many small files into one running server

    def many_files(self, key, name, count, size):
        """h: count files of size bytes (distinct contents) sent into one running ./server, each sender timed from
        its start to its exit; then exactly count new files must be there, holding those contents (not timed)."""
        folder = os.path.join(self.work, "many")
        os.makedirs(folder, exist_ok=True)
        sources, digests = [], []
        for n in range(count):
            path = os.path.join(folder, f"f{n + 1:04d}")
            data = os.urandom(size)
            with open(path, "wb") as f:
                f.write(data)
            sources.append(path)
            digests.append(hashlib.sha256(data).hexdigest())
        expected = sorted(digests)
        # The senders are measured, so the receiver should cost as little as it can (as the discarding sink of a
        # and b does): on a disk file system, creating 1,000 files right after the bench deleted thousands is
        # slowed by the file system itself (ext4 passes over inodes freed in the last minutes, reading each), a
        # cost that is the same per file whichever sender, and that dwarfs the senders' differences. A tmpfs
        # (/dev/shm) has no such cost; --many-on-disk keeps the files in the bench's directory instead.
        tmpfs = None if self.args.many_on_disk else tmpfs_dir()
        under = tempfile.mkdtemp(prefix="ferry-bench-many-", dir=tmpfs) if tmpfs else None
        if under:
            self.scratch.append(under)
        log(f"  {name}: the server saves to {'a tmpfs, ' + under if under else 'the bench directory, ' + self.work}")
        server = self.ferry_server("ferry ./server", under=under)
        host = "127.0.0.1"
        loop = 'for f in "$@"; do nc -N ' + f"{host} {server.port}" + ' < "$f" || exit 1; done'
        client = os.path.join(ROOT, "client")
        peers = [
            (self.result(key, name, "ferry ./client", "ms", ferry=True), [client, host, str(server.port), *sources]),
            (self.result(key, name, f"ferry ./client --parallel {PARALLEL}", "ms", ferry=True),
             [client, "--parallel", str(PARALLEL), host, str(server.port), *sources]),
            (self.result(key, name, "sh loop of nc -N", "ms"), ["sh", "-c", loop, "sh", *sources]),
        ]
        for result, _ in peers:
            result.extra["server_saves_to"] = f"tmpfs {under}" if under else f"disk {self.work}"
        if not shutil.which("nc"):
            peers[2][0].skipped = "nc not found"
            log(f"  {name}: skipping {peers[2][0].peer}: nc not found")
        self.start(server)

        def run_one(cmd):
            server.check_alive()
            elapsed, _ = timed_process(cmd, deadline=max(RUN_DEADLINE, count * 0.5))
            # ferry closes each connection once its file is saved: every file is complete when the sender exits.
            got = uploads_in(server.dir)
            if len(got) != count:
                raise RunFailure(f"{cmd[0]}: {len(got)} files arrived, not {count}")
            if self.args.verify:
                received = []
                for entry in got:
                    with open(entry.path, "rb") as f:
                        received.append(hashlib.sha256(f.read()).hexdigest())
                if sorted(received) != expected:
                    raise RunFailure(f"{cmd[0]}: the {count} files arrived, but not with the contents sent")
            clear_dir(server.dir)
            return elapsed

        rounds(peers, run_one, self.args.runs, self.args.warmup, name)

    # -- the whole run

    def run(self):
        a = self.args
        quick = a.quick
        plan = [
            ("a", lambda: self.client_scenario("a", f"client {label(a.large)}", a.large)),
            ("b", lambda: self.client_scenario("b", f"client {label(a.small)}", a.small)),
            ("c", lambda: self.server_single("c", f"server {label(a.large)}", a.large)),
            ("i", lambda: self.server_cold("i", f"server cold {label(a.large)}", a.large)),
            ("d", lambda: self.server_concurrent("d", f"server {a.concurrent}x{label(a.concurrent_size)}",
                                                 a.concurrent, a.concurrent_size)),
            ("e", lambda: self.server_idle("e", a.idle_conns, a.settle, a.idle_seconds)),
            ("f", lambda: self.server_options("f", f"server {label(a.large)}, options", a.large)),
            ("g", lambda: self.server_s3("g", f"S3 {label(a.s3_size)}", a.s3_size)),
            ("h", lambda: self.many_files("h", f"{a.many} files of {label(a.many_size)}", a.many, a.many_size)),
        ]
        prebuild()
        for _, root in a.compare:
            prebuild(root)
        for key, scenario in plan:
            if key not in a.only:
                continue
            log(f"scenario {key}:")
            try:
                scenario()
            except RunFailure as e:
                log(f"  scenario {key} FAILED: {e}")
                self.result(key, f"scenario {key}", "(setup)", "ms").errors.append(str(e))
            finally:
                self.stop_all()
                if not quick:
                    time.sleep(0.5)

    def cleanup(self):
        self.stop_all()
        for directory in self.scratch:
            shutil.rmtree(directory, ignore_errors=True)
        if self.args.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def nc_label(flags):
    return f" (nc -l {' '.join(flags)})" if flags else ""


class S3Peer:
    """One receiver of scenario g: ferry's server (started once), or a pipeline nc -l | cmd (one per upload).

    prefix: where its object goes (ferry: the prefix it numbers under; a pipeline: the key itself)."""

    def __init__(self, name, kind, ferry=False, server=None, cmd=None, env=None, prefix="", nc=(), tool=None):
        self.name, self.kind, self.ferry, self.server = name, kind, ferry, server
        self.cmd, self.env, self.prefix, self.nc, self.tool = cmd, env, prefix, list(nc), tool


class LineReader:
    """Reads lines from a pipe with a deadline."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buffer = b""

    def readline(self, deadline):
        end = time.monotonic() + deadline
        while b"\n" not in self.buffer:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def label(size):
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def tmpfs_dir():
    """/dev/shm when it is a writable tmpfs, else None."""
    try:
        with open("/proc/mounts") as f:
            mounted = any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in f)
    except OSError:
        return None
    return "/dev/shm" if mounted and os.access("/dev/shm", os.W_OK) else None


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return True
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
        return True
    except (ValueError, OSError):
        if hard >= need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            return True
        return False


def is_binary(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def start_time(cmd, times=5):
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def pick_python():
    """The fastest-starting real python3 here: a version manager's shim (a script) is not the peer."""
    candidates = []
    for path in (sys.executable, shutil.which("python3"), "/usr/bin/python3", "/usr/local/bin/python3"):
        if path:
            real = os.path.realpath(path)
            if is_binary(real) and real not in candidates:
                candidates.append(real)
    if len(candidates) <= 1:
        return candidates[0] if candidates else sys.executable
    return min(candidates, key=lambda p: start_time([p, "-c", "pass"], 3))


def prebuild(root=ROOT):
    """Compiles ferry in root before anything is timed (./server with no arguments builds, then prints its usage)."""
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(root, "server")], cwd=root, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if "usage" not in proc.stderr:
        raise RunFailure(f"building ferry in {root} failed: {proc.stderr.strip()}")
    # The launchers train their start-up caches in the background (holding this lock): no round runs before them.
    lock = os.path.join(root, "target", "launcher", ".train-lock")
    if os.path.exists(lock):
        subprocess.run(["flock", "-w", "300", lock, "true"], stdin=subprocess.DEVNULL, timeout=330)
    log(f"ferry in {root} built or up to date ({time.perf_counter() - start:.1f} s)")


# ---------------------------------------------------------------- machine, summary, output

def sh(cmd, env=None):
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30, cwd=ROOT, env=env, shell=isinstance(cmd, str))
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({e})"


def find_java():
    """The JDK the launchers use (bin/ferry-lib.sh decides)."""
    return sh(["bash", "-c", f'FERRY_ROOT="{ROOT}"; . "{ROOT}/bin/ferry-lib.sh" && ferry_find_java && '
                             f'printf %s "$FERRY_JAVA_HOME"'])


def commit_of(root):
    """The short commit of the checkout at root, with "(modified)" when its product files differ from it."""
    return sh(f"cd '{root}' && git rev-parse --short HEAD 2>/dev/null && git status --porcelain -- src bin server"
              " client | head -n 1 | sed 's/.*/(modified)/'").replace("\n", " ")


def machine(python, compare=()):
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    java_home = find_java()
    java = sh([os.path.join(java_home, "bin", "java"), "-version"]).splitlines() if java_home.startswith("/") else []
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "kernel": platform.release(),
        "memory": mem,
        "jdk": f"{java_home} ({java[0] if java else '?'}; {java[1] if len(java) > 1 else ''})",
        "python_peer": f"{python} ({sh([python, '-c', 'import sys; print(sys.version.split()[0])'])})",
        "nc": sh("nc -h 2>&1 | head -n 1") if shutil.which("nc") else "not found",
        "socat": sh("socat -V | sed -n 2p") if shutil.which("socat") else "not found",
        "ferry_commit": commit_of(ROOT),
        **{f"ferry@{name}": f"{root} {commit_of(root)}" for name, root in compare},
        "loadavg_start": os.getloadavg(),
    }


# Issue 11's targets: (scenario key, unit of its rows, ferry's rows, the peers' rows, limit, text). Rows are chosen
# by the start of their peer name; where several match (socat at two buffer sizes, the Python receiver at several
# read sizes, ./client sequential and --parallel), the one with the lowest median counts.
TARGETS = [
    ("a", "ms", "ferry ./client", "nc -N", 1.15, "client 100 MiB <= 1.15x nc -N"),
    ("b", "ms", "ferry ./client", "python sendfile", 1.4, "client 500 B <= 1.4x the Python sender"),
    ("c", "ms", "ferry ./server", "socat", 1.0, "server 100 MiB (warm) <= 1.0x the faster socat"),
    ("c", "cpu-s/GiB", "ferry ./server", "socat", 1.0, "server CPU per GiB (warm) <= the lower socat's"),
    ("d", "ms", "ferry ./server", "python", 0.8, "server 32x8 MiB <= 0.8x the Python receiver"),
    ("e", "MiB", "ferry ./server", "python", 1.5, "idle RSS <= 1.5x the Python receiver"),
    ("h", "ms", "ferry ./client", "sh loop", 0.2, "many files: the faster ./client <= 0.2x the nc -N loop"),
]
# Printed beside the targets, not targets: the cold server against the faster socat, in time and CPU per GiB.
INFO = [
    ("i", "ms", "ferry ./server", "socat", "server cold (first upload after start) against the faster socat"),
    ("i", "cpu-s/GiB", "ferry ./server", "socat", "server CPU per GiB (cold) against the lower socat's"),
]
IDLE_CPU_LIMIT = 0.01  # "near zero": at most 1% of one core


def fastest(results, key, unit, prefix):
    rows = [r for r in results if r.key == key and r.unit == unit and r.peer.startswith(prefix)
            and r.median() is not None]
    return min(rows, key=Result.median, default=None)


def ratio_of(a, b):
    """a's median over b's; a zero b (CPU below one clock tick in a tiny run) gives 1 for a zero a, else inf."""
    if b.median() == 0:
        return 1.0 if a.median() == 0 else float("inf")
    return a.median() / b.median()


def summary(results, args):
    """The target line ("ferry/peer: ...") and the line of figures that are not targets; the ratios for the JSON."""
    lines, info, ratios = [], [], []
    for key, unit, ours, theirs, target, text in TARGETS:
        if key not in args.only:
            continue
        a, b = fastest(results, key, unit, ours), fastest(results, key, unit, prefix=theirs)
        if not a or not b:
            ratios.append({"target": text, "ratio": None, "met": None})
            lines.append(f"{text}: n/a")
            continue
        ratio = ratio_of(a, b)
        met = ratio <= target
        ratios.append({"target": text, "ratio": round(ratio, 3), "limit": target, "met": met,
                       "scenario": a.scenario, "ferry": a.peer, "peer": b.peer})
        lines.append(f"{a.scenario}: {a.peer if a.peer != ours else 'ferry'} {ratio:.3f}x {b.peer} "
                     f"(<= {target:g}x {'met' if met else 'MISSED'})")
    if "e" in args.only:
        cpu = next((r for r in results if r.key == "e" and r.scenario.startswith("idle CPU") and r.ferry), None)
        if cpu and cpu.median() is not None:
            share = cpu.median() / args.idle_seconds
            met = share <= IDLE_CPU_LIMIT
            ratios.append({"target": "idle CPU near zero (<= 1% of a core)", "share_of_core": round(share, 5),
                           "met": met})
            lines.append(f"idle CPU {share * 100:.2f}% of a core (median; near zero, <= 1%: "
                         f"{'met' if met else 'MISSED'})")
        else:
            ratios.append({"target": "idle CPU near zero (<= 1% of a core)", "met": None})
            lines.append("idle CPU: n/a")
    if "g" in args.only:
        # Scenario g's target: ferry's time at most that of the faster peer (rclone or aws, in whichever settings).
        text = "S3 upload <= 1.0x the faster of rclone and aws"
        timed = [r for r in results if r.key == "g" and r.unit == "ms" and r.median() is not None]
        ours = next((r for r in timed if r.ferry), None)
        theirs = min((r for r in timed if r.peer.startswith(("rclone", "aws"))), key=Result.median, default=None)
        if ours and theirs:
            ratio = ours.median() / theirs.median()
            ratios.append({"target": text, "ratio": round(ratio, 3), "limit": 1.0, "met": ratio <= 1.0,
                           "scenario": ours.scenario, "peer": theirs.peer})
            lines.append(f"{ours.scenario} {ratio:.2f}x {theirs.peer} (<= 1.0x {'met' if ratio <= 1.0 else 'MISSED'})")
        else:
            ratios.append({"target": text, "ratio": None, "met": None})
            lines.append(f"{text}: n/a")
    for key in ("c", "i"):  # CPU seconds per GiB received, every row (the target line has only the ratio)
        rows = [r for r in results if r.key == key and r.unit == "cpu-s/GiB" and r.median() is not None]
        if rows:
            info.append(f"{rows[0].scenario}: " + ", ".join(f"{r.peer} {fmt(r.median(), r.unit)}" for r in rows))
    for key, unit, ours, theirs, text in INFO:
        a, b = fastest(results, key, unit, ours), fastest(results, key, unit, theirs)
        if a and b:
            ratio = ratio_of(a, b)
            ratios.append({"info": text, "ratio": round(ratio, 3), "scenario": a.scenario, "peer": b.peer})
            info.append(f"{a.scenario}: ferry {ratio:.2f}x {b.peer}")
    floor = next((r for r in results if r.key == "c" and r.peer == FLOOR and r.median() is not None), None)
    ferry = fastest(results, "c", "ms", "ferry ./server")
    if floor:
        ratios.append({"info": "floor of c", "median": floor.median(),
                       "ferry_over_floor": round(ratio_of(ferry, floor), 3) if ferry else None})
        info.append(f"floor of c (nc -N into a discarding sink) {fmt(floor.median(), 'ms')}"
                    + (f", ferry {ratio_of(ferry, floor):.2f}x it" if ferry else ""))
    text = "ferry/peer: the targets of issue 11, medians of this run\n  " + "\n  ".join(lines)
    if info:
        text += "\nnot targets:\n  " + "\n  ".join(info)
    return text, ratios


def table(results):
    header = ("scenario", "peer", "median", "min", "max", "runs", "ferry/peer")
    rows = []
    for r in results:
        ferry = next((f for f in results if f.key == r.key and f.scenario == r.scenario and f.ferry), None)
        ratio = ""
        if not r.ferry and ferry and ferry.median() is not None and r.median():
            ratio = f"{ferry.median() / r.median():.2f}x"
        status = ""
        if r.skipped:
            status = f"skipped: {r.skipped}"
        elif r.errors:
            status = f"FAILED: {r.errors[0]}"
        rows.append((f"{r.key} {r.scenario}", r.peer, fmt(r.median(), r.unit),
                     fmt(min(r.samples, default=None), r.unit), fmt(max(r.samples, default=None), r.unit),
                     str(len(r.samples)), ratio, status))
    widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        out.append(("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1]).rstrip())
    return "\n".join(out)


# ---------------------------------------------------------------- launcher profile

def launcher_profile(args):
    """Times the pieces of ./client's start-up, each alone, alternating (medians of --runs rounds)."""
    prebuild()
    lib_env = f'FERRY_ROOT="{ROOT}"; . "{ROOT}/bin/ferry-lib.sh"'
    java_home = find_java()
    java = os.path.join(java_home, "bin", "java")
    jar = os.path.join(ROOT, "target", "launcher", "ferry.jar")
    python = args.python or pick_python()
    work = tempfile.mkdtemp(prefix="ferry-launcher-", dir=args.dir)
    small = os.path.join(work, "small.bin")
    with open(small, "wb") as f:
        f.write(os.urandom(args.small))
    port = free_port()
    sink = subprocess.Popen([python, os.path.join(BENCH, "sink.py"), str(port), "splice"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, start_new_session=True)
    flags = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData"]
    main = ["-cp", jar, "ferry.client.ClientMain", "127.0.0.1", str(port), small]
    archive = os.path.join(work, "ferry-client.jsa")
    jdk_env = dict(os.environ, JAVA_HOME=java_home)
    try:
        poll_until(lambda: listening(port), 30, 0.01)
        # An application class-data archive, made by one training run (what AppCDS would cost to adopt).
        subprocess.run([java, f"-XX:ArchiveClassesAtExit={archive}"] + flags + main, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        steps = [
            ("bash -c :", ["bash", "-c", ":"], None),
            ("bash: source bin/ferry-lib.sh", ["bash", "-c", lib_env], None),
            ("bash: + ferry_find_java", ["bash", "-c", f"{lib_env}; ferry_find_java"], None),
            ("bash: + ferry_find_java, JAVA_HOME set", ["bash", "-c", f"{lib_env}; ferry_find_java"], jdk_env),
            ("bash: + ferry_build (staleness find)", ["bash", "-c", f"{lib_env}; ferry_find_java; ferry_build"],
             None),
            ("java -version", [java, "-version"], None),
            ("java -version, client flags", [java] + flags + ["-version"], None),
            (f"java ClientMain {label(args.small)} (no launcher)", [java] + flags + main, None),
            (f"java ClientMain {label(args.small)} + AppCDS archive",
             [java] + flags + [f"-XX:SharedArchiveFile={archive}"] + main, None),
            (f"./client {label(args.small)}", [os.path.join(ROOT, "client"), "127.0.0.1", str(port), small], None),
            (f"./client {label(args.small)}, JAVA_HOME set", [os.path.join(ROOT, "client"), "127.0.0.1", str(port),
                                                              small], jdk_env),
            (f"python sendfile {label(args.small)}", [python, os.path.join(BENCH, "pysend.py"), "127.0.0.1",
                                                       str(port), small], None),
            ("python3 -c pass", [python, "-c", "pass"], None),
        ]
        if shutil.which("nc"):
            steps.append((f"nc -N {label(args.small)}", ["nc", "-N", "127.0.0.1", str(port)], None))
        samples = {name: [] for name, _, _ in steps}
        for n in range(args.warmup + args.runs):
            for name, cmd, env in steps:
                stdin = open(small, "rb") if cmd[0] == "nc" else subprocess.DEVNULL
                start = time.perf_counter()
                proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        cwd=ROOT, env=env)
                wait_exit(proc, RUN_DEADLINE)
                elapsed = time.perf_counter() - start
                if stdin is not subprocess.DEVNULL:
                    stdin.close()
                if n >= args.warmup:
                    samples[name].append(elapsed)
            log(f"  launcher round {n + 1}/{args.warmup + args.runs}")
        print(f"machine: load average {os.getloadavg()}, JDK {java_home}, python {python}")
        print(f"{'step':48} {'median':>9} {'min':>9} {'max':>9}")
        for name, values in samples.items():
            print(f"{name:48} {statistics.median(values) * 1000:7.1f}ms {min(values) * 1000:7.1f}ms "
                  f"{max(values) * 1000:7.1f}ms")
        # Bash imports no PS4 from the environment when run as root: set it inside.
        trace = subprocess.run(["bash", "-c", "PS4='+ ${EPOCHREALTIME} '; set -x; . \"$0\"", os.path.join(ROOT, "client")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT).stderr
        steps_timed, previous = [], None
        for line in trace.splitlines():
            parts = line.split(" ", 2)
            if len(parts) < 3 or not parts[0].startswith("+"):
                continue
            try:
                stamp = float(parts[1])
            except ValueError:
                continue
            if previous:
                steps_timed.append((stamp - previous[0], previous[1]))
            previous = (stamp, parts[0] + " " + parts[2])
        print("\nslowest lines of ./client (bash trace, so inflated; time until the next line):")
        for took, line in sorted(steps_timed, reverse=True)[:10]:
            print(f"  {took * 1000:6.1f} ms  {line[:100]}")
        total = sum(t for t, _ in steps_timed)
        print(f"  {total * 1000:6.1f} ms  total from the first traced line to the exec of java")
    finally:
        sink.kill()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


# ---------------------------------------------------------------- main

SCENARIOS = {"a": "client-large", "b": "client-small", "c": "server-large", "d": "server-concurrent",
             "e": "server-idle", "f": "server-options", "g": "server-s3", "h": "many-files", "i": "server-cold"}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, help="timed rounds per scenario (default 7; 1 with --quick)")
    p.add_argument("--warmup", type=int, help="untimed rounds first (default 1; 0 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="smoke form for CI: tiny sizes, 200 idle connections, one round; < 60 s")
    p.add_argument("--only", action="append", default=[],
                   help="scenarios to run: letters a-i or names (" + ", ".join(SCENARIOS.values())
                        + "); comma-separated or repeated")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--dir", help="where to put the temporary files (default $TMPDIR or /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the temporary files and server logs")
    p.add_argument("--sink", choices=("splice", "recv", "socat"), default="splice",
                   help="the discarding receiver of scenarios a and b (default splice, see README)")
    p.add_argument("--python", help="the python3 interpreter of the Python peers (default: fastest found)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip comparing received files with the source (done after timing)")
    p.add_argument("--py-read", type=int, action="append", metavar="BYTES",
                   help="the Python receiver's read size in c, i and d; repeatable, one row each (default: "
                        f"{PY_READ}, the fastest measured here; see README)")
    p.add_argument("--large", type=int, help="bytes for scenarios a, c and i (default 100 MiB)")
    p.add_argument("--small", type=int, help="bytes for scenario b (default 500)")
    p.add_argument("--concurrent", type=int, help="uploads at once in scenario d (default 32)")
    p.add_argument("--concurrent-size", type=int, help="bytes per upload in scenario d (default 8 MiB)")
    p.add_argument("--idle-conns", type=int, help="connections in scenario e (default 5000)")
    p.add_argument("--idle-seconds", type=float, help="CPU measuring window in scenario e (default 5)")
    p.add_argument("--settle", type=float, help="pause before measuring in scenario e (default 1 s)")
    p.add_argument("--many", type=int, help="files in scenario h (default 1000; 20 with --quick)")
    p.add_argument("--many-size", type=int, help="bytes per file in scenario h (default 4096)")
    p.add_argument("--many-on-disk", action="store_true",
                   help="scenario h: the server saves into the bench's directory, not a tmpfs (/dev/shm)")
    p.add_argument("--compare", action="append", default=[], metavar="[NAME=]DIR",
                   help="also measure the ferry build in the checkout DIR (its ./server, started as ./server is)"
                        " as the receiver ferry@NAME in scenarios c, i, d and e (NAME: DIR's last component by"
                        " default); repeatable")
    p.add_argument("--s3-size", type=int, help="bytes of scenario g's upload (default 1 GiB; 16 MiB with --quick)")
    p.add_argument("--s3-ferry", action="append", metavar="VAR=VALUE,...",
                   help="scenario g: ferry's server with these environment variables (FERRY_S3_PART_MIB=16, say);"
                        " repeatable, the first is the ferry row (default: ferry's defaults); off: no ferry row")
    p.add_argument("--s3-rclone", action="append", metavar="FLAGS",
                   help="scenario g: rclone rcat with these flags (one string); repeatable, one row each (default: "
                        + repr(" ".join(S3_RCLONE)) + ", the fastest measured here; see README)")
    p.add_argument("--s3-aws", action="append", metavar="KEY=VALUE,...",
                   help="scenario g: aws s3 cp with these settings of its config file's s3 section, and --flags;"
                        " repeatable, one row each (default: " + repr(",".join(f"{k}={v}" if v else k for k, v in
                                                                           S3_AWS.items())) + ")")
    p.add_argument("--s3-nc", action="append", metavar="FLAGS",
                   help="scenario g: extra flags of the peers' receiving nc -l; repeatable, each pipeline is"
                        " measured with each (default: " + repr(S3_NC) + ")")
    p.add_argument("--launcher", action="store_true",
                   help="instead: profile ./client's start-up (launcher steps, JVM, AppCDS; --runs, --small)")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "runs": 1 if quick else 7, "warmup": 0 if quick else 1,
        "large": MiB if quick else 100 * MiB, "small": 500, "concurrent": 32,
        "concurrent_size": 64 * 1024 if quick else 8 * MiB, "idle_conns": 200 if quick else 5000,
        "idle_seconds": 1.0 if quick else 5.0, "settle": 0.3 if quick else 1.0,
        "s3_size": 16 * MiB if quick else 1024 * MiB, "many": 20 if quick else 1000, "many_size": 4096,
        "py_read": [PY_READ],
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.runs < 1 or args.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    if any(r < 1 for r in args.py_read) or len(set(args.py_read)) != len(args.py_read):
        p.error("--py-read: sizes of 1 byte or more, each once")
    if args.many < 1 or args.many_size < 1:
        p.error("--many and --many-size must be >= 1")
    only = set()
    names = {v: k for k, v in SCENARIOS.items()}
    for item in ",".join(args.only).split(",") if args.only else SCENARIOS:
        item = item.strip()
        if item in SCENARIOS:
            only.add(item)
        elif item in names:
            only.add(names[item])
        else:
            p.error(f"unknown scenario {item!r}: use a-i or " + ", ".join(SCENARIOS.values()))
    args.only = only
    compare = []
    for item in args.compare:
        name, _, root = item.partition("=") if "=" in item and not os.path.isdir(item) else ("", "", item)
        root = os.path.abspath(root)
        name = name or os.path.basename(root.rstrip("/"))
        if not os.access(os.path.join(root, "server"), os.X_OK):
            p.error(f"--compare {item}: {root}/server is not an executable ferry launcher")
        if name in [n for n, _ in compare]:
            p.error(f"--compare {item}: the name {name!r} is taken; use NAME=DIR")
        compare.append((name, root))
    args.compare = compare

    def settings(text):
        pairs = {}
        for item in filter(None, (i.strip() for i in text.split(","))):
            name, _, value = item.partition("=")
            if not name.startswith("--") and not value:
                p.error(f"{text!r}: {item!r} is not NAME=VALUE")
            pairs[name] = value
        return pairs

    args.s3_ferry = [settings(t) for t in args.s3_ferry if t != "off"] if args.s3_ferry else [{}]
    args.s3_rclone = [shlex.split(t) for t in args.s3_rclone] if args.s3_rclone else [list(S3_RCLONE)]
    args.s3_aws = [settings(t) for t in args.s3_aws] if args.s3_aws else [dict(S3_AWS)]
    args.s3_nc = [shlex.split(t) for t in args.s3_nc] if args.s3_nc else [shlex.split(S3_NC)]
    return args


def main(argv):
    args = parse_args(argv)
    if args.launcher:
        return launcher_profile(args)
    bench = Bench(args)
    failed_to_start = None

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    began = time.perf_counter()
    info = machine(bench.python, args.compare)
    if "g" in args.only:
        info["rclone"] = sh("rclone version 2>&1 | head -n 1") if shutil.which("rclone") else "not found"
        info["awscli"] = sh([AWS, "--version"]) if os.access(AWS, os.X_OK) else "not found"
    log("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    try:
        bench.run()
    except RunFailure as e:
        failed_to_start = str(e)
        log(f"FAILED: {e}")
    except KeyboardInterrupt:
        log("interrupted")
        bench.cleanup()
        return 130
    finally:
        bench.cleanup()
    info["loadavg_end"] = os.getloadavg()
    info["seconds"] = round(time.perf_counter() - began, 1)
    line, ratios = summary(bench.results, args)
    print()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    print(f"rounds: {args.runs} timed (+{args.warmup} warm-up) per scenario, peers alternating; "
          f"sink for a/b: {args.sink}")
    print()
    print(table(bench.results))
    print()
    print(line)
    failures = list(dict.fromkeys(f"{r.key} {r.peer}: {e}" for r in bench.results for e in r.errors))
    if failed_to_start:
        failures.append(failed_to_start)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "config": {k: (sorted(v) if isinstance(v, set) else v)
                                                   for k, v in vars(args).items()},
                       "results": [r.as_json() for r in bench.results], "ratios": ratios,
                       "failures": failures}, f, indent=2)
    if failures:
        print(f"\n{len(failures)} failure(s):\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
