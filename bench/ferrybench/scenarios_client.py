"""The client's scenarios: one file from each sender to a discarding sink (a: large, b: small), and many files
into one running ./server (h)."""
import hashlib
import os
import shutil
import subprocess
import tempfile
import time

from ferrybench.peers import PARALLEL, clear_dir, find_java, uploads_in
from ferrybench.results import rounds
from ferrybench.system import (BENCH, ROOT, RUN_DEADLINE, LineReader, RunFailure, free_port, listening, log,
                               poll_until, timed_process, tmpfs_dir)


def client_scenario(bench, key, name, size):
    """a, b: one file of size bytes from each sender (./client, nc -N, Python's sendfile) to a discarding sink, each
    timed from its start to its exit, with its CPU; the sink must report every byte."""
    source = bench.source(size)
    port = free_port()
    sink_mode = bench.args.sink
    if sink_mode == "socat":
        sink_cmd = ["socat", "-u", "-b", "262144", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                    "/dev/null"]
    else:
        sink_cmd = [bench.python, os.path.join(BENCH, "sink.py"), str(port), sink_mode]
    sink = subprocess.Popen(sink_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None,
                            start_new_session=True)
    reader = LineReader(sink.stdout) if sink_mode != "socat" else None
    try:
        if not poll_until(lambda: listening(port) or sink.poll() is not None, 30, 0.01) or sink.poll() is not None:
            raise RunFailure(f"sink {' '.join(sink_cmd)} did not start")
        host = "127.0.0.1"
        peers = [
            (bench.result(key, name, "ferry ./client", "ms", ferry=True),
             [os.path.join(ROOT, "client"), host, str(port), source]),
            (bench.result(key, name, "nc -N", "ms"), ["nc", "-N", host, str(port)]),
            (bench.result(key, name, "python sendfile", "ms"),
             [bench.python, os.path.join(BENCH, "pysend.py"), host, str(port), source]),
        ]
        if key == "b":
            peers += java_floor_peers(bench, key, name, port, source, reader)
        for result, cmd in peers:
            if not shutil.which(cmd[0]):
                result.skipped = f"{cmd[0]} not found"
                log(f"  {name}: skipping {result.peer}: {result.skipped}")
        cpu_rows = bench.cpu_rows(key, name, peers, "sender CPU")

        def run_one(cmd):
            stdin = source if cmd[0] == "nc" else None
            elapsed, cpu = timed_process(cmd, stdin_path=stdin)
            if reader is not None and cmd[-1] != EMPTY_MAIN:
                line = reader.readline(10)
                if line is None:
                    raise RunFailure(f"{cmd[0]}: the sink reported nothing within 10 s")
                if int(line) != size:
                    raise RunFailure(f"{cmd[0]}: the sink received {line.strip()} of {size} bytes")
            time.sleep(0.05)
            return elapsed, cpu

        rounds(peers, run_one, bench.args.runs, bench.args.warmup, name, cpu_rows)
    finally:
        sink.kill()
        sink.wait()


EMPTY_MAIN = "Empty"
MINIMAL = "MinimalSender"
EMPTY_FLAGS = {"default flags": [], "the client's flags": ["-XX:+UseSerialGC", "-Xint", "-XX:-UsePerfData"]}


