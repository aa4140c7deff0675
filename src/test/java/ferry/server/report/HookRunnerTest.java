package ferry.server.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The hook runner's queue: bounded, and only ever a queue for the thread that reports an upload. */
class HookRunnerTest {
    private static UploadRecord record(long number) {
        Instant now = Instant.now();
        return new UploadRecord(number, "127.0.0.1:1", 1, now, now, Outcome.COMPLETE, null,
                "/nowhere/" + number + ".file", null, null);
    }

    /**
     * <ol>
     * <li>One job, whose hook runs for a minute; 10,001 more uploads end in a row.</li>
     * <li>Each report returns at once (all of them within a second, no hook run by the caller).</li>
     * <li>10,000 wait; the one beyond is logged as skipped at once.</li>
     * <li>Closing with a deadline now: the 10,000 are logged as skipped, the running one as stopped, and
     * no worker thread is left.</li>
     * </ol>
     */
    @Test
    void theQueueIsBoundedAndReportingNeverWaits() throws Exception {
        var bytes = new ByteArrayOutputStream();
        var log = new Log(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        var runner = new HookRunner(new HookOptions("sleep 60; true", 1, Duration.ofMinutes(1)), log);
        runner.uploadEnded(record(1));
        long started = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (ProcessHandle.current().children().findAny().isEmpty() && System.nanoTime() < started) {
            Thread.sleep(20); // until hook 1 runs, so that the queue holds the others
        }
        long start = System.nanoTime();
        for (int n = 2; n <= HookRunner.QUEUE_LIMIT + 2; n++) {
            runner.uploadEnded(record(n));
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
        String overflow = "hook conn=" + (HookRunner.QUEUE_LIMIT + 2) + " skipped=\"" + HookRunner.QUEUE_LIMIT
                + " hooks already waiting\"";
        assertThat(bytes.toString(StandardCharsets.UTF_8)).contains(overflow)
                .doesNotContain("hook conn=" + (HookRunner.QUEUE_LIMIT + 1) + " skipped");

        long closeStart = System.nanoTime();
        runner.close(System.nanoTime());
        assertThat(Duration.ofNanos(System.nanoTime() - closeStart)).isLessThan(Duration.ofSeconds(2));
        var lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
        assertThat(lines.stream().filter(l -> l.contains(" skipped=\"the server stopped before it could run\"")))
                .hasSize(HookRunner.QUEUE_LIMIT);
        assertThat(lines.stream().filter(l -> l.contains("hook conn=1 exit=143 ") && l.contains(" stopped=true ")))
                .hasSize(1);
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().startsWith("ferry-hook-"))
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().startsWith("ferry-hook-"));
    }

    /**
     * <ol>
     * <li>Two jobs; one quick hook runs first, so that one worker exists and waits, idle.</li>
     * <li>Two uploads end together; their hooks take a second each.</li>
     * <li>Both hooks run at once (a second worker starts although one was idle): both have started within
     * half a second, not one after the other.</li>
     * </ol>
     */
    @Test
    void hooksArrivingTogetherRunSideBySideEvenWithAnIdleWorker(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
            throws Exception {
        var log = new Log(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        String command = "touch \"" + tmp + "/started-$FERRY_CONN\"; [ \"$FERRY_CONN\" = 1 ] || sleep 1; true";
        var runner = new HookRunner(new HookOptions(command, 2, Duration.ofMinutes(1)), log);
        try {
            runner.uploadEnded(record(1));
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!java.nio.file.Files.exists(tmp.resolve("started-1")) && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            Thread.sleep(300); // hook 1 has ended: its worker waits for the next one
            long start = System.nanoTime();
            runner.uploadEnded(record(2));
            runner.uploadEnded(record(3));
            deadline = start + Duration.ofSeconds(5).toNanos();
            while (!(java.nio.file.Files.exists(tmp.resolve("started-2"))
                    && java.nio.file.Files.exists(tmp.resolve("started-3"))) && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("both hooks started")
                    .isLessThan(Duration.ofMillis(700));
        } finally {
            runner.close(System.nanoTime());
        }
    }
}
