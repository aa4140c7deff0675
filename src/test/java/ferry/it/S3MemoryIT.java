package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The S3 sink's memory budget, measured: one real {@code ./server} writing to
 * s3proxy ({@link TestS3}) with the default budget (256 MiB of part buffers)
 * takes 50 uploads of 100 MiB at once from 50 Python senders (a seeded
 * pattern generated while sent: nothing on disk), while the resident set of
 * its JVM is sampled every 50 ms.
 */
class S3MemoryIT {
    private static final int SENDERS = 50;
    private static final long SIZE = 100L << 20;
    /** The default budget of part buffers (--s3-memory-mib). */
    private static final long BUDGET_MIB = 256;
    /** The default budget of read buffers (FERRY_BUFFER_MIB). */
    private static final long READ_BUFFERS_MIB = 64;
    /**
     * What the JVM may hold above its baseline besides the two budgets and
     * its young generation (garbage between two collections: the server's JVM
     * has no -Xmn, so the young generation is a third of the initial heap,
     * 1/64 of the machine's memory, and is measured, not assumed): code the
     * JIT compiles under load, metaspace, the stacks and I/O buffers of 50
     * uploads and their part threads. Measured on a 23 GiB machine: young
     * generation 113 MiB; the peak stayed 30-40 MiB below a bound with this
     * margin (see the figures this test prints).
     */
    private static final long MARGIN_MIB = 64;
    private static final String PREFIX = "mem";

    /**
     * <ol>
     * <li>A receiver with the default budget takes one small upload (the S3
     * client loaded): its resident set then is the baseline.</li>
     * <li>50 senders start 100 MiB uploads at once; VmRSS is sampled every 50 ms.</li>
     * <li>Every sender is confirmed (exit 0); every object holds exactly what its
     * sender sent (SHA-256); no multipart upload is left pending.</li>
     * <li>The peak (sampled, and the kernel's high-water mark) stays within the
     * baseline + the part budget + the read buffers + the young generation
     * (read with jcmd) + a margin.</li>
     * </ol>
     */
    @Test
    void fiftyConcurrentUploadsOf100MibStayWithinTheDefaultMemoryBudget() throws Exception {
        try (var s3 = TestS3.start(); var receiver = Ferry.Server.start(List.of(), s3.url(PREFIX), s3.env())) {
            var warmUp = Senders.python(receiver.port, "pattern", 1000, 0);
            assertThat(warmUp.exitCode()).as("warm-up upload; stderr %s", warmUp.stderr()).isZero();
            long pid = receiver.jvm().pid();
            long baseline = RssSampler.field(pid, "VmRSS") >> 10;
            long young = youngGenerationMib(pid);
            long started = System.nanoTime();
            var expected = new HashMap<String, Integer>();
            var results = new ArrayList<Ferry.Result>();
            long peak;
            long highWater;
            int samples;
            try (var sampler = new RssSampler(pid, Duration.ofMillis(50))) {
                var senders = new ArrayList<Senders.Interactive>();
                try {
                    for (int i = 1; i <= SENDERS; i++) {
                        senders.add(Senders.Interactive.start(receiver.port, "pattern", SIZE, i));
                    }
                    for (var sender : senders) {
                        results.add(sender.awaitExit(Duration.ofMinutes(5)));
                    }
                } finally {
                    senders.forEach(Senders.Interactive::close);
                }
                peak = sampler.peakMib();
                highWater = sampler.highWaterMib();
                samples = sampler.samples();
            }
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            System.out.printf("S3MemoryIT: %d x %d MiB in %d ms; JVM baseline %d MiB, young generation %d MiB,"
                            + " peak VmRSS %d MiB (%d samples), VmHWM %d MiB, bound %d MiB%n", SENDERS, SIZE >> 20,
                    elapsedMs, baseline, young, peak, samples, highWater, bound(baseline, young));
            for (var result : results) {
                assertThat(result.exitCode()).as("sender; stdout %s stderr %s; the receiver's failures:%n%s",
                        result.stdout(), result.stderr(), receiver.stdout().lines()
                                .filter(l -> !l.contains("outcome=complete")).toList()).isZero();
                expected.merge(Senders.sha256Of(result), 1, Integer::sum);
            }
            assertThat(peak).as("peak VmRSS (MiB)").isLessThanOrEqualTo(bound(baseline, young));
            assertThat(highWater).as("VmHWM (MiB)").isLessThanOrEqualTo(bound(baseline, young));
            Map<String, Long> objects = s3.objects(PREFIX + "/");
            assertThat(objects).hasSize(SENDERS + 1);
            expected.merge(Senders.sha256Of(warmUp), 1, Integer::sum);
            assertThat(digests(s3, objects.keySet())).isEqualTo(expected);
            assertThat(s3.pendingMultipartUploads(PREFIX + "/")).isEmpty();
            assertThat(receiver.stop()).isZero();
            assertThat(receiver.stderr()).isEmpty();
        }
    }

    private static long bound(long baselineMib, long youngMib) {
        return baselineMib + BUDGET_MIB + READ_BUFFERS_MIB + youngMib + MARGIN_MIB;
    }

    /** The JVM's young generation (Serial GC's "DefNew total": eden and one survivor space), from jcmd, in MiB. */
    private static long youngGenerationMib(long pid) throws Exception {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        var result = Ferry.exec(List.of(jcmd.toString(), Long.toString(pid), "GC.heap_info"), Map.of(), null,
                Duration.ofSeconds(30));
        var m = Pattern.compile("(?:DefNew|def new generation)\\s+total (\\d+)K").matcher(result.stdout());
        assertThat(m.find()).as("jcmd GC.heap_info: %s %s", result.stdout(), result.stderr()).isTrue();
        return Long.parseLong(m.group(1)) >> 10;
    }

    /** SHA-256 -> how many of the objects hold it, read two at a time. */
    static Map<String, Integer> digests(TestS3 s3, java.util.Collection<String> keys) throws Exception {
        var pool = Executors.newFixedThreadPool(2);
        try {
            var futures = new ArrayList<Future<String>>();
            for (String key : keys) {
                futures.add(pool.submit(() -> s3.sha256(key)));
            }
            var counts = new HashMap<String, Integer>();
            for (var future : futures) {
                counts.merge(future.get(5, TimeUnit.MINUTES), 1, Integer::sum);
            }
            return counts;
        } finally {
            pool.shutdownNow();
        }
    }
}
