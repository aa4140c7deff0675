#!/usr/bin/env python3
"""What a test run did, from the Surefire and Failsafe XML reports.

.ci/report.py [--skips-fail] [--top N] REPORT-DIR...

Prints, in this order:
- the output (stdout, stderr: the servers' logs) of each test class that
  failed, from its CLASS-output.txt (the run writes it there with
  -Dmaven.test.redirectTestOutputToFile=true); a class that passed prints none;
- each test that was skipped or aborted (an assumption that failed), with its
  reason, and each class none of whose tests ran (an assumption in @BeforeAll
  aborts them all, and Failsafe then reports "Tests run: 0", no skip);
- a table of the classes' times, slowest first, and the total;
- with --jacoco CSV, when that file exists (mvn verify -Pcoverage), the line
  and branch coverage it reports.

Exits 1 when a test failed, or, with --skips-fail, when one was skipped or
aborted; 2 when a directory holds no report. A failed test is also Maven's
to report: this only makes its logs readable.
"""
import argparse
import csv
import glob
import os
import sys
import xml.etree.ElementTree as ET

# The output of one failed class is cut to its last lines past this many.
OUTPUT_LINES = 400


def suites(directory):
    """(kind, suite element, path) for each TEST-*.xml of a reports directory."""
    kind = "unit" if "surefire" in os.path.basename(os.path.normpath(directory)) else "it"
    for path in sorted(glob.glob(os.path.join(directory, "TEST-*.xml"))):
        yield kind, ET.parse(path).getroot(), path


def print_coverage(path):
    """Line and branch coverage, in all and per package, from JaCoCo's CSV report."""
    counts = {}  # package -> [lines missed, lines covered, branches missed, branches covered]
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            c = counts.setdefault(row["PACKAGE"], [0, 0, 0, 0])
            for i, column in enumerate(("LINE_MISSED", "LINE_COVERED", "BRANCH_MISSED", "BRANCH_COVERED")):
                c[i] += int(row[column])
    counts["all"] = [sum(c[i] for c in counts.values()) for i in range(4)]

    def share(missed, covered):
        return f"{100 * covered / max(1, missed + covered):5.1f}% ({covered}/{missed + covered})"

    print(f"\nCoverage (JaCoCo, {path}; the test JVMs only, not those ./server and ./client start):")
    for package, (lm, lc, bm, bc) in sorted(counts.items()):
        print(f"  {package:16} line {share(lm, lc):20} branch {share(bm, bc)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skips-fail", action="store_true", help="a skipped or aborted test fails the run")
    parser.add_argument("--top", type=int, default=25, help="rows of the time table (the rest are summed)")
    parser.add_argument("--jacoco", help="JaCoCo's CSV report, summed up when it exists")
    parser.add_argument("dirs", nargs="+")
    args = parser.parse_args()

    classes = []  # (time, kind, name, tests, failed, skipped)
    failed_classes = []  # (name, output file)
    skipped = []  # "Class.method: reason"
    missing = [d for d in args.dirs if not glob.glob(os.path.join(d, "TEST-*.xml"))]
    for directory in args.dirs:
        for kind, suite, path in suites(directory):
            name = suite.get("name")
            failed = 0
            for case in suite.iter("testcase"):
                test = case.get("classname", name).rsplit(".", 1)[-1] + "." + (case.get("name") or "(class)")
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                for skip in case.iter("skipped"):
                    reason = (skip.get("message") or skip.text or "").strip().splitlines()
                    reason = reason[0].removeprefix("org.opentest4j.TestAbortedException: ") if reason else ""
                    skipped.append(f"{test}: {reason or 'no reason given'}")
            # A class that failed outside its tests (in @BeforeAll, say) counts its errors on the suite only.
            failed = max(failed, int(suite.get("failures", 0)) + int(suite.get("errors", 0)))
            # A class whose tests never ran (an assumption in @BeforeAll aborts them all) lists no test case and
            # no skip: Failsafe reports "Tests run: 0". That is a skip too.
            if int(suite.get("tests", 0)) == 0 and not failed:
                skipped.append(f"{name.rsplit('.', 1)[-1]}: no test of the class ran (an assumption before all,"
                               f" such as one in @BeforeAll, aborted them; its output may say why)")
            classes.append((float(suite.get("time", 0) or 0), kind, name, int(suite.get("tests", 0)), failed,
                            len([1 for c in suite.iter("testcase") if c.find("skipped") is not None])))
            if failed:
                failed_classes.append((name, os.path.join(directory, name + "-output.txt")))

    for name, output in failed_classes:
        print(f"\n===== {name} failed: its output ({output}) =====")
        if not os.path.exists(output):
            print("(none: the class printed nothing)")
            continue
        with open(output, errors="replace") as f:
            lines = f.readlines()
        if len(lines) > OUTPUT_LINES:
            print(f"(the first {len(lines) - OUTPUT_LINES} lines are left out; the whole file is {output})")
            lines = lines[-OUTPUT_LINES:]
        sys.stdout.writelines(lines)
        print(f"===== end of {name}'s output =====")

    if skipped:
        print(f"\n{len(skipped)} test(s) skipped or aborted:")
        for line in skipped:
            print("  SKIPPED " + line)

    classes.sort(reverse=True)
    total = sum(c[0] for c in classes)
    print(f"\nTest classes by time ({len(classes)} classes, {sum(c[3] for c in classes)} tests, "
          f"{total:.0f} s in all; unit = Surefire, it = Failsafe):")
    print(f"  {'seconds':>8}  {'kind':4}  {'tests':>5}  {'result':8}  class")
    for time, kind, name, tests, failed, skips in classes[:args.top]:
        result = f"{failed} FAILED" if failed else (f"{skips} skip" if skips else "ok")
        print(f"  {time:8.1f}  {kind:4}  {tests:5d}  {result:8}  {name}")
    rest = classes[args.top:]
    if rest:
        print(f"  {sum(c[0] for c in rest):8.1f}  the other {len(rest)} classes, "
              f"{sum(c[4] for c in rest)} failed, {sum(c[5] for c in rest)} skipped")

    if args.jacoco and os.path.exists(args.jacoco):
        print_coverage(args.jacoco)

    for directory in missing:
        print(f"ERROR: no test report in {directory}: the tests did not run", file=sys.stderr)
    if missing:
        return 2
    if failed_classes:
        print(f"ERROR: {sum(c[4] for c in classes)} test(s) failed in {len(failed_classes)} class(es): "
              + ", ".join(n for n, _ in failed_classes), file=sys.stderr)
        return 1
    if skipped and args.skips_fail:
        print(f"ERROR: {len(skipped)} test(s) skipped or aborted, which CI counts as failures "
              "(a missing tool, no root): see SKIPPED above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
