package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code ./server} under load and at the edges of its resources:
 * thousands of connections at once, too few file descriptors, idle CPU, and a
 * file beyond 4 GiB.
 */
class ServerResourcesIT {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    /** CPU a server may use while nothing happens, over {@link #IDLE_WINDOW}: a few scheduler ticks. */
    private static final Duration IDLE_CPU = Duration.ofMillis(60);
    private static final Duration IDLE_WINDOW = Duration.ofSeconds(3);
    /** How often {@link #awaitSettled} samples the server's CPU, and how long it waits at most. */
    private static final Duration SETTLE_SAMPLE = Duration.ofMillis(300);
    private static final Duration SETTLE_DEADLINE = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    private static byte[] payload(int i) {
        byte[] random = Ferry.randomBytes(2000 + i % 1000, i);
        byte[] tag = ("upload " + i + "\n").getBytes(StandardCharsets.US_ASCII);
        byte[] data = new byte[tag.length + random.length];
        System.arraycopy(tag, 0, data, 0, tag.length);
        System.arraycopy(random, 0, data, tag.length, random.length);
        return data;
    }

    /**
     * Opens {@code count} connections one after another, each sending {@link #payload}
     * of its place in the order, and asserts that every one is confirmed and that
     * N.file holds the N-th payload.
     *
     * @param connectAllFirst open every connection before any sends, so all are open at once
     */
    private static void uploadTagged(Ferry.Server server, int count, boolean connectAllFirst) throws IOException {
        try (var sockets = new FaultPeer.Connections()) {
            for (int i = 1; i <= count; i++) {
                sockets.add(FaultPeer.connect(server.port));
                if (!connectAllFirst) {
                    send(sockets.get(i - 1), payload(i));
                }
            }
            for (int i = 1; connectAllFirst && i <= count; i++) {
                send(sockets.get(i - 1), payload(i));
            }
            for (Socket socket : sockets) {
                FaultPeer.awaitClose(socket);
            }
        }
        for (int n = 1; n <= count; n++) {
            assertThat(server.file(n)).hasBinaryContent(payload(n));
        }
    }

    private static void send(Socket socket, byte[] data) throws IOException {
        socket.getOutputStream().write(data);
        socket.shutdownOutput();
    }

    /**
     * Waits until the server's CPU time stands still (at most one 10 ms tick
     * over {@link #SETTLE_SAMPLE}), so that start-up compilation or the work of
     * accepting is over before idle CPU is measured; fails if that does not
     * happen within {@link #SETTLE_DEADLINE}.
     */
    private static void awaitSettled(Ferry.Server server, String when) {
        var previous = new AtomicReference<Duration>();
        var lastStep = new AtomicReference<Duration>();
        boolean settled = Ferry.await(SETTLE_DEADLINE, SETTLE_SAMPLE, () -> {
            Duration now = server.cpuTime();
            Duration before = previous.getAndSet(now);
            if (before == null) {
                return false; // the first sample only starts the clock
            }
            lastStep.set(now.minus(before));
            return lastStep.get().compareTo(Duration.ofMillis(10)) <= 0;
        });
        assertThat(settled).as("the server's CPU settles %s within %s (last %s: %s)", when, SETTLE_DEADLINE,
                SETTLE_SAMPLE, lastStep.get()).isTrue();
    }

    /** CPU the server uses over {@link #IDLE_WINDOW} while the test does nothing. */
    private static Duration cpuWhileIdle(Ferry.Server server) throws InterruptedException {
        Duration before = server.cpuTime();
        Thread.sleep(IDLE_WINDOW.toMillis());
        return server.cpuTime().minus(before);
    }

    /**
     * <ol>
     * <li>2,000 connections open one after another and stay open.</li>
     * <li>Each then sends its own payload, tagged with its place in the order, and half-closes.</li>
     * <li>N.file holds exactly the payload of the N-th connection, for every N.</li>
     * </ol>
     */
    @Test
    void twoThousandSimultaneousConnectionsAreNumberedInAcceptOrderWithEveryByteIntact() throws Exception {
        int count = 2000;
        try (var server = Ferry.Server.start(tmp.resolve("files"))) {
            uploadTagged(server, count, true);
            assertThat(server.file(count + 1)).doesNotExist();
        }
    }

