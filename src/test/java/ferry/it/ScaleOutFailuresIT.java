package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Scale-out when something fails: senders that reset or fall silent, a
 * receiver that crashes (SIGKILL of its JVM), the object store and the
 * database going away mid-run. Real {@code ./server} receivers writing to
 * s3proxy ({@link TestS3}), numbered by PostgreSQL ({@link TestPostgres})
 * where a test has several, fed by {@code nc -N}, {@code ./client} and Python.
 */
class ScaleOutFailuresIT {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final byte[] ERROR = "ERROR".getBytes(StandardCharsets.US_ASCII);
    private static final long MIB = 1 << 20;
    /** Above the default part size (8 MiB): one part is uploaded before the rest arrives. */
    private static final long LARGE = 12 * MIB;
    private static final String PREFIX = "fail";

    @TempDir
    Path tmp;
    private TestS3 s3;
    private TestPostgres postgres;
    private final List<Ferry.Server> receivers = new ArrayList<>();

    @AfterEach
    void stopAll() {
        receivers.forEach(Ferry.Server::close);
        if (s3 != null) {
            s3.close();
        }
        if (postgres != null) {
            postgres.close();
        }
    }

    /**
     * <ol>
     * <li>One receiver with a 1.5 s idle timeout (FERRY_IDLE_TIMEOUT_MS).</li>
     * <li>A Python sender sends 1000 bytes and resets (SO_LINGER 0): 1.file holds exactly ERROR.</li>
     * <li>Another sends 12 MiB (above one part), waits until the receiver's
     * multipart upload has begun, and resets: 2.file holds exactly ERROR and
     * no multipart upload is left pending.</li>
     * <li>Another sends 1000 bytes and falls silent: after the idle timeout the
     * receiver resets it (the sender is not told success), 3.file holds exactly ERROR.</li>
     * <li>Another sends 12 MiB and falls silent: the same, 4.file, no multipart upload pending.</li>
     * <li>Each is logged with its outcome (reset, idle-timeout).</li>
     * </ol>
     */
    @Test
    void aSenderThatResetsOrFallsSilentLeavesExactlyErrorAndNoPendingMultipartUpload() throws Exception {
        s3 = TestS3.start();
        var receiver = start(List.of(), Map.of("FERRY_IDLE_TIMEOUT_MS", "1500"));
        try (var small = Senders.Interactive.start(receiver.port, "reset", 1000, 1)) {
            small.awaitSent(DEADLINE).proceed();
            assertThat(small.awaitExit(DEADLINE).stdout()).contains("reset-by-us");
        }
        awaitError(key(1));
        try (var large = Senders.Interactive.start(receiver.port, "reset", LARGE, 2)) {
            large.awaitSent(DEADLINE);
            awaitPending(key(2));
            large.proceed();
            assertThat(large.awaitExit(DEADLINE).stdout()).contains("reset-by-us");
        }
        awaitError(key(2));
        awaitNoPending();
        for (long size : List.of(1000L, LARGE)) {
            try (var silent = Senders.Interactive.start(receiver.port, "idle", size, 3)) {
                var result = silent.awaitSent(DEADLINE).awaitExit(DEADLINE);
                assertThat(result.stdout()).as("the sender is reset, not closed gracefully").contains("reset")
                        .doesNotContain("closed");
            }
        }
        awaitError(key(3));
        awaitError(key(4));
        awaitNoPending();
        assertThat(s3.objects(PREFIX + "/")).hasSize(4);
        assertThat(receiver.logLine(1)).contains("outcome=reset");
        assertThat(receiver.logLine(2)).contains("outcome=reset");
        assertThat(receiver.logLine(3)).contains("outcome=idle-timeout");
        assertThat(receiver.logLine(4)).contains("outcome=idle-timeout");
        assertThat(receiver.stop()).isZero();
        assertThat(receiver.stderr()).isEmpty();
    }

