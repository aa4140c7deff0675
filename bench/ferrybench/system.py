"""What every part of the benchmark shares: the paths, units and deadlines, the two exceptions, and the
processes, sockets and /proc readings that the runner and every scenario measure with."""
import hashlib
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/, where the peers' scripts are
ROOT = os.path.dirname(BENCH)
MiB = 1 << 20
GiB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Deadlines: generous, but nothing waits forever.
START_DEADLINE = 120.0  # a server's first start compiles ferry
RUN_DEADLINE = 120.0  # one sender, one upload
SETTLE_DEADLINE = 60.0
S3_DEADLINE = 600.0  # one upload of scenario g (1 GiB) through a receiver and s3proxy


class RunFailure(Exception):
    """A run that did not complete: this makes the benchmark exit non-zero."""


class Skip(Exception):
    """A peer that cannot run here (a missing tool): reported, not a failure."""


def log(message):
    print(message, file=sys.stderr, flush=True)


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


def sh(cmd, env=None):
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30, cwd=ROOT, env=env, shell=isinstance(cmd, str))
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({e})"
