"""bench/run --launcher: where ./client's start-up time goes, piece by piece."""
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from ferrybench.peers import find_java, pick_python, prebuild
from ferrybench.system import BENCH, ROOT, RUN_DEADLINE, free_port, label, listening, log, poll_until, wait_exit


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
        trace = subprocess.run(["bash", "-c", "PS4='+ ${EPOCHREALTIME} '; set -x; . \"$0\"",
                                os.path.join(ROOT, "client")],
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
