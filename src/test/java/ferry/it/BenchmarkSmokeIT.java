package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The benchmark ({@code bench/run}) runs in its smoke form: every scenario
 * completes against the real launchers and is reported, and a peer that
 * cannot run makes it exit non-zero.
 */
class BenchmarkSmokeIT {
    /** The smoke form's budget is 60 s; the bound allows for a noisy machine. */
    private static final Duration QUICK_BOUND = Duration.ofSeconds(90);
    /**
     * How long a run may take before it is taken as hung and killed: well past {@link #QUICK_BOUND}, so that a
     * run that is only slow fails the check of the bound, with its duration, rather than this deadline.
     */
    private static final Duration HANG_DEADLINE = Duration.ofMinutes(3);

    /**
     * A table row of the ferry peer of one scenario, with its median, min, max (each with its unit) and the
     * number of timed runs: "a client 1 MiB  ferry ./client  12.3 ms  12.3 ms  12.3 ms  1".
     */
    private static final Pattern FERRY_ROW = Pattern.compile("^(?<key>[a-eg-jt-v]) (?<scenario>.+?)\\s+ferry "
            + "\\./(client|server)\\s+(?<median>\\d+(\\.\\d+)?) (?<unit>ms|s|MiB)\\s+(?<min>\\d+(\\.\\d+)?) \\k<unit>"
            + "\\s+(?<max>\\d+(\\.\\d+)?) \\k<unit>\\s+(?<runs>\\d+)\\s*$");

    @TempDir
    Path dir;

    @BeforeAll
    static void needsPython() {
        assumeThat(Ferry.has("python3")).as("python3 runs the benchmark").isTrue();
    }

    @Test
    void quickFormRunsAndReportsEveryScenario() throws Exception {
        assumeThat(Ferry.has("nc")).as("nc is the sender of scenario c").isTrue();
        Path json = dir.resolve("bench.json");
        Run run = bench("--quick", "--json", json.toString());

        assertThat(run.exitCode).as("bench/run --quick exit code; stderr:%n%s", run.stderr).isZero();
        assertThat(run.elapsed).as("bench/run --quick duration").isLessThan(QUICK_BOUND);
        List<String> ferryRows = new ArrayList<>();
        for (String line : run.stdout.lines().toList()) {
            var row = FERRY_ROW.matcher(line);
            if (row.matches()) {
                assertThat(row.group("runs")).as("timed runs in %s", line).isEqualTo("1");
                // One timed run: min, median and max are its one sample.
                assertThat(row.group("min")).as("min in %s", line).isEqualTo(row.group("median"));
                assertThat(row.group("max")).as("max in %s", line).isEqualTo(row.group("median"));
                // A transfer takes time and a process holds memory: only a CPU row may be 0 (below a clock tick).
                if (!row.group("scenario").contains("CPU")) {
                    assertThat(Double.parseDouble(row.group("median"))).as("median in %s", line).isPositive();
                }
                ferryRows.add(row.group("key"));
            }
        }
        // a, b: the client (time, CPU); c, i (warm, cold), d: the server (time, CPU; CPU per GiB is in s/GiB, not
        // matched); e: idle RSS, idle CPU, accept time; g: 16 MiB to s3proxy (time, the server's CPU and peak RSS,
        // s3proxy's CPU); h: 20 files from ./client (its --parallel row is not matched); j: 50 trickling senders
        // (the server's CPU, the sender's lateness); t, u, v: over TLS, the server (time, CPU), the client with
        // 1 MiB and 500 B (time, CPU).
        assertThat(ferryRows).as("ferry rows of the table:%n%s", run.stdout).containsExactly(
                "a", "a", "b", "b", "c", "c", "i", "i", "d", "d", "e", "e", "e", "g", "g", "g", "g", "h", "j", "j",
                "t", "t", "u", "u", "v", "v");
        assertThat(run.stdout).contains("ferry ./client --parallel 8").contains("socat -b 1048576")
                .contains("floor: nc -N into a discarding sink").contains("server CPU per GiB");
        assertThat(run.stdout).contains("machine: nproc").contains("ferry/peer: ").doesNotContain("FAILED");
        String report = Files.readString(json);
        assertThat(report).contains("\"failures\": []").contains("\"nproc\"");
    }

    @Test
    void aPeerThatCannotRunMakesItExitNonZero() throws Exception {
        // /bin/false as the Python interpreter: the discarding sink of scenario a never starts.
        Run run = bench("--quick", "--only", "a", "--python", "/bin/false");

        assertThat(run.exitCode).as("exit code; stdout:%n%s", run.stdout).isEqualTo(1);
        assertThat(run.stdout).contains("failure(s)").contains("sink");
    }

    private record Run(int exitCode, String stdout, String stderr, Duration elapsed) {
    }

    private Run bench(String... args) throws IOException, InterruptedException {
        var command = new ArrayList<String>();
        command.add(Ferry.ROOT.resolve("bench/run").toString());
        command.addAll(List.of(args));
        Path out = dir.resolve("stdout");
        Path err = dir.resolve("stderr");
        var builder = new ProcessBuilder(command).directory(Ferry.ROOT.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        builder.environment().put("TMPDIR", dir.toString());
        long start = System.nanoTime();
        Process process = builder.start();
        try {
            boolean exited = process.waitFor(HANG_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
            assertThat(exited).as("bench/run %s finishes within %s; stderr:%n%s", String.join(" ", args), HANG_DEADLINE,
                    Files.readString(err)).isTrue();
            return new Run(process.exitValue(), Files.readString(out), Files.readString(err), elapsed);
        } finally {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }
    }
}
