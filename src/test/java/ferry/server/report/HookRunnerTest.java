package ferry.server.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
        // Until hook 1 runs, so that the queue holds the others.
        assertThat(await(() -> ProcessHandle.current().children().findAny().isPresent())).as("hook 1 runs").isTrue();
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
        // By design at most twice STOP_KILL_GRACE (1 s) and 10,000 log lines: well below the hook's 60 s.
        assertThat(Duration.ofNanos(System.nanoTime() - closeStart)).isLessThan(Duration.ofSeconds(5));
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
     * <li>Two jobs; one quick hook runs first, so that one worker exists; the test waits until that hook's
     * line is logged and its worker waits, idle, for the next hook (its thread parked on the runner's
     * condition: the event itself, not a pause).</li>
     * <li>Two uploads end together; each of their hooks writes {@code started-N}, runs for 15 s, then writes
     * {@code ended-N}.</li>
     * <li>Both hooks run at once (a second worker starts although one was idle): both have started while
     * neither has ended. One after the other, the second would start only after the first had ended.</li>
     * </ol>
     * Repeated: whether the idle worker takes hook 2 before hook 3 is reported is a race, so a runner
     * that counts a signalled worker as busy at once (and then starts no second worker) fails about one
     * round in two, and eight rounds almost surely catch it.
     */
    @RepeatedTest(8)
    void hooksArrivingTogetherRunSideBySideEvenWithAnIdleWorker(@TempDir Path tmp) throws Exception {
        var bytes = new ByteArrayOutputStream();
        var log = new Log(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String command = "touch \"" + tmp + "/started-$FERRY_CONN\"; [ \"$FERRY_CONN\" = 1 ] || sleep 15; touch \""
                + tmp + "/ended-$FERRY_CONN\"; true"; // the runner appends the file's path: "true" takes it
        var runner = new HookRunner(new HookOptions(command, 2, Duration.ofMinutes(1)), log);
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        try {
            runner.uploadEnded(record(1));
            assertThat(await(() -> bytes.toString(StandardCharsets.UTF_8).contains("hook conn=1 exit=0 ")))
                    .as("hook 1 ended and was logged: %s", bytes).isTrue();
            assertThat(await(() -> idleWorker(before))).as("hook 1's worker waits, idle, for the next hook").isTrue();
            // Built first, so that nothing but the two calls lies between the two reports.
            UploadRecord second = record(2);
            UploadRecord third = record(3);
            runner.uploadEnded(second);
            runner.uploadEnded(third);
            assertThat(await(() -> Files.exists(tmp.resolve("started-2")) && Files.exists(tmp.resolve("started-3"))))
                    .as("hooks 2 and 3 started").isTrue();
            assertThat(tmp.resolve("ended-2")).as("hook 2 still running when hook 3 started").doesNotExist();
            assertThat(tmp.resolve("ended-3")).as("hook 3 still running when hook 2 started").doesNotExist();
        } finally {
            runner.close(System.nanoTime());
        }
    }

    /** Polls {@code condition} every 10 ms for at most 30 s. */
    private static boolean await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            Thread.sleep(10);
        }
        return true;
    }

    /**
     * True when a hook worker started after {@code before} was taken is parked in
     * {@code HookRunner.work}'s wait for a queued hook (a condition's await called
     * from {@code work}), not running a hook or waiting for the runner's lock.
     */
    private static boolean idleWorker(Set<Thread> before) {
        for (var entry : Thread.getAllStackTraces().entrySet()) {
            Thread thread = entry.getKey();
            if (before.contains(thread) || !thread.getName().startsWith("ferry-hook-")
                    || thread.getState() != Thread.State.WAITING) {
                continue;
            }
            StackTraceElement[] stack = entry.getValue();
            for (int i = 1; i < stack.length; i++) {
                if (stack[i].getClassName().equals(HookRunner.class.getName())
                        && stack[i].getMethodName().equals("work")) {
                    return stack[i - 1].getClassName().endsWith("$ConditionObject")
                            && stack[i - 1].getMethodName().startsWith("await");
                }
            }
        }
        return false;
    }
}
