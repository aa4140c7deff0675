package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Slow senders do not starve the rest of S3 part memory (issue 18, item 7):
 * one real {@code ./server} writing to s3proxy ({@link TestS3}) with parts of
 * 5 MiB and 160 MiB of part buffers (32 parts; the defaults, 160 MiB of 8 MiB
 * parts, are 20), so that it stays cheap.
 */
class S3SlowSendersIT {
    private static final int SLOW = 40;
    private static final int PART_MIB = 5;
    private static final int MEMORY_MIB = 160;
    private static final String PREFIX = "slow";

    /**
     * <ol>
     * <li>40 senders each send a little more than a part (5 MiB and 1 KiB), then one byte
     * every 9 s (within the 10 s idle timeout): 40 parts' worth would be 200 MiB, more
     * than the budget.</li>
     * <li>Every one of them has its first part stored (s3proxy lists a multipart upload
     * with a part for each): the server took their bytes up to the dribble.</li>
     * <li>A 10-byte upload is confirmed within 5 s, then a 20 MiB one within 20 s, and
     * their objects hold what was sent.</li>
     * </ol>
     * Were an upload between two parts to wait for memory while holding a whole part,
     * the first 32 slow senders would hold the whole budget and the rest would wait forever.
     */
    @Test
    void fortySlowSendersLeaveMemoryForASmallAndALargeUpload() throws Exception {
        ScheduledExecutorService dribbler = Executors.newSingleThreadScheduledExecutor();
        var slow = new ArrayList<Socket>();
        try (var s3 = TestS3.start(); var receiver = Ferry.Server.start(List.of("--s3-part-mib",
                Integer.toString(PART_MIB), "--s3-memory-mib", Integer.toString(MEMORY_MIB)), s3.url(PREFIX), s3.env())) {
            try {
                byte[] head = new byte[(PART_MIB << 20) + 1024];
                new Random(7).nextBytes(head);
                for (int i = 0; i < SLOW; i++) {
                    var socket = new Socket(InetAddress.getLoopbackAddress(), receiver.port);
                    socket.setSoTimeout(60_000);
                    slow.add(socket);
                    OutputStream out = socket.getOutputStream();
                    // The head may wait for the server's memory: written on a thread of its own.
                    Thread.ofVirtual().name("slow-" + i).start(() -> {
                        try {
                            out.write(head);
                            dribbler.scheduleAtFixedRate(() -> {
                                try {
                                    out.write('.');
                                } catch (IOException ended) {
                                    throw new IllegalStateException(ended); // ends this sender's schedule
                                }
                            }, 9, 9, TimeUnit.SECONDS);
                        } catch (IOException ended) {
                            // The test is over (its socket closed).
                        }
                    });
                }
                boolean allStarted = Ferry.await(Duration.ofSeconds(90), Duration.ofMillis(250),
                        () -> firstPartsStored(s3) == SLOW);
                assertThat(allStarted).as("all %d slow senders had their first part stored (%d did); the log:%n%s",
                        SLOW, firstPartsStored(s3), receiver.stdout()).isTrue();

                smallAndLargeGoThrough(s3, receiver, "slow senders", 0);
            } finally {
                dribbler.shutdownNow();
                slow.forEach(Relay::closeQuietly);
            }
        }
    }