    /**
     * <ol>
     * <li>./server runs with 128 file descriptors and no connection limit of its own.</li>
     * <li>300 connections arrive: the server runs out of descriptors.</li>
     * <li>The server stays up, backs off instead of spinning (near-idle CPU), and logs the failure.</li>
     * <li>Once the connections close, a new upload is saved intact.</li>
     * </ol>
     */
    @Test
    void outOfDescriptorsTheServerBacksOffAndServesAgainOnceTheyAreFree() throws Exception {
        assumeTrue(Ferry.has("prlimit"), "prlimit (util-linux) is not installed");
        var env = Map.of("FERRY_MAX_CONNECTIONS", "1000", "FERRY_IDLE_TIMEOUT_MS", "60000");
        try (var server = Ferry.Server.start(tmp.resolve("files"), env, List.of("prlimit", "--nofile=128:128"))) {
            try (var sockets = new FaultPeer.Connections()) {
                for (int i = 0; i < 300; i++) {
                    sockets.add(FaultPeer.connect(server.port));
                }
                server.awaitLine(Duration.ofSeconds(10), "Too many open files"); // out of descriptors
                // The burst of accepts and file opens ends first (sooner or later, with the machine's load);
                // a server that spun on the failure would never settle, and the wait would fail.
                awaitSettled(server, "out of descriptors");
                assertThat(cpuWhileIdle(server)).as("CPU while out of descriptors").isLessThan(IDLE_CPU.multipliedBy(3));
                assertThat(server.process.isAlive()).isTrue();
            }
            // The closed connections drain first, in back-off rounds of up to a second each (about 2 s here
            // when the machine is quiet, far more under load): the upload below waits for them only once they
            // are all recorded, so that the client's 10 s rule measures the server serving again, not the
            // drain. A server that never served again would never record them all.
            assertThat(Ferry.await(Duration.ofSeconds(90), Duration.ofMillis(100), () -> server.records().size() >= 300))
                    .as("all 300 connections recorded once their descriptors are free:%n%s", server.stdout())
                    .isTrue();
            byte[] data = Ferry.randomBytes(123_457, 7);
            Path source = Files.write(tmp.resolve("after.bin"), data);
            var result = Ferry.client("127.0.0.1", server.port, source, Map.of());
            assertThat(result.exitCode()).as(result.stderr()).isZero();
            var line = Pattern.compile("conn=(\\d+) \\S+ bytes=123457 \\S+ outcome=complete").matcher(server.stdout());
            assertThat(line.find()).as("the upload is logged complete:%n%s", server.stdout()).isTrue();
            assertThat(server.file(Long.parseLong(line.group(1)))).hasBinaryContent(data);
            assertThat(server.stdout()).as("no accepted connection was given up for want of a descriptor")
                    .doesNotContain("outcome=write-failed");
            assertThat(server.stderr()).isEmpty();
        }
    }

    /**
     * <ol>
     * <li>./server runs with 128 file descriptors and its default connection limit, derived from them.</li>
     * <li>300 connections arrive and upload: accepting never fails; the extra ones wait their turn.</li>
     * <li>All 300 uploads are saved, in accept order.</li>
     * </ol>
     */
    @Test
    void withFewDescriptorsTheDefaultLimitKeepsAcceptFromFailing() throws Exception {
        assumeTrue(Ferry.has("prlimit"), "prlimit (util-linux) is not installed");
        int count = 300;
        try (var server = Ferry.Server.start(tmp.resolve("files"), Map.of(), List.of("prlimit", "--nofile=128:128"))) {
            server.awaitLine(Duration.ofSeconds(5), "up to 32 uploads at once"); // the limit follows from 128 descriptors
            uploadTagged(server, count, false);
            assertThat(server.stdout()).doesNotContain("accept failed").doesNotContain("write-failed");
        }
    }

    /** Neither an idle server nor one holding 500 idle connections burns CPU. */
    @Test
    void anIdleServerAndOneHoldingIdleConnectionsUseNoCpu() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("files"), Map.of("FERRY_IDLE_TIMEOUT_MS", "60000"))) {
            awaitSettled(server, "after start-up");
            assertThat(cpuWhileIdle(server)).as("CPU of an idle server").isLessThan(IDLE_CPU);
            try (var sockets = new FaultPeer.Connections()) {
                for (int i = 0; i < 500; i++) {
                    sockets.add(FaultPeer.connect(server.port));
                }
                assertThat(Ferry.await(Duration.ofSeconds(10), () -> Files.exists(server.file(500)))).isTrue();
                awaitSettled(server, "once the 500 connections are accepted");
                assertThat(cpuWhileIdle(server)).as("CPU with 500 idle connections").isLessThan(IDLE_CPU);
            }
        }
    }

    /**
     * <ol>
     * <li>A sparse 4.5 GiB file with marks around 2^31 and 2^32 and at its end.</li>
     * <li>./client sends it to ./server, which saves it in a tmpfs (in memory, when root may mount one,
     * so that the disk's write-back speed does not set the pace).</li>
     * <li>1.file equals it byte for byte: no 32-bit size anywhere.</li>
     * </ol>
     */
    @Test
    void aFileLargerThanFourGibRoundTripsIntact() throws Exception {
        long size = (9L << 30) / 2;
        Path files = Files.createDirectories(tmp.resolve("files"));
        // In memory, when root may mount a tmpfs, so that the disk's write-back speed does not set the pace.
        try (var mount = Mount.tryTmpfs(files, "5g")) {
            roundTrip(files, size);
        }
    }

    private void roundTrip(Path files, long size) throws Exception {
        assumeTrue(Files.getFileStore(files).getUsableSpace() > size + (100L << 20),
                "needs 4.6 GiB free under " + files + " for the 4.5 GiB upload");
        Path source = tmp.resolve("sparse.bin");
        try (var file = new RandomAccessFile(source.toFile(), "rw")) {
            file.setLength(size);
            for (long at : new long[] {0, (1L << 31) - 3, (1L << 32) - 3, (1L << 32) + 4096, size - 100}) {
                file.seek(at);
                file.write(Ferry.randomBytes(100, at));
            }
        }
        try (var server = Ferry.Server.start(files)) {
            var result = Ferry.run("client", List.of("127.0.0.1", Integer.toString(server.port), source.toString()),
                    Map.of(), Duration.ofMinutes(5));
            assertThat(result.exitCode()).as(result.stderr()).isZero();
            assertThat(server.awaitLogLine(1, DEADLINE)).contains(" bytes=" + size + " ").contains("outcome=complete");
            assertThat(Files.size(server.file(1))).isEqualTo(size);
            assertThat(Files.mismatch(server.file(1), source)).isEqualTo(-1L);
        } finally {
            Files.deleteIfExists(source);
        }
    }
}
