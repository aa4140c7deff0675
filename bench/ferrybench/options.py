"""ferry's benchmark: ./client and ./server side by side with nc, socat and
Python peers, in one run, alternating (A B C A B C ...), reporting medians.

    bench/run                  # full run: 7 timed rounds per scenario
    bench/run --quick          # smoke form for CI: tiny sizes, one round, < 60 s
    bench/run --only a,c --runs 11 --json bench.json
    bench/run --launcher       # where ./client's start-up time goes
    bench/run --only c,d,e --compare ../ferry-old   # two ferry builds side by side

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
  t  server over TLS: one 100 MiB upload from socat OPENSSL into a running receiver until the file is
     complete: ./server --tls-cert vs socat OPENSSL-LISTEN -b 256 KiB and 1 MiB (TLS 1.3, AES-128-GCM, P-256)
  u  client over TLS, 100 MiB into socat OPENSSL-LISTEN (discarding): ./client --cacert vs socat OPENSSL
  v  client over TLS, 500 B: the same senders (start-up)
  j  server, 2,000 senders trickling 1 KiB every 50 ms for 10 s: the server's CPU, ./server vs a
     one-thread Python epoll receiver

--compare [NAME=]DIR adds the ferry build in DIR (DIR/server) as one more
receiver, "ferry@NAME", in c, i, d, e and j, started as ./server is.

Exit code: 0 when everything ran (whether or not a target was met), 1 when a
run failed (a peer exited non-zero, a file arrived incomplete, a deadline
passed), 2 for bad arguments. A missing tool skips its peer with a message.
"""
import argparse
import os
import shlex

from ferrybench.peers import PY_READ, S3_AWS, S3_NC, S3_RCLONE
from ferrybench.system import MiB


SCENARIOS = {"a": "client-large", "b": "client-small", "c": "server-large", "d": "server-concurrent",
             "e": "server-idle", "f": "server-options", "g": "server-s3", "h": "many-files", "i": "server-cold",
             "j": "server-trickle", "t": "server-tls", "u": "client-tls", "v": "client-tls-small"}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, help="timed rounds per scenario (default 7; 1 with --quick)")
    p.add_argument("--warmup", type=int, help="untimed rounds first (default 1; 0 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="smoke form for CI: tiny sizes, 200 idle connections, one round; < 60 s")
    p.add_argument("--only", action="append", default=[],
                   help="scenarios to run: letters a-j, t-v or names (" + ", ".join(SCENARIOS.values())
                        + "); comma-separated or repeated")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--dir", help="where to put the temporary files (default $TMPDIR or /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the temporary files and server logs")
    p.add_argument("--sink", choices=("splice", "recv", "socat"), default="splice",
                   help="the discarding receiver of scenarios a and b (default splice, see bench/README.md)")
    p.add_argument("--python", help="the python3 interpreter of the Python peers (default: fastest found)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip comparing received files with the source (done after timing)")
    p.add_argument("--py-read", type=int, action="append", metavar="BYTES",
                   help="the Python receiver's read size in c, i and d; repeatable, one row each (default: "
                        f"{PY_READ}, the fastest measured here; see bench/README.md)")
    p.add_argument("--large", type=int, help="bytes for scenarios a, c, i, t and u (default 100 MiB)")
    p.add_argument("--small", type=int, help="bytes for scenarios b and v (default 500)")
    p.add_argument("--concurrent", type=int, help="uploads at once in scenario d (default 32)")
    p.add_argument("--concurrent-size", type=int, help="bytes per upload in scenario d (default 8 MiB)")
    p.add_argument("--idle-conns", type=int, help="connections in scenario e (default 5000)")
    p.add_argument("--idle-seconds", type=float, help="CPU measuring window in scenario e (default 5)")
    p.add_argument("--settle", type=float, help="pause before measuring in scenario e (default 1 s)")
    p.add_argument("--many", type=int, help="files in scenario h (default 1000; 20 with --quick)")
    p.add_argument("--many-size", type=int, help="bytes per file in scenario h (default 4096)")
    p.add_argument("--many-on-disk", action="store_true",
                   help="scenario h: the server saves into the bench's directory, not a tmpfs (/dev/shm)")
    p.add_argument("--trickle", type=int, help="senders in scenario j (default 2000; 50 with --quick)")
    p.add_argument("--trickle-seconds", type=float, help="how long they send in scenario j (default 10; 2 with --quick)")
    p.add_argument("--compare", action="append", default=[], metavar="[NAME=]DIR",
                   help="also measure the ferry build in the checkout DIR (its ./server, started as ./server is)"
                        " as the receiver ferry@NAME in scenarios c, i, d, e and j (NAME: DIR's last component by"
                        " default); repeatable")
    p.add_argument("--s3-size", type=int, help="bytes of scenario g's upload (default 1 GiB; 16 MiB with --quick)")
    p.add_argument("--s3-ferry", action="append", metavar="VAR=VALUE,...",
                   help="scenario g: ferry's server with these environment variables (FERRY_S3_PART_MIB=16, say);"
                        " repeatable, the first is the ferry row (default: ferry's defaults); off: no ferry row")
    p.add_argument("--s3-rclone", action="append", metavar="FLAGS",
                   help="scenario g: rclone rcat with these flags (one string); repeatable, one row each (default: "
                        + repr(" ".join(S3_RCLONE)) + ", the fastest measured here; see bench/README.md)")
    p.add_argument("--s3-aws", action="append", metavar="KEY=VALUE,...",
                   help="scenario g: aws s3 cp with these settings of its config file's s3 section, and --flags;"
                        " repeatable, one row each (default: " + repr(",".join(f"{k}={v}" if v else k for k, v in
                                                                           S3_AWS.items())) + ")")
    p.add_argument("--s3-nc", action="append", metavar="FLAGS",
                   help="scenario g: extra flags of the peers' receiving nc -l; repeatable, each pipeline is"
                        " measured with each (default: " + repr(S3_NC) + ")")
    p.add_argument("--tls-conscrypt", metavar="JAR",
                   help="scenarios t, u, v: also measure ferry with Conscrypt's TLS provider, loaded from this"
                        " jar (conscrypt-openjdk-uber), as rows of their own")
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
        "py_read": [PY_READ], "trickle": 50 if quick else 2000, "trickle_seconds": 2.0 if quick else 10.0,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.runs < 1 or args.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")
    if any(r < 1 for r in args.py_read) or len(set(args.py_read)) != len(args.py_read):
        p.error("--py-read: sizes of 1 byte or more, each once")
    if args.trickle < 1 or args.trickle_seconds <= 0:
        p.error("--trickle must be >= 1 and --trickle-seconds > 0")
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
            p.error(f"unknown scenario {item!r}: use a-j, t-v or " + ", ".join(SCENARIOS.values()))
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
    if args.tls_conscrypt:
        args.tls_conscrypt = os.path.abspath(args.tls_conscrypt)
        if not os.path.isfile(args.tls_conscrypt):
            p.error(f"--tls-conscrypt {args.tls_conscrypt}: no such file")

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
