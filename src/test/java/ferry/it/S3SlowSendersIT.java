package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
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
     * Were an upload between two parts to reserve a whole part for its next bytes, the
     * first 32 slow senders would hold the whole budget and the rest would wait forever.
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

                long started = System.nanoTime();
                var small = Senders.python(receiver.port, "pattern", 10, 1);
                long smallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                started = System.nanoTime();
                var large = Senders.python(receiver.port, "pattern", 20 << 20, 2);
                long largeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                System.out.printf("S3SlowSendersIT: beside %d slow senders, 10 B confirmed in %d ms, 20 MiB in %d ms%n",
                        SLOW, smallMs, largeMs);

                assertThat(small.exitCode()).as("10-byte upload; stderr %s", small.stderr()).isZero();
                assertThat(smallMs).as("ms until the 10-byte upload is confirmed").isLessThan(5_000);
                assertThat(large.exitCode()).as("20 MiB upload; stderr %s", large.stderr()).isZero();
                assertThat(largeMs).as("ms until the 20 MiB upload is confirmed").isLessThan(20_000);
                var records = receiver.records().stream().filter(Ferry.Server.Record::complete).toList();
                assertThat(records).hasSize(2);
                assertThat(s3.sha256(PREFIX + "/" + records.get(0).conn() + ".file"))
                        .isEqualTo(Senders.sha256Of(small));
                assertThat(s3.sha256(PREFIX + "/" + records.get(1).conn() + ".file"))
                        .isEqualTo(Senders.sha256Of(large));
            } finally {
                dribbler.shutdownNow();
                slow.forEach(Relay::closeQuietly);
            }
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