    /**
     * <ol>
     * <li>Receivers A and B share the bucket and the database; each saves 10 uploads.</li>
     * <li>Two uploads are in flight on A: 12 MiB (its multipart upload begun)
     * and 1000 bytes (a single PUT to come).</li>
     * <li>A's JVM is killed with SIGKILL. The two senders, going on, are
     * reset: neither is told success.</li>
     * <li>B goes on serving (5 more uploads, intact). Every object under the
     * prefix is either one of the 25 intact uploads or exactly ERROR: none
     * looks complete that is not.</li>
     * <li>A restarts on the same database and prefix and saves 10 uploads: all
     * intact, and none under a number used before the crash (saved, logged,
     * or held by the crashed upload's multipart upload).</li>
     * </ol>
     */
    @Test
    void aReceiverKilledMidUploadLeavesNoCompleteLookingObjectAndReusesNoNumberAfterItRestarts() throws Exception {
        postgres = TestPostgres.start();
        s3 = TestS3.start();
        var options = List.of("--counter", postgres.url(null));
        var a = start(options, Map.of());
        var b = start(options, Map.of());
        var intact = new HashMap<String, Integer>();
        for (int i = 0; i < 10; i++) {
            send(a, 100 + i * 997L, 10 + i, intact);
            send(b, 100 + i * 991L, 20 + i, intact);
        }
        Set<Long> before = new TreeSet<>(numbers(s3.objects(PREFIX + "/").keySet()));
        try (var large = Senders.Interactive.start(a.port, "hold", LARGE, 30, MIB);
             var small = Senders.Interactive.start(a.port, "hold", 1000, 31, 1000)) {
            large.awaitSent(DEADLINE);
            small.awaitSent(DEADLINE);
            awaitPending(null);
            a.killJvm();
            large.proceed();
            small.proceed();
            for (var sender : List.of(large, small)) {
                var result = sender.awaitExit(DEADLINE);
                assertThat(result.exitCode()).as("a sender cut by the crash; stdout %s", result.stdout()).isEqualTo(1);
                assertThat(result.stdout()).doesNotContain("closed");
            }
        }
        for (int i = 0; i < 5; i++) {
            send(b, 5000 + i, 40 + i, intact);
        }
        var pending = s3.pendingMultipartUploads(PREFIX + "/");
        System.out.printf("ScaleOutFailuresIT: after the SIGKILL, %d multipart upload(s) pending: %s%n", pending.size(),
                pending.stream().map(u -> u.key()).toList());
        before.addAll(numbers(pending.stream().map(u -> u.key()).toList()));
        before.addAll(a.loggedNumbers());
        before.addAll(b.loggedNumbers());
        assertOnlyIntactOrError(intact, 25);
        Set<Long> usedBefore = new TreeSet<>(numbers(s3.objects(PREFIX + "/").keySet()));
        usedBefore.addAll(before);

        var restarted = start(options, Map.of());
        for (int i = 0; i < 10; i++) {
            send(restarted, 300 + i * 13L, 50 + i, intact);
        }
        assertThat(Ferry.await(DEADLINE, () -> restarted.loggedNumbers().size() == 10)).isTrue();
        assertThat(restarted.loggedNumbers()).as("numbers after the restart; used before: %s", usedBefore)
                .doesNotContainAnyElementsOf(usedBefore)
                .allSatisfy(n -> assertThat(n).isGreaterThan(a.loggedNumbers().stream().max(Long::compare).orElseThrow()));
        assertOnlyIntactOrError(intact, 35);
        for (var receiver : List.of(b, restarted)) {
            assertThat(receiver.stop()).isZero();
            assertThat(receiver.stderr()).isEmpty();
        }
    }