def java_floor_peers(bench, key, name, port, source, reader):
    """b's floors (issue 20). The target's: an empty main on the JDK the launchers use, with an AOT cache (a CDS
    archive before JDK 25) trained for it, once with the JVM's default flags and once with ./client's; it sends
    nothing. Beside it, not a target: bench/MinimalSender.java, the least a Java sender can do (blocking connect,
    write, half-close, read to the end), with ./client's flags and a cache trained by one upload into the sink."""
    java_home = find_java()
    work = os.path.join(bench.work, "java-floor")
    classes = os.path.join(work, "classes")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, f"{EMPTY_MAIN}.java"), "w") as f:
        f.write(f"public class {EMPTY_MAIN} {{ public static void main(String[] args) {{ }} }}\n")
    subprocess.run([os.path.join(java_home, "bin", "javac"), "-d", classes, os.path.join(work, f"{EMPTY_MAIN}.java"),
                    os.path.join(BENCH, f"{MINIMAL}.java")], check=True, stdin=subprocess.DEVNULL)
    # From a jar, as ./client runs: the JVM archives no class from a directory on the class path.
    jar = os.path.join(work, "floor.jar")
    subprocess.run([os.path.join(java_home, "bin", "jar"), "--create", "--file", jar, "-C", classes, "."],
                   check=True, stdin=subprocess.DEVNULL)
    java = os.path.join(java_home, "bin", "java")
    feature = int(subprocess.run([java, "-XshowSettings:properties", "-version"], capture_output=True, text=True)
                  .stderr.split("java.specification.version = ")[1].split()[0])
    runs = [(f"empty JVM main, AOT cache, {what}", flags, [EMPTY_MAIN]) for what, flags in EMPTY_FLAGS.items()]
    runs.append(("Java minimal sender, AOT cache, the client's flags", EMPTY_FLAGS["the client's flags"],
                 [MINIMAL, "127.0.0.1", str(port), source]))
    peers = []
    for n, (peer, flags, main) in enumerate(runs):
        cache = os.path.join(work, f"floor{n}.cache")
        train = f"-XX:AOTCacheOutput={cache}" if feature >= 25 else f"-XX:ArchiveClassesAtExit={cache}"
        use = ([f"-XX:AOTCache={cache}", "-Xlog:aot=off,cds=off"] if feature >= 25
               else [f"-XX:SharedArchiveFile={cache}", "-Xlog:cds=off"])
        subprocess.run([java, train, *flags, "-cp", jar, *main], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if main[0] == MINIMAL and reader is not None and reader.readline(10) is None:
            raise RunFailure("the minimal Java sender's training upload was not reported by the sink")
        peers.append((bench.result(key, name, peer, "ms"), [java, *use, *flags, "-cp", jar, *main]))
    return peers


def many_files(bench, key, name, count, size):
    """h: count files of size bytes (distinct contents) sent into one running ./server, each sender timed from
    its start to its exit; then exactly count new files must be there, holding those contents (not timed)."""
    folder = os.path.join(bench.work, "many")
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
    tmpfs = None if bench.args.many_on_disk else tmpfs_dir()
    under = tempfile.mkdtemp(prefix="ferry-bench-many-", dir=tmpfs) if tmpfs else None
    if under:
        bench.scratch.append(under)
    log(f"  {name}: the server saves to {'a tmpfs, ' + under if under else 'the bench directory, ' + bench.work}")
    server = bench.ferry_server("ferry ./server", under=under)
    host = "127.0.0.1"
    loop = 'for f in "$@"; do nc -N ' + f"{host} {server.port}" + ' < "$f" || exit 1; done'
    client = os.path.join(ROOT, "client")
    peers = [
        (bench.result(key, name, "ferry ./client", "ms", ferry=True), [client, host, str(server.port), *sources]),
        (bench.result(key, name, f"ferry ./client --parallel {PARALLEL}", "ms", ferry=True),
         [client, "--parallel", str(PARALLEL), host, str(server.port), *sources]),
        (bench.result(key, name, "sh loop of nc -N", "ms"), ["sh", "-c", loop, "sh", *sources]),
    ]
    for result, _ in peers:
        result.extra["server_saves_to"] = f"tmpfs {under}" if under else f"disk {bench.work}"
    if not shutil.which("nc"):
        peers[2][0].skipped = "nc not found"
        log(f"  {name}: skipping {peers[2][0].peer}: nc not found")
    bench.start(server)

    def run_one(cmd):
        server.check_alive()
        elapsed, _ = timed_process(cmd, deadline=max(RUN_DEADLINE, count * 0.5))
        # ferry closes each connection once its file is saved: every file is complete when the sender exits.
        got = uploads_in(server.dir)
        if len(got) != count:
            raise RunFailure(f"{cmd[0]}: {len(got)} files arrived, not {count}")
        if bench.args.verify:
            received = []
            for entry in got:
                with open(entry.path, "rb") as f:
                    received.append(hashlib.sha256(f.read()).hexdigest())
            if sorted(received) != expected:
                raise RunFailure(f"{cmd[0]}: the {count} files arrived, but not with the contents sent")
        clear_dir(server.dir)
        return elapsed

    rounds(peers, run_one, bench.args.runs, bench.args.warmup, name)
