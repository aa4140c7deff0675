"""The runner: one run of the chosen scenarios (bench/run), from the options to the table, the target lines and
the JSON, and the machine it ran on."""
import filecmp
import json
import os
import platform
import shutil
import signal
import tempfile
import time

from ferrybench import scenarios_client as client
from ferrybench import scenarios_load as load
from ferrybench import scenarios_s3 as s3
from ferrybench import scenarios_tls as tls
from ferrybench import scenarios_trickle as trickle
from ferrybench import scenarios_upload as upload
from ferrybench.launcher import launcher_profile
from ferrybench.options import parse_args
from ferrybench.peers import AWS, PY_READ, Server, file_list, find_java, pick_python, prebuild, py_name
from ferrybench.results import Result, summary, table
from ferrybench.system import BENCH, MiB, ROOT, RunFailure, Skip, free_port, label, log, sh


class Bench:
    """One run: its temporary directory, the receivers it started (all stopped after each scenario), the results,
    and the helpers that every scenario uses. The scenarios are functions of a Bench, in the scenarios_ modules."""

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

    def cpu_rows(self, key, scenario, candidates, what="server CPU"):
        """A row of CPU for each candidate (result, ...), after all of them: {result: its CPU row}."""
        return {r: self.result(key, f"{scenario}, {what}", r.peer, "cpu-ms", ferry=r.ferry) for r, _ in candidates}

    # -- the whole run

    def run(self):
        a = self.args
        quick = a.quick
        plan = [
            ("a", lambda: client.client_scenario(self, "a", f"client {label(a.large)}", a.large)),
            ("b", lambda: client.client_scenario(self, "b", f"client {label(a.small)}", a.small)),
            ("c", lambda: upload.server_single(self, "c", f"server {label(a.large)}", a.large)),
            ("i", lambda: upload.server_cold(self, "i", f"server cold {label(a.large)}", a.large)),
            ("d", lambda: load.server_concurrent(self, "d", f"server {a.concurrent}x{label(a.concurrent_size)}",
                                                 a.concurrent, a.concurrent_size)),
            ("e", lambda: load.server_idle(self, "e", a.idle_conns, a.settle, a.idle_seconds)),
            ("f", lambda: upload.server_options(self, "f", f"server {label(a.large)}, options", a.large)),
            ("g", lambda: s3.server_s3(self, "g", f"S3 {label(a.s3_size)}", a.s3_size)),
            ("h", lambda: client.many_files(self, "h", f"{a.many} files of {label(a.many_size)}", a.many,
                                            a.many_size)),
            ("j", lambda: trickle.server_trickle(self, "j", a.trickle, a.trickle_seconds)),
            ("t", lambda: tls.server_tls(self, "t", f"server TLS {label(a.large)}", a.large)),
            ("u", lambda: tls.client_tls(self, "u", f"client TLS {label(a.large)}", a.large)),
            ("v", lambda: tls.client_tls(self, "v", f"client TLS {label(a.small)}", a.small)),
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