    /**
     * <ol>
     * <li>Two receivers share the bucket and the database; 6 uploads (nc,
     * ./client, Python) are saved intact.</li>
     * <li>A Python sender has sent 12 MiB to the first (its multipart upload begun).</li>
     * <li>s3proxy is killed. The sender goes on and is reset, not told success.</li>
     * <li>During the outage each receiver takes uploads from ./client (1000 B
     * and 12 MiB), Python and nc: ./client and Python are told failure
     * (exit 1); nc is run too, though OpenBSD nc exits 0 even when reset.
     * Both receivers stay up and listening.</li>
     * <li>s3proxy starts again on the same port and data: 6 uploads and one of
     * 20 MiB are saved intact, confirmed to their senders.</li>
     * <li>Every object under the prefix is an intact upload or exactly ERROR.</li>
     * </ol>
     */
    @Test
    void uploadsFailWhileTheStoreIsDownAndTheReceiversServeAgainOnceItIsBack() throws Exception {
        postgres = TestPostgres.start();
        s3 = TestS3.start();
        var options = List.of("--counter", postgres.url(null));
        var pair = List.of(start(options, Map.of()), start(options, Map.of()));
        var intact = new HashMap<String, Integer>();
        sendWithEveryTool(pair, 1, intact);
        try (var across = Senders.Interactive.start(pair.get(0).port, "hold", LARGE, 60, 4 * MIB)) {
            across.awaitSent(DEADLINE);
            awaitPending(null);
            s3.stop();
            across.proceed();
            var result = across.awaitExit(DEADLINE);
            assertThat(result.exitCode()).as("an upload cut by the outage; stdout %s", result.stdout()).isEqualTo(1);
            assertThat(result.stdout()).doesNotContain("closed");
        }
        long outageStart = System.nanoTime();
        for (var receiver : pair) {
            Path small = Ferry.randomFile(tmp, "outage-small-" + receiver.port, 1000, receiver.port);
            Path large = Ferry.randomFile(tmp, "outage-large-" + receiver.port, LARGE, receiver.port + 1);
            for (Path source : List.of(small, large)) {
                var result = Senders.Tool.CLIENT.send(receiver.port, source);
                assertThat(result.exitCode()).as("./client during the outage: stderr %s", result.stderr()).isEqualTo(1);
                assertThat(result.stderr()).startsWith("ERROR:");
            }
            var python = Senders.python(receiver.port, "pattern", 1000, receiver.port);
            assertThat(python.exitCode()).as("Python during the outage: stdout %s", python.stdout()).isEqualTo(1);
            var nc = Senders.Tool.NC.send(receiver.port, small);
            System.out.printf("ScaleOutFailuresIT: nc -N during the outage exited %d%n", nc.exitCode());
        }
        System.out.printf("ScaleOutFailuresIT: 8 uploads refused during the outage in %d ms%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - outageStart));
        for (var receiver : pair) {
            assertThat(receiver.alive()).as("receiver %d still up", receiver.port).isTrue();
        }
        s3.startAgain();
        sendWithEveryTool(pair, 2, intact);
        var big = Senders.python(pair.get(1).port, "pattern", 20 * MIB, 70);
        assertThat(big.exitCode()).as("20 MiB after the outage; stderr %s", big.stderr()).isZero();
        intact.merge(Senders.sha256Of(big), 1, Integer::sum);
        assertOnlyIntactOrError(intact, 13);
        var pending = s3.pendingMultipartUploads(PREFIX + "/");
        System.out.printf("ScaleOutFailuresIT: after the outage, %d multipart upload(s) pending: %s%n", pending.size(),
                pending.stream().map(u -> u.key()).toList());
        for (var receiver : pair) {
            assertThat(receiver.stop()).isZero();
            assertThat(receiver.stderr()).as("no stack trace").isEmpty();
        }
    }

    /**
     * <ol>
     * <li>One receiver numbered by PostgreSQL saves one upload (its first block taken).</li>
     * <li>PostgreSQL stops. 120 uploads are sent, eight at a time: the
     * block in hand numbers 99 of them, which are saved; the rest are accepted
     * and wait, unnumbered ("cannot number the connection").</li>
     * <li>PostgreSQL starts again: every upload is confirmed to its sender, and
     * the prefix holds 121 intact objects under 121 distinct numbers.</li>
     * </ol>
     */
    @Test
    void nothingAcceptedIsLostWhileTheDatabaseIsDownAndServiceResumesOnceItIsBack() throws Exception {
        postgres = TestPostgres.start();
        s3 = TestS3.start();
        var receiver = start(List.of("--counter", postgres.url(null)), Map.of());
        var intact = new HashMap<String, Integer>();
        send(receiver, 777, 80, intact);
        postgres.stop();
        var pool = Executors.newFixedThreadPool(8);
        try {
            var sent = new ArrayList<Future<Ferry.Result>>();
            for (int i = 0; i < 120; i++) {
                long size = 1 + (i * 7919L) % 40_000;
                int seed = 100 + i;
                sent.add(pool.submit(() -> Senders.python(receiver.port, "pattern", size, seed)));
            }
            assertThat(Ferry.await(DEADLINE, () -> s3.objects(PREFIX + "/").size() == 100
                    && receiver.stdout().contains("cannot number the connection")))
                    .as("the block in hand used up, then connections wait; log: %s", receiver.stdout()).isTrue();
            assertThat(receiver.alive()).isTrue();
            postgres.startAgain();
            for (var future : sent) {
                var result = future.get(2, TimeUnit.MINUTES);
                assertThat(result.exitCode()).as("stderr %s", result.stderr()).isZero();
                intact.merge(Senders.sha256Of(result), 1, Integer::sum);
            }
        } finally {
            pool.shutdownNow();
        }
        Map<String, Long> objects = s3.objects(PREFIX + "/");
        assertThat(objects).hasSize(121);
        assertThat(S3MemoryIT.digests(s3, objects.keySet())).isEqualTo(intact);
        assertThat(Ferry.await(DEADLINE, () -> receiver.loggedNumbers().size() == 121)).isTrue();
        assertThat(new TreeSet<>(receiver.loggedNumbers())).isEqualTo(new TreeSet<>(numbers(objects.keySet())));
        assertThat(receiver.stop()).isZero();
        assertThat(receiver.stderr()).isEmpty();
    }

    private Ferry.Server start(List<String> options, Map<String, String> env) throws Exception {
        var all = new HashMap<>(s3.env());
        all.putAll(env);
        var receiver = Ferry.Server.start(options, s3.url(PREFIX), all);
        receivers.add(receiver);
        return receiver;
    }

    /** The store's side, for a failure's message (the receivers' logs are in the test's output). */
    private String logs() {
        return "objects: " + s3.objects(PREFIX + "/") + "\ns3proxy: " + s3.log();
    }

    private static String key(long n) {
        return PREFIX + "/" + n + ".file";
    }

    /** Sends {@code size} pattern bytes with Python; confirmed, its digest counted as intact. */
    private void send(Ferry.Server receiver, long size, int seed, Map<String, Integer> intact) throws Exception {
        var result = Senders.python(receiver.port, "pattern", size, seed);
        assertThat(result.exitCode()).as("%d bytes to receiver %d: stderr %s; %s", size, receiver.port,
                result.stderr(), logs()).isZero();
        intact.merge(Senders.sha256Of(result), 1, Integer::sum);
    }

    /** One small upload with each tool to each receiver; all confirmed. */
    private void sendWithEveryTool(List<Ferry.Server> to, int round, Map<String, Integer> intact) throws Exception {
        for (var receiver : to) {
            for (var tool : Senders.Tool.values()) {
                Path source = Ferry.randomFile(tmp, round + "-" + tool + "-" + receiver.port, 5000 + tool.ordinal(),
                        round * 100 + tool.ordinal() + receiver.port);
                var result = tool.send(receiver.port, source);
                assertThat(result.exitCode()).as("%s: stderr %s", tool, result.stderr()).isZero();
                intact.merge(Checksums.sha256(source), 1, Integer::sum);
            }
        }
    }

    /** Every object under the prefix is an intact upload (its digest expected) or exactly ERROR; all intact ones there. */
    private void assertOnlyIntactOrError(Map<String, Integer> intact, int count) throws Exception {
        var found = new HashMap<String, Integer>();
        for (String key : s3.objects(PREFIX + "/").keySet()) {
            String sha = s3.sha256(key);
            if (intact.containsKey(sha)) {
                found.merge(sha, 1, Integer::sum);
            } else {
                assertThat(s3.bytes(key)).as("%s is neither an intact upload nor ERROR", key).isEqualTo(ERROR);
            }
        }
        assertThat(found).as("the intact uploads").isEqualTo(intact);
        assertThat(found.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(count);
    }

    private void awaitError(String key) {
        assertThat(Ferry.await(DEADLINE, () -> s3.objects(key).containsKey(key) && Arrays.equals(s3.bytes(key), ERROR)))
                .as("%s holds exactly ERROR; objects %s", key, s3.objects(PREFIX + "/")).isTrue();
    }

    /** Waits until a multipart upload is pending for {@code key} (any key under the prefix if null). */
    private void awaitPending(String key) {
        assertThat(Ferry.await(DEADLINE, () -> s3.pendingMultipartUploads(PREFIX + "/").stream()
                .anyMatch(u -> key == null || u.key().equals(key))))
                .as("a multipart upload begun for %s", key == null ? "the upload" : key).isTrue();
    }

    private void awaitNoPending() {
        assertThat(Ferry.await(DEADLINE, () -> s3.pendingMultipartUploads(PREFIX + "/").isEmpty()))
                .as("no multipart upload pending: %s", s3.pendingMultipartUploads(PREFIX + "/")).isTrue();
    }

    /** The numbers N of keys PREFIX/N.file. */
    private static List<Long> numbers(java.util.Collection<String> keys) {
        return keys.stream().map(k -> Long.parseLong(k.substring(PREFIX.length() + 1, k.length() - ".file".length())))
                .toList();
    }
}
