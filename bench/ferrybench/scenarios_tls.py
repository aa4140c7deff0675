"""TLS (issue 19): one upload over TLS into a running receiver, ./server against socat OPENSSL-LISTEN (t), and
one file from each TLS sender, ./client against socat OPENSSL, into socat OPENSSL-LISTEN (u: large, v: small).

Every connection has one OpenSSL end (socat) that allows TLS 1.3 with TLS_AES_128_GCM_SHA256 only (an OpenSSL
configuration file of the bench's own, OPENSSL_CONF), so every row uses that suite; socat's own log line ("SSL
connection using ...", at -d -d) is checked for each connection. The certificate is one EC P-256 certificate made
here with openssl. With --tls-conscrypt JAR, ferry runs a second time as its own rows with Conscrypt's provider."""
import os
import shutil
import subprocess
import tempfile
import time

from ferrybench.peers import SOCAT_BUFFERS, Server
from ferrybench.results import rounds
from ferrybench.scenarios_upload import per_gib, saved
from ferrybench.system import (ROOT, RUN_DEADLINE, RunFailure, Skip, free_port, log, poll_until, tree,
                               tree_cpu_ticks, wait_exit)

SUITE = "TLS_AES_128_GCM_SHA256"
SENDER_BUFFER = 1048576  # socat -b of the TLS sender (t) and of socat's row as a sender (u)
# socat 1.7 has no option for TLS 1.3's suites (its cipher= is TLS 1.2's list): OpenSSL's configuration pins them.
OPENSSL_CONF = f"""openssl_conf = ferry_bench
[ferry_bench]
ssl_conf = ferry_bench_ssl
[ferry_bench_ssl]
system_default = ferry_bench_tls
[ferry_bench_tls]
MinProtocol = TLSv1.3
Ciphersuites = {SUITE}
"""
USING = f"SSL connection using {SUITE}".encode()


class Material:
    """The certificate (EC P-256, for the IP address 127.0.0.1), its key, and the OpenSSL configuration."""

    def __init__(self, work):
        if not shutil.which("openssl"):
            raise Skip("openssl not found")
        self.dir = os.path.join(work, "tls")
        os.makedirs(self.dir, exist_ok=True)
        self.cert, self.key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        self.conf = os.path.join(self.dir, "openssl.cnf")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(self.conf, "w") as f:
            f.write(OPENSSL_CONF)
        self.env = dict(os.environ, OPENSSL_CONF=self.conf)


def material(bench, key, name, peer):
    """The run's Material, made once; None (the row skipped, with a message) without socat or openssl."""
    if not hasattr(bench, "tls_material"):
        try:
            if not shutil.which("socat"):
                raise Skip("socat not found")
            bench.tls_material = Material(bench.work)
        except Skip as e:
            bench.tls_material = str(e)
    if isinstance(bench.tls_material, str):
        log(f"  {name}: skipped: {bench.tls_material}")
        bench.result(key, name, peer, "ms", ferry=True).skipped = bench.tls_material
        return None
    return bench.tls_material


def providers(bench):
    """(row name's first word, extra environment) of each ferry provider measured: the JDK's, and Conscrypt's if asked."""
    rows = [("ferry", {})]
    if bench.args.tls_conscrypt:
        rows.append(("ferry+Conscrypt", {"JAVA_TOOL_OPTIONS": f"-Dferry.tls.conscrypt={bench.args.tls_conscrypt}"
                                                          " --enable-native-access=ALL-UNNAMED"}))
    return rows


def socat_listen(port, buffer, m, out):
    return ["socat", "-d", "-d", "-u", "-b", str(buffer),
            f"OPENSSL-LISTEN:{port},reuseaddr,fork,cert={m.cert},key={m.key},verify=0", out]


def server_tls(bench, key, name, size):
    """t: one upload over TLS from socat into a running receiver, until the file is complete; its CPU."""
    m = material(bench, key, name, "ferry ./server")
    if m is None:
        return
    source = bench.source(size)
    candidates = []
    for who, env in providers(bench):
        port = free_port()
        directory = os.path.join(bench.work, f"ferry-tls-{port}")
        candidates.append((bench.result(key, name, f"{who} ./server", "ms", ferry=who == "ferry"),
                           Server(f"{who} ./server", [os.path.join(ROOT, "server"), "--tls-cert", m.cert,
                                                              "--tls-key", m.key, str(port), directory],
                                  port, directory, bench.logs, env)))
    for b in SOCAT_BUFFERS:
        port = free_port()
        directory = os.path.join(bench.work, f"socat-tls-{port}")
        server = Server(f"socat -b {b}", socat_listen(port, b, m, f"OPEN:{os.path.join(directory, 'upload.file')}"
                                                                   ",creat,trunc"),
                        port, directory, bench.logs, {"OPENSSL_CONF": m.conf}, wants_tools=("socat",))
        candidates.append((bench.result(key, name, f"socat -b {b}", "ms"), server))
    cpu_rows = bench.cpu_rows(key, name, candidates)
    peers = bench.start_servers(name, candidates)
    rounds(peers, lambda server: tls_upload(bench, m, server, source, size), bench.args.runs, bench.args.warmup,
           name, cpu_rows)
    per_gib(bench, key, f"{name}, server CPU per GiB", size, cpu_rows)


