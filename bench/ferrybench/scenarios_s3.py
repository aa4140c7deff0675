"""Saving to S3 (g): one upload from nc -N into s3proxy, through ferry's ./server and through the pipelines a user
would build instead (nc -l | rclone rcat, nc -l | aws s3 cp -)."""
import os
import shutil
import subprocess
import tempfile
import time

import s3store
from ferrybench.peers import AWS, S3_BUCKET, find_java, nc_send
from ferrybench.results import alternate, fmt
from ferrybench.system import (CLK_TCK, ROOT, S3_DEADLINE, START_DEADLINE, RunFailure, Skip, blocked_reading_stdin,
                               file_sha256, free_port, listening, log, poll_until, read_tail, sum_over, tree,
                               tree_cpu_ticks, vm_hwm, wait_exit, wait_usage)


def server_s3(bench, key, name, size):
    """g: one upload of size bytes from nc -N into an S3 store, through ferry and through the tools a user
    would pipe nc -l into instead, each round until the object is complete; the object is checked
    (listing, size, SHA-256, no multipart upload left) and deleted after timing."""
    source = bench.source(size)
    if not shutil.which("nc"):
        log(f"  {name}: skipped: nc (the sender and the peers' receiver) not found")
        bench.result(key, name, "ferry ./server", "ms", ferry=True).skipped = "nc not found"
        return
    digest = file_sha256(source)
    store = s3store.S3Proxy(ROOT, find_java(), os.path.join(bench.work, "store"), free_port(), log)
    bench.stores.append(store)
    try:
        store.start(S3_BUCKET)
    except s3store.S3Error as e:
        raise RunFailure(f"s3proxy: {e}")
    log(f"  s3proxy {store.endpoint} (filesystem-nio2 in {store.dir}), bucket {S3_BUCKET}")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    peers = []
    for n, settings in enumerate(bench.args.s3_ferry):
        ferry = n == 0
        env = dict(base, **store.env(), **settings)
        label_ = "ferry ./server" + "".join(f" {k}={v}" for k, v in settings.items())
        server = bench.ferry_server(label_, env, url=f"s3://{S3_BUCKET}/ferry{n}")
        server.replace_env = True
        peers.append(S3Peer(label_, "ferry", ferry=ferry, server=server, prefix=f"ferry{n}/"))
    empty = os.path.join(bench.work, "empty.conf")
    open(empty, "w").close()
    for n, flags in enumerate(bench.args.s3_rclone):
        env = dict(base, RCLONE_CONFIG=empty, RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
                   RCLONE_CONFIG_BENCH_ENDPOINT=store.endpoint, RCLONE_CONFIG_BENCH_REGION=s3store.REGION,
                   RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=s3store.ACCESS_KEY,
                   RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=s3store.SECRET_KEY,
                   RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true")
        for m, nc in enumerate(bench.args.s3_nc):
            object_key = f"rclone{n}-{m}/upload.bin"
            cmd = ["rclone", "rcat", "-q", *flags, f"bench:{S3_BUCKET}/{object_key}"]
            peers.append(S3Peer("rclone rcat" + "".join(f" {f}" for f in flags) + nc_label(nc), "rclone",
                                cmd=cmd, env=env, prefix=object_key, nc=nc, tool="rclone"))
    for n, settings in enumerate(bench.args.s3_aws):
        conf = os.path.join(bench.work, f"aws-{n}.conf")
        flags = [k for k in settings if k.startswith("--")]
        s3_settings = {k: v for k, v in settings.items() if not k.startswith("--")}
        with open(conf, "w") as f:
            f.write(f"[default]\nregion = {s3store.REGION}\n")
            if s3_settings:
                f.write("s3 =\n" + "".join(f"  {k} = {v}\n" for k, v in s3_settings.items()))
        env = dict(base, AWS_CONFIG_FILE=conf, AWS_SHARED_CREDENTIALS_FILE=empty, AWS_PAGER="",
                   AWS_ACCESS_KEY_ID=s3store.ACCESS_KEY, AWS_SECRET_ACCESS_KEY=s3store.SECRET_KEY)
        for m, nc in enumerate(bench.args.s3_nc):
            object_key = f"aws{n}-{m}/upload.bin"
            # awscli 2.9 ignores AWS_ENDPOINT_URL (2.13 and later read it): the endpoint is an option.
            cmd = [AWS, "s3", "cp", *flags, "-", f"s3://{S3_BUCKET}/{object_key}", "--endpoint-url",
                   store.endpoint]
            peers.append(S3Peer("aws s3 cp" + "".join(f" {k}={v}" if v else f" {k}" for k, v in settings.items())
                                + nc_label(nc), "aws", cmd=cmd, env=env, prefix=object_key, nc=nc, tool=AWS))
    rows = {}
    for peer in peers:
        rows[peer] = (bench.result(key, name, peer.name, "ms", ferry=peer.ferry),
                      bench.result(key, f"{name}, receiver CPU", peer.name, "cpu-ms", ferry=peer.ferry),
                      bench.result(key, f"{name}, receiver peak RSS", peer.name, "MiB", ferry=peer.ferry),
                      bench.result(key, f"{name}, s3proxy CPU", peer.name, "cpu-ms", ferry=peer.ferry))
    active = []
    for peer in peers:
        try:
            if peer.server:
                bench.start(peer.server)
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

    def record(peer, m, recording):
        if recording:
            for row, value in zip(rows[peer], (m["time"], m["cpu"], m["rss"], m["store_cpu"])):
                row.samples.append(value)
        return (f"{peer.name} {fmt(m['time'], 'ms')} (CPU {fmt(m['cpu'], 'cpu-ms')}, "
                f"RSS {fmt(m['rss'], 'MiB')}, s3proxy CPU {fmt(m['store_cpu'], 'cpu-ms')})")

    def failed(peer, e):
        for row in rows[peer]:
            row.errors.append(str(e))
        return f"{peer.name}: FAILED ({e})"

    alternate(active, lambda peer: s3_upload(bench, peer, store, source, size, digest), bench.args.runs,
              bench.args.warmup, name, record, failed, "; ", (RunFailure, s3store.S3Error, OSError))


def s3_upload(bench, peer, store, source, size, digest):
    """One upload to S3 through peer, timed from the sender's start until the object is complete."""
    store.check_alive()
    store_pids = tree(store.proc.pid)
    store_ticks = tree_cpu_ticks(store_pids)
    if peer.server:
        peer.server.check_alive()
        pids = tree(peer.server.proc.pid)
        ticks = tree_cpu_ticks(pids)
        start = time.perf_counter()
        nc_send(peer.server.port, source, S3_DEADLINE, peer.name)
        elapsed = time.perf_counter() - start
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
                                        env=peer.env, cwd=bench.work)
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
    if bench.args.verify:
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


def nc_label(flags):
    return f" (nc -l {' '.join(flags)})" if flags else ""


class S3Peer:
    """One receiver of scenario g: ferry's server (started once), or a pipeline nc -l | cmd (one per upload).

    prefix: where its object goes (ferry: the prefix it numbers under; a pipeline: the key itself)."""

    def __init__(self, name, kind, ferry=False, server=None, cmd=None, env=None, prefix="", nc=(), tool=None):
        self.name, self.kind, self.ferry, self.server = name, kind, ferry, server
        self.cmd, self.env, self.prefix, self.nc, self.tool = cmd, env, prefix, list(nc), tool
