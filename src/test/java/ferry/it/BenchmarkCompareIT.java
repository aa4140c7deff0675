package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench/run --compare DIR} measures the ferry build in another
 * checkout, {@code DIR/server}, as one more receiver in scenarios c, d and e.
 */
class BenchmarkCompareIT {
    /** c, d and e in their smoke form take about 30 s; the bound allows for a noisy machine. */
    private static final Duration BOUND = Duration.ofSeconds(120);

    /** A table row of the compared build: "c server 1 MiB  ferry@other  12.3 ms  ...  1  0.98x" (no ratio for 0). */
    private static final Pattern OTHER_ROW = Pattern.compile(
            "^([a-e]) .*\\sferry@other\\s+(\\d+(\\.\\d+)?) (ms|s|MiB)\\s.*?\\s(\\d+)(\\s+\\d+\\.\\d+x)?\\s*$");

    @TempDir
    Path dir;

    @BeforeAll
    static void needsTools() {
        assumeThat(Ferry.has("python3")).as("python3 runs the benchmark").isTrue();
        assumeThat(Ferry.has("nc")).as("nc is the sender of scenario c").isTrue();
    }

    @Test
    void theComparedBuildIsStartedFromItsOwnLauncherAndReportedInScenariosCDAndE() throws Exception {
        // The other checkout's launcher notes each start (idle timeout and arguments), then runs ferry.
        Path other = Files.createDirectories(dir.resolve("other"));
        Path calls = other.resolve("calls");
        Path launcher = other.resolve("server");
        Files.writeString(launcher, "#!/usr/bin/env bash\n"
                + "printf '%s|%s\\n' \"${FERRY_IDLE_TIMEOUT_MS:-unset}\" \"$*\" >>'" + calls + "'\n"
                + "exec '" + Ferry.ROOT.resolve("server") + "' \"$@\"\n");
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));

        Run run = bench("--quick", "--only", "c,d,e", "--compare", other.toString());

        assertThat(run.exitCode).as("exit code; stderr:%n%s", run.stderr).isZero();
        List<String> rows = new ArrayList<>();
        for (String line : run.stdout.lines().toList()) {
            var row = OTHER_ROW.matcher(line);
            if (row.matches()) {
                assertThat(row.group(5)).as("timed runs in %s", line).isEqualTo("1");
                rows.add(row.group(1));
            }
        }
        // c, d: time and CPU; e: idle RSS, idle CPU, accept time.
        assertThat(rows).as("ferry@other rows of the table:%n%s", run.stdout)
                .containsExactly("c", "c", "d", "d", "e", "e", "e");
        assertThat(run.stdout).doesNotContain("FAILED");
        List<String> starts = Files.readAllLines(calls);
        // The build before timing (no arguments), then servers as ./server is started: PORT FILE-DIR.
        assertThat(starts.get(0)).isEqualTo("unset|");
        var server = Pattern.compile("^(unset|3600000)\\|\\d+ /.+$");
        assertThat(starts.subList(1, starts.size())).allMatch(line -> server.matcher(line).matches());
        // c and d share one server each; e starts a fresh one per round, with scenario e's idle timeout.
        assertThat(starts.subList(1, starts.size())).extracting(line -> line.split("\\|")[0])
                .containsExactly("unset", "unset", "3600000");
    }

    @Test
    void aDirectoryWithoutALauncherIsABadOption() throws Exception {
        Run run = bench("--quick", "--only", "c", "--compare", dir.resolve("no-such-checkout").toString());

        assertThat(run.exitCode).as("exit code; stderr:%n%s", run.stderr).isEqualTo(2);
        assertThat(run.stderr).contains("--compare").contains("not an executable ferry launcher");
    }

    private record Run(int exitCode, String stdout, String stderr) {
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
        Process process = builder.start();
        try {
            boolean exited = process.waitFor(BOUND.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(exited).as("bench/run %s finishes within %s; stderr:%n%s", String.join(" ", args), BOUND,
                    Files.readString(err)).isTrue();
            return new Run(process.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }
    }
}