def tls_upload(bench, m, server, source, size):
    """One upload of source from socat (OPENSSL, -b 1 MiB) to server until its file is complete: (seconds, CPU
    seconds of the receiver's process tree)."""
    server.check_alive()
    pids = tree(server.proc.pid)
    ticks = tree_cpu_ticks(pids, reaped=True)
    cmd = ["socat", "-d", "-d", "-u", "-b", str(SENDER_BUFFER), f"FILE:{source}",
           f"OPENSSL:127.0.0.1:{server.port},verify=0"]
    start = time.perf_counter()
    run_checked(cmd, m.env, server.name)
    return saved(bench, server, source, size, start, pids, ticks, "the sender")


def run_checked(cmd, env, to):
    """Runs a socat sender to its exit; it must exit 0 and log the pinned suite. Returns (seconds, CPU seconds)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                                env=env)
        rc, cpu = wait_exit(proc, RUN_DEADLINE)
        elapsed = time.perf_counter() - start
        err.seek(0)
        text = err.read()
    if rc != 0:
        tail = [line for line in text.decode(errors="replace").splitlines() if " E " in line][-1:]
        raise RunFailure(f"socat to {to} exited {rc}: {tail[0] if tail else '(no message)'}")
    if USING not in text:
        raise RunFailure(f"socat to {to}: the connection did not use {SUITE}")
    return elapsed, cpu


def client_tls(bench, key, name, size):
    """u, v: one file over TLS from each sender (./client --cacert, socat OPENSSL) into socat OPENSSL-LISTEN,
    which discards it; each sender timed from its start to its exit, with its CPU. ./client exits 0 only once the
    receiver's close_notify came after its own; socat's log must show the pinned suite for every connection."""
    m = material(bench, key, name, "ferry ./client")
    if m is None:
        return
    source = bench.source(size)
    port = free_port()
    receiver = Server("socat tls sink", socat_listen(port, SOCAT_BUFFERS[0], m, "OPEN:/dev/null"), port, None,
                      bench.logs, {"OPENSSL_CONF": m.conf})
    bench.start(receiver)
    senders = []
    for who, env in providers(bench):
        senders.append((bench.result(key, name, f"{who} ./client", "ms", ferry=who == "ferry"),
                        ([os.path.join(ROOT, "client"), "--cacert", m.cert, "127.0.0.1", str(port), source],
                         dict(os.environ, **env))))
    senders.append((bench.result(key, name, f"socat -b {SENDER_BUFFER}", "ms"),
                    (["socat", "-u", "-b", str(SENDER_BUFFER), f"FILE:{source}",
                      f"OPENSSL:127.0.0.1:{port},cafile={m.cert}"], m.env)))
    cpu_rows = bench.cpu_rows(key, name, senders, "sender CPU")

    def run_one(sender):
        cmd, env = sender
        receiver.check_alive()
        before = connections_using(receiver)
        elapsed, cpu = run_sender(cmd, env)
        if not poll_until(lambda: connections_using(receiver) > before, 10, 0.005):
            raise RunFailure(f"{cmd[0]}: the receiver's log shows no connection using {SUITE}")
        time.sleep(0.05)
        return elapsed, cpu

    rounds(senders, run_one, bench.args.runs, bench.args.warmup, name, cpu_rows)
    if size >= 1 << 20:
        per_gib(bench, key, f"{name}, sender CPU per GiB", size, cpu_rows)


def run_sender(cmd, env):
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                                env=env)
        rc, cpu = wait_exit(proc, RUN_DEADLINE)
        elapsed = time.perf_counter() - start
        if rc != 0:
            err.seek(0)
            lines = [line for line in err.read().decode(errors="replace").splitlines() if "ERROR" in line
                     or " E " in line]
            raise RunFailure(f"{os.path.basename(cmd[0])} exited {rc}: {lines[-1] if lines else '(no message)'}")
    return elapsed, cpu


def connections_using(receiver):
    with open(receiver.log_path, "rb") as f:
        return f.read().count(USING)