    /**
     * Slow senders inside a part do not make anyone wait for memory: parts spool
     * to local disk when the budget is short (issue 18, item 7).
     * <ol>
     * <li>The server has 64 MiB of part buffers (parts of 5 MiB) and its
     * {@code java.io.tmpdir} in a directory of the test's.</li>
     * <li>40 senders each send 1 MiB and 1 byte (two chunks; 80 MiB in all, more
     * than the budget), then one byte every 9 s (within the 10 s idle timeout).</li>
     * <li>The server reads all their bytes: every one of their connections has an
     * empty receive queue once their senders have written, and at least 8 of them
     * (80 - 64 MiB, two chunks each) have a spool file.</li>
     * <li>A 10-byte upload is confirmed within 5 s, then a 20 MiB one within 20 s,
     * their objects intact (a first upload before the slow senders warmed the store's
     * client, as on a server at work).</li>
     * <li>The slow senders stop dribbling and close: their 40 objects are intact
     * (their own first byte, then 1 MiB of the same bytes, then their dots), and no
     * spool file is left.</li>
     * </ol>
     * Were a writer to wait for a chunk, 8 or more slow senders would never be read
     * on, and neither would any other upload.
     */
    @Test
    void fortySlowSendersInsideAPartSpoolAndNobodyWaitsForMemory() throws Exception {
        int memoryMib = 64;
        Path tmp = Files.createTempDirectory("ferry-spool-it");
        ScheduledExecutorService dribbler = Executors.newSingleThreadScheduledExecutor();
        var slow = new ArrayList<Socket>();
        var dots = new ArrayList<AtomicInteger>();
        var written = new CountDownLatch(SLOW);
        var env = new HashMap<String, String>();
        try (var s3 = TestS3.start()) {
            env.putAll(s3.env());
            env.put("JAVA_TOOL_OPTIONS", "-Djava.io.tmpdir=" + tmp);
            try (var receiver = Ferry.Server.start(List.of("--s3-part-mib", Integer.toString(PART_MIB),
                    "--s3-memory-mib", Integer.toString(memoryMib)), s3.url(PREFIX), env)) {
                // One upload first, as on a server already at work: the store's client is warm.
                var warm = Senders.python(receiver.port, "pattern", 10, 3);
                assertThat(warm.exitCode()).as("a first upload; stderr %s", warm.stderr()).isZero();
                byte[] head = new byte[(1 << 20) + 1];
                new Random(11).nextBytes(head);
                try {
                    for (int i = 0; i < SLOW; i++) {
                        var socket = new Socket(InetAddress.getLoopbackAddress(), receiver.port);
                        socket.setSoTimeout(60_000);
                        slow.add(socket);
                        var sent = new AtomicInteger();
                        dots.add(sent);
                        OutputStream out = socket.getOutputStream();
                        byte first = (byte) i;
                        Thread.ofVirtual().name("slow-" + i).start(() -> {
                            try {
                                out.write(first);
                                out.write(head, 1, head.length - 1);
                                written.countDown();
                                dribbler.scheduleAtFixedRate(() -> {
                                    try {
                                        out.write('.');
                                        sent.incrementAndGet();
                                    } catch (IOException ended) {
                                        throw new IllegalStateException(ended); // ends this sender's schedule
                                    }
                                }, 9, 9, TimeUnit.SECONDS);
                            } catch (IOException ended) {
                                // The test is over (its socket closed).
                            }
                        });
                    }
                    assertThat(written.await(60, TimeUnit.SECONDS)).as("every slow sender wrote its head").isTrue();
                    boolean allRead = Ferry.await(Duration.ofSeconds(60), Duration.ofMillis(250), () -> {
                        var queues = TcpTable.receiveQueues(receiver.port);
                        return queues.size() >= SLOW && queues.stream().allMatch(q -> q == 0)
                                && spoolFiles(tmp).size() >= SLOW - memoryMib / 2;
                    });
                    assertThat(allRead).as("the server read every slow sender's head (receive queues %s) and spooled"
                                    + " at least %d parts (%d); the log:%n%s", TcpTable.receiveQueues(receiver.port),
                            SLOW - memoryMib / 2, spoolFiles(tmp).size(), receiver.stdout()).isTrue();

                    smallAndLargeGoThrough(s3, receiver,
                            "slow senders inside a part (" + spoolFiles(tmp).size() + " spooled)", 1);
                } finally {
                    dribbler.shutdownNow();
                    assertThat(dribbler.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
                }
                // The slow senders end their files: each object is its head, then its dots.
                var expected = new ArrayList<String>();
                for (int i = 0; i < SLOW; i++) {
                    var digest = MessageDigest.getInstance("SHA-256");
                    digest.update((byte) i);
                    digest.update(head, 1, head.length - 1);
                    digest.update(".".repeat(dots.get(i).get()).getBytes(StandardCharsets.US_ASCII));
                    expected.add(HexFormat.of().formatHex(digest.digest()));
                    slow.get(i).shutdownOutput();
                }
                boolean ended = Ferry.await(Duration.ofSeconds(60), Duration.ofMillis(250),
                        () -> receiver.records().stream().filter(Ferry.Server.Record::complete).count() == SLOW + 3);
                assertThat(ended).as("the slow uploads completed; the log:%n%s", receiver.stdout()).isTrue();
                var actual = new ArrayList<String>();
                for (var record : receiver.records().stream().filter(Ferry.Server.Record::complete).skip(3).toList()) {
                    actual.add(s3.sha256(PREFIX + "/" + record.conn() + ".file"));
                }
                assertThat(actual).containsExactlyInAnyOrderElementsOf(expected);
                assertThat(spoolFiles(tmp)).as("no spool file left once every upload ended").isEmpty();
            } finally {
                slow.forEach(Relay::closeQuietly);
            }
        } finally {
            try (Stream<Path> walk = Files.walk(tmp)) {
                walk.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    /**
     * A server killed while parts are spooled leaves their files; the next start
     * removes them (issue 18, item 7).
     * <ol>
     * <li>A server with 10 MiB of part buffers (two parts of 5 MiB) and its
     * {@code java.io.tmpdir} in a directory of the test's takes 4 uploads of 3 MiB, left
     * open (12 MiB): at least one part is spooled.</li>
     * <li>Its JVM is killed (SIGKILL): the spool files are still there once it is gone.</li>
     * <li>A server started again on the same directory removes them before it listens.</li>
     * </ol>
     */
    @Test
    void theSpoolFilesOfAKilledServerAreRemovedByTheNextStart() throws Exception {
        Path tmp = Files.createTempDirectory("ferry-spool-it");
        var open = new ArrayList<Socket>();
        var env = new HashMap<String, String>();
        var options = List.of("--s3-part-mib", Integer.toString(PART_MIB), "--s3-memory-mib", "10");
        try (var s3 = TestS3.start()) {
            env.putAll(s3.env());
            env.put("JAVA_TOOL_OPTIONS", "-Djava.io.tmpdir=" + tmp);
            try (var receiver = Ferry.Server.start(options, s3.url(PREFIX), env)) {
                byte[] file = new byte[3 << 20];
                new Random(5).nextBytes(file);
                for (int i = 0; i < 4; i++) {
                    var socket = new Socket(InetAddress.getLoopbackAddress(), receiver.port);
                    open.add(socket);
                    OutputStream out = socket.getOutputStream();
                    Thread.ofVirtual().name("open-" + i).start(() -> {
                        try {
                            out.write(file);
                        } catch (IOException ended) {
                            // The server was killed.
                        }
                    });
                }
                boolean spooled = Ferry.await(Duration.ofSeconds(60), Duration.ofMillis(100),
                        () -> !spoolFiles(tmp).isEmpty());
                assertThat(spooled).as("a part spooled; the log:%n%s", receiver.stdout()).isTrue();
                ProcessHandle jvm = receiver.proc.jvm();
                receiver.proc.signalJvm("KILL");
                boolean gone = Ferry.await(Duration.ofSeconds(30), Duration.ofMillis(100),
                        () -> ProcessHandle.of(jvm.pid()).isEmpty());
                assertThat(gone).as("the killed JVM is gone").isTrue();
                assertThat(spoolFiles(tmp)).as("the killed server's spool files").isNotEmpty();
            } finally {
                open.forEach(Relay::closeQuietly);
            }
            try (var again = Ferry.Server.start(options, s3.url(PREFIX), env)) {
                assertThat(spoolFiles(tmp)).as("spool files once the next server listens").isEmpty();
            }
        } finally {
            try (Stream<Path> walk = Files.walk(tmp)) {
                walk.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    /** The part files in the spool directories under {@code tmp}. */
    /**
     * Beside the slow senders, a 10-byte upload is confirmed within 5 s and then a
     * 20 MiB one within 20 s, and their objects hold what was sent; {@code before}
     * uploads completed earlier (a warm-up).
     */
    private static void smallAndLargeGoThrough(TestS3 s3, Ferry.Server receiver, String beside, int before)
            throws Exception {
        long started = System.nanoTime();
        var small = Senders.python(receiver.port, "pattern", 10, 1);
        long smallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        started = System.nanoTime();
        var large = Senders.python(receiver.port, "pattern", 20 << 20, 2);
        long largeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        System.out.printf("S3SlowSendersIT: beside %d %s, 10 B confirmed in %d ms, 20 MiB in %d ms%n",
                SLOW, beside, smallMs, largeMs);

        assertThat(small.exitCode()).as("10-byte upload; stderr %s", small.stderr()).isZero();
        assertThat(smallMs).as("ms until the 10-byte upload is confirmed").isLessThan(5_000);
        assertThat(large.exitCode()).as("20 MiB upload; stderr %s", large.stderr()).isZero();
        assertThat(largeMs).as("ms until the 20 MiB upload is confirmed").isLessThan(20_000);
        var records = receiver.records().stream().filter(Ferry.Server.Record::complete).toList();
        assertThat(records).hasSize(before + 2);
        assertThat(s3.sha256(PREFIX + "/" + records.get(before).conn() + ".file")).isEqualTo(Senders.sha256Of(small));
        assertThat(s3.sha256(PREFIX + "/" + records.get(before + 1).conn() + ".file"))
                .isEqualTo(Senders.sha256Of(large));
    }

    private static List<Path> spoolFiles(Path tmp) {
        try (Stream<Path> walk = Files.walk(tmp)) {
            return walk.filter(path -> path.getFileName().toString().startsWith("part-") && Files.isRegularFile(path))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The multipart uploads under the prefix that have at least one part stored. */
    private static int firstPartsStored(TestS3 s3) {
        int stored = 0;
        for (var upload : s3.pendingMultipartUploads(PREFIX + "/")) {
            if (!s3.client().listParts(b -> b.bucket(TestS3.BUCKET).key(upload.key()).uploadId(upload.uploadId()))
                    .parts().isEmpty()) {
                stored++;
            }
        }
        return stored;
    }
}
