"""The peers: their settings (the fastest measured, see bench/README.md), the receiver processes that the
scenarios start (ferry's ./server, socat, the Python receiver, the discarding sink), the nc -N sender, the Python
interpreter of the Python peers, and ferry's build."""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

import pyrecv
from ferrybench.system import (ROOT, START_DEADLINE, LineReader, RunFailure, Skip, label, listening, log,
                               poll_until, sh, wait_exit)

S3_BUCKET = "ferry-bench"
AWS = "/usr/bin/aws"  # Debian's awscli 2: a version manager's `aws` earlier on the PATH is not the peer
# The peers' settings, the fastest measured (bench/README.md says what was tried):
S3_RCLONE = ["--s3-chunk-size", "32M"]  # rclone rcat flags
S3_AWS = {}  # the s3 section of aws's config file (its defaults were fastest); keys with -- are flags of aws s3 cp
S3_NC = ""  # flags of the peers' nc -l
PY_READ = pyrecv.READ_SIZE  # the Python receiver's recv_into size, the fastest measured (bench/README.md)
SOCAT_BUFFERS = (262144, 1048576)  # socat -b in c and i: both rows are measured, the faster one counts
PARALLEL = 8  # ./client --parallel in h


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


def nc_send(port, source, deadline, to):
    """nc -N 127.0.0.1 PORT < source, the sender of c, i, f and g, until it exits; a non-zero exit is a RunFailure."""
    with open(source, "rb") as stdin:
        proc = subprocess.Popen(["nc", "-N", "127.0.0.1", str(port)], stdin=stdin,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rc, _ = wait_exit(proc, deadline)
    if rc != 0:
        raise RunFailure(f"nc -N to {to} exited {rc}: {proc.stderr.read().decode().strip()}")
    proc.stderr.close()


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


def find_java():
    """The JDK the launchers use (bin/ferry-lib.sh decides)."""
    return sh(["bash", "-c", f'FERRY_ROOT="{ROOT}"; . "{ROOT}/bin/ferry-lib.sh" && ferry_find_java && '
                             f'printf %s "$FERRY_JAVA_HOME"'])
