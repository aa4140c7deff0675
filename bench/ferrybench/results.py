"""The results: one row per scenario, peer and measure (Result), the alternating rounds that fill them, and
what the run prints and writes from them: the table, the targets of issues 11, 19 and 20 and the figures that are not targets."""
import statistics

from ferrybench.peers import FLOOR
from ferrybench.system import MiB, RunFailure, log


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


def alternate(peers, measure, total_rounds, warmup, label, record, failed, separator=", ", catch=(RunFailure,)):
    """Measures every peer once per round, in order (A B C A B C ...), and logs each round on one line.

    record(peer, measurement, recording) keeps a measurement (recording is False in the first warmup rounds,
    which are not counted) and returns its text for the log line; failed(peer, error) records an error of a
    type in catch and returns its text. A peer that fails is dropped from the remaining rounds.
    """
    active = list(peers)
    for n in range(warmup + total_rounds):
        recording = n >= warmup
        line = []
        for peer in list(active):
            try:
                measured = measure(peer)
            except catch as e:
                active.remove(peer)
                line.append(failed(peer, e))
                continue
            line.append(record(peer, measured, recording))
        tag = "warm-up" if not recording else f"round {n - warmup + 1}/{total_rounds}"
        log(f"  {label} {tag}: " + separator.join(line))
        if not active:
            break


def rounds(peers, run_one, total_rounds, warmup, label, cpu_rows=None):
    """Runs every peer once per round, in order (A B C A B C ...); the first warmup rounds are not recorded.

    peers: list of (result, state) where run_one(state) returns one sample, or (sample, CPU seconds)
    when cpu_rows maps the result to a row for the CPU. A peer that fails is dropped from the
    remaining rounds; its error is recorded.
    """
    cpu_rows = cpu_rows or {}

    def record(peer, value, recording):
        result, _ = peer
        cpu = None
        if isinstance(value, tuple):
            value, cpu = value
        if recording:
            result.samples.append(value)
            if cpu is not None and result in cpu_rows:
                cpu_rows[result].samples.append(cpu)
        return f"{result.peer} {fmt(value, result.unit)}" + (f" (CPU {fmt(cpu, 'cpu-ms')})" if cpu else "")

    def failed(peer, error):
        result, _ = peer
        for row in (result, cpu_rows.get(result)):
            if row is not None:
                row.errors.append(str(error))
        return f"{result.peer}: FAILED ({error})"

    alternate([(r, s) for r, s in peers if r.skipped is None and not r.errors], lambda peer: run_one(peer[1]),
              total_rounds, warmup, label, record, failed)
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


# Issue 11's targets: (scenario key, unit of its rows, ferry's rows, the peers' rows, limit, text). Rows are chosen
# by the start of their peer name; where several match (socat at two buffer sizes, the Python receiver at several
# read sizes, ./client sequential and --parallel), the one with the lowest median counts.
TARGETS = [
    ("a", "ms", "ferry ./client", "nc -N", 1.15, "client 100 MiB <= 1.15x nc -N"),
    ("b", "ms", "ferry ./client", "empty JVM main", 1.3, "client 500 B <= 1.3x an empty JVM main with an AOT cache"),
    ("c", "ms", "ferry ./server", "socat", 1.0, "server 100 MiB (warm) <= 1.0x the faster socat"),
    ("c", "cpu-s/GiB", "ferry ./server", "socat", 1.0, "server CPU per GiB (warm) <= the lower socat's"),
    ("d", "ms", "ferry ./server", "python", 0.8, "server 32x8 MiB <= 0.8x the Python receiver"),
    ("e", "MiB", "ferry ./server", "python", 1.5, "idle RSS <= 1.5x the Python receiver"),
    ("h", "ms", "ferry ./client", "sh loop", 0.2, "many files: the faster ./client <= 0.2x the nc -N loop"),
    # Issue 19's: TLS in each direction at most socat's, in time and CPU per GiB.
    ("t", "ms", "ferry ./server", "socat", 1.0, "server TLS 100 MiB <= 1.0x the faster socat"),
    ("t", "cpu-s/GiB", "ferry ./server", "socat", 1.0, "server TLS CPU per GiB <= the lower socat's"),
    ("u", "ms", "ferry ./client", "socat", 1.0, "client TLS 100 MiB <= 1.0x socat"),
    ("u", "cpu-s/GiB", "ferry ./client", "socat", 1.0, "client TLS CPU per GiB <= socat's"),
    ("j", "cpu-ms", "ferry ./server", "python epoll", 0.5, "trickle: server CPU <= 0.5x the Python epoll loop"),
]
# Printed beside the targets, not targets: the cold server against the faster socat, in time and CPU per GiB.
INFO = [
    ("i", "ms", "ferry ./server", "socat", "server cold (first upload after start) against the faster socat"),
    ("i", "cpu-s/GiB", "ferry ./server", "socat", "server CPU per GiB (cold) against the lower socat's"),
    ("v", "ms", "ferry ./client", "socat", "client TLS 500 B (start-up) against socat"),
    # With --tls-conscrypt: ferry with Conscrypt's provider, the same comparisons.
    ("t", "ms", "ferry+Conscrypt ./server", "socat", "server TLS with Conscrypt against the faster socat"),
    ("t", "cpu-s/GiB", "ferry+Conscrypt ./server", "socat", "server TLS CPU per GiB with Conscrypt"),
    ("u", "ms", "ferry+Conscrypt ./client", "socat", "client TLS with Conscrypt against socat"),
    ("u", "cpu-s/GiB", "ferry+Conscrypt ./client", "socat", "client TLS CPU per GiB with Conscrypt"),
    ("v", "ms", "ferry+Conscrypt ./client", "socat", "client TLS 500 B with Conscrypt against socat"),
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
    for key in ("c", "i", "t", "u"):  # CPU seconds per GiB received, every row (the target line has only the ratio)
        rows = [r for r in results if r.key == key and r.unit == "cpu-s/GiB" and r.median() is not None]
        if rows:
            info.append(f"{rows[0].scenario}: " + ", ".join(f"{r.peer} {fmt(r.median(), r.unit)}" for r in rows))
    for key, unit, ours, theirs, text in INFO:
        a, b = fastest(results, key, unit, ours), fastest(results, key, unit, theirs)
        if a and b:
            ratio = ratio_of(a, b)
            ratios.append({"info": text, "ratio": round(ratio, 3), "scenario": a.scenario, "peer": b.peer})
            info.append(f"{a.scenario}: {a.peer.split()[0]} {ratio:.2f}x {b.peer}")
    floor = next((r for r in results if r.key == "c" and r.peer == FLOOR and r.median() is not None), None)
    ferry = fastest(results, "c", "ms", "ferry ./server")
    if floor:
        ratios.append({"info": "floor of c", "median": floor.median(),
                       "ferry_over_floor": round(ratio_of(ferry, floor), 3) if ferry else None})
        info.append(f"floor of c (nc -N into a discarding sink) {fmt(floor.median(), 'ms')}"
                    + (f", ferry {ratio_of(ferry, floor):.2f}x it" if ferry else ""))
    text = "ferry/peer: the targets of issues 11, 19 and 20, medians of this run\n  " + "\n  ".join(lines)
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
