package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FILE-DIR {@code s3://BUCKET/PREFIX}: the real {@code ./server} storing into
 * a real S3 server (s3proxy, {@link TestS3}), fed by {@code nc}, {@code ./client}
 * and raw sockets. Parts of 5 MiB (the least S3 takes) keep the multipart
 * cases small.
 */
class S3StorageIT {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final int MIB = 1 << 20;
    private static final List<String> SMALL_PARTS = List.of("--s3-part-mib", "5", "--s3-memory-mib", "20");

    @TempDir
    Path tmp;
    private TestS3 s3;
    private final List<Ferry.Server> servers = new ArrayList<>();

    @BeforeEach
    void startS3() throws Exception {
        s3 = TestS3.start();
    }

    @AfterEach
    void stopAll() {
        servers.forEach(Ferry.Server::close);
        if (s3 != null) {
            s3.close();
        }
    }

    private Ferry.Server start(List<String> options, String prefix, Map<String, String> extraEnv) throws IOException {
        var env = new HashMap<>(s3.env());
        env.putAll(extraEnv);
        var server = Ferry.Server.start(options, s3.url(prefix), env);
        servers.add(server);
        return server;
    }

    /**
     * Sizes around every boundary: empty, one byte, below one part, exactly
     * one part, one part and a byte, several parts; from nc and ./client.
     * Each object holds exactly the bytes sent, under PREFIX/N.file numbered
     * from 1 in order, and no multipart upload is left pending.
     */
    @Test
    void uploadsOfEverySizeBecomeObjectsHoldingExactlyTheirBytes() throws Exception {
        var server = start(SMALL_PARTS, "in/box", Map.of());
        long[] sizes = {0, 1, 3 * MIB + 17, 5 * MIB, 5 * MIB + 1, 17 * MIB + 5, 10 * MIB};
        var expected = new LinkedHashMap<String, String>();
        for (int i = 0; i < sizes.length; i++) {
            Path file = Ferry.randomFile(tmp, "f" + i, sizes[i], i);
            if (i % 2 == 0) {
                var sent = Ferry.exec(List.of("nc", "-N", "127.0.0.1", Integer.toString(server.port)), Map.of(), file,
                        DEADLINE);
                assertThat(sent.exitCode()).as("nc of %d bytes: %s", sizes[i], sent.stderr()).isZero();
            } else {
                Ferry.assertSucceeded(Ferry.client("127.0.0.1", server.port, file, Map.of()));
            }
            // The sender is told of success only once the object is complete: it is there now.
            String key = "in/box/" + (i + 1) + ".file";
            assertThat(s3.objects("in/box/")).as("after upload %d", i + 1).containsEntry(key, sizes[i]);
            expected.put(key, Checksums.sha256(file));
        }
        for (var entry : expected.entrySet()) {
            assertThat(s3.sha256(entry.getKey())).as(entry.getKey()).isEqualTo(entry.getValue());
        }
        assertThat(s3.objects("")).hasSize(sizes.length);
        assertThat(s3.pendingMultipartUploads("")).isEmpty();
        assertThat(server.awaitLogLine(7, DEADLINE)).contains("outcome=complete", "file=s3://ferry-test/in/box/7.file");
        Ferry.stop(server);
    }

    /**
     * Uploads that fail (the sender resets; the sender goes silent) end as
     * objects holding exactly ERROR, below one part (never sent) and beyond
     * it (a multipart upload begun, then aborted: no parts left pending).
     */
    @Test
    void failedUploadsEndAsErrorObjectsAndLeaveNoPartsBehind() throws Exception {
        var server = start(SMALL_PARTS, "p", Map.of("FERRY_IDLE_TIMEOUT_MS", "1500"));
        resetAfter(server.port, 2 * MIB);
        resetAfter(server.port, 13 * MIB);
        try (var silent = sendWithoutEnd(server.port, 12 * MIB)) {
            assertThat(server.awaitLogLine(3, DEADLINE)).contains("outcome=idle-timeout");
        }
        assertThat(server.awaitLogLine(1, DEADLINE)).contains("outcome=reset");
        assertThat(server.awaitLogLine(2, DEADLINE)).contains("outcome=reset");
        for (int n = 1; n <= 3; n++) {
            assertThat(new String(s3.bytes("p/" + n + ".file"), StandardCharsets.US_ASCII)).as("p/%d.file", n)
                    .isEqualTo("ERROR");
        }
        assertThat(s3.pendingMultipartUploads("")).isEmpty();
        // The server serves on.
        Path file = Ferry.randomFile(tmp, "after", 6 * MIB, 4);
        Ferry.assertSucceeded(Ferry.client("127.0.0.1", server.port, file, Map.of()));
        assertThat(s3.sha256("p/4.file")).isEqualTo(Checksums.sha256(file));
        Ferry.stop(server);
    }

    /**
     * An object that appears under the prefix after the server started (a
     * second receiver misconfigured without a shared counter, say) is never
     * overwritten: the upload that would have replaced it fails (the sender
     * is told so), its log line says why, and the object keeps its bytes.
     */
    @Test
    void anObjectAlreadyThereIsNeverOverwritten() throws Exception {
        var server = start(SMALL_PARTS, "p", Map.of());
        s3.put("p/1.file", "earlier".getBytes(StandardCharsets.US_ASCII));
        s3.put("p/2.file", "earlier too".getBytes(StandardCharsets.US_ASCII));
        var small = Ferry.client("127.0.0.1", server.port, Ferry.randomFile(tmp, "small", 1000, 1), Map.of());
        assertThat(small.exitCode()).as("client, stderr: %s", small.stderr()).isNotZero();
        var large = Ferry.client("127.0.0.1", server.port, Ferry.randomFile(tmp, "large", 7 * MIB, 2), Map.of());
        assertThat(large.exitCode()).as("client, stderr: %s", large.stderr()).isNotZero();
        assertThat(server.awaitLogLine(1, DEADLINE)).contains("outcome=write-failed", "never overwritten");
        assertThat(server.awaitLogLine(2, DEADLINE)).contains("outcome=write-failed", "never overwritten");
        assertThat(new String(s3.bytes("p/1.file"), StandardCharsets.US_ASCII)).isEqualTo("earlier");
        assertThat(new String(s3.bytes("p/2.file"), StandardCharsets.US_ASCII)).isEqualTo("earlier too");
        assertThat(s3.pendingMultipartUploads("")).isEmpty();
        Ferry.stop(server);
    }

    /**
     * Without a shared counter, a server numbers on after the highest N.file
     * an earlier run left directly under its prefix (not in a deeper folder,
     * nor other names), and says so.
     */
    @Test
    void numberingContinuesAfterTheObjectsAnEarlierRunLeft() throws Exception {
        s3.put("p/7.file", "seven".getBytes(StandardCharsets.US_ASCII));
        s3.put("p/3.file", "three".getBytes(StandardCharsets.US_ASCII));
        s3.put("p/deeper/99.file", "deeper".getBytes(StandardCharsets.US_ASCII));
        s3.put("p/50.file.txt", "other".getBytes(StandardCharsets.US_ASCII));
        s3.put("p2/80.file", "another prefix".getBytes(StandardCharsets.US_ASCII));
        var server = start(List.of(), "p", Map.of());
        assertThat(server.stdout()).contains("numbering continues after 7");
        Path file = Ferry.randomFile(tmp, "next", 100, 3);
        Ferry.assertSucceeded(Ferry.client("127.0.0.1", server.port, file, Map.of()));
        assertThat(s3.sha256("p/8.file")).isEqualTo(Checksums.sha256(file));
        assertThat(new String(s3.bytes("p/7.file"), StandardCharsets.US_ASCII)).isEqualTo("seven");
        Ferry.stop(server);
    }

    /**
     * The store gone mid-run: uploads end as failures the sender is told of
     * (./client exits non-zero), the server logs why and serves on, and once
     * the store is back, uploads complete again.
     */
    @Test
    void whileTheStoreIsDownUploadsFailAndTheServerRecoversWhenItIsBack() throws Exception {
        var server = start(SMALL_PARTS, "p", Map.of());
        Path first = Ferry.randomFile(tmp, "first", 2 * MIB, 1);
        Ferry.assertSucceeded(Ferry.client("127.0.0.1", server.port, first, Map.of()));
        s3.stop();
        for (long size : new long[] {1000, 11 * MIB}) {
            var result = Ferry.client("127.0.0.1", server.port, Ferry.randomFile(tmp, "down" + size, size, size),
                    Map.of());
            assertThat(result.exitCode()).as("client while the store is down, stderr: %s", result.stderr()).isNotZero();
        }
        assertThat(server.awaitLogLine(2, DEADLINE)).contains("outcome=write-failed");
        assertThat(server.awaitLogLine(3, DEADLINE)).contains("outcome=write-failed");
        s3.startAgain();
        Path after = Ferry.randomFile(tmp, "after", 12 * MIB, 9);
        Ferry.assertSucceeded(Ferry.client("127.0.0.1", server.port, after, Map.of()));
        assertThat(s3.sha256("p/4.file")).isEqualTo(Checksums.sha256(after));
        assertThat(s3.sha256("p/1.file")).isEqualTo(Checksums.sha256(first));
        assertThat(server.stderr()).isEmpty();
        Ferry.stop(server);
    }

    /**
     * A store slower than the sender (a relay passing 4 MiB/s towards it):
     * the upload takes more than 4 s, most of it waiting for the store with
     * two parts of memory full, far longer than the idle timeout of 1 s; that
     * wait never counts as the sender's idleness, and the upload completes intact.
     */
    @Test
    void aSlowStoreNeverCountsAsTheSendersIdleness() throws Exception {
        try (var link = new SlowLink(s3.port, 4 << 20)) {
            var env = new HashMap<>(Map.of("FERRY_IDLE_TIMEOUT_MS", "1000"));
            env.put("AWS_ENDPOINT_URL", "http://127.0.0.1:" + link.port());
            var server = start(List.of("--s3-part-mib", "5", "--s3-memory-mib", "10"), "slow", env);
            Path file = Ferry.randomFile(tmp, "slow", 20 * MIB, 5);
            var result = Ferry.client("127.0.0.1", server.port, file, Map.of());
            Ferry.assertSucceeded(result);
            assertThat(result.elapsed()).as("paced by the store").isGreaterThan(Duration.ofSeconds(4));
            assertThat(s3.sha256("slow/1.file")).isEqualTo(Checksums.sha256(file));
            assertThat(server.awaitLogLine(1, DEADLINE)).contains("outcome=complete");
            Ferry.stop(server);
        }
    }

    /**
     * The store's answer to the PUT that creates a small upload's object is
     * lost (the relay closes the connection after the store has acted on it):
     * the SDK retries, the retry's {@code If-None-Match: *} meets the object
     * the first attempt created, and the upload recognises it as its own (its
     * token in the object's metadata): complete, not {@code write-failed}.
     */
    @Test
    void aRequestRetriedAfterItsAnswerWasLostRecognisesItsOwnObject() throws Exception {
        try (var link = new AnswerLosingLink(s3.port)) {
            var server = start(SMALL_PARTS, "lost", Map.of("AWS_ENDPOINT_URL", "http://127.0.0.1:" + link.port()));
            link.loseNextAnswer("PUT", "if-none-match");
            Path small = Ferry.randomFile(tmp, "small", 1000, 21);
            Ferry.assertSucceeded(Ferry.client("127.0.0.1", server.port, small, Map.of()));
            assertThat(link.lost()).isEqualTo(1);
            assertThat(s3.sha256("lost/1.file")).isEqualTo(Checksums.sha256(small));
            assertThat(server.awaitLogLine(1, DEADLINE)).contains("outcome=complete");
            Ferry.stop(server);
        }
    }

    /** A bucket that is missing or a store that cannot be reached: one ERROR line, exit 1, at start. */
    @Test
    void aMissingBucketOrAnUnreachableStoreIsOneErrorLineAtStart() throws Exception {
        var missing = Ferry.run("server", List.of(Integer.toString(Ports.unused()), "s3://no-such-bucket/p"), s3.env(), Duration.ofSeconds(120));
        assertThat(missing.exitCode()).isEqualTo(1);
        assertThat(missing.stderr().lines().toList()).singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                .startsWith("ERROR: cannot use s3://no-such-bucket/p").contains("no such bucket");
        var env = new HashMap<>(s3.env());
        Ferry.Result unreachable;
        try (var refusing = new Ports.Refusing()) {
            env.put("AWS_ENDPOINT_URL", "http://127.0.0.1:" + refusing.port);
            unreachable = Ferry.run("server", List.of(Integer.toString(Ports.unused()), s3.url("p")), env,
                    Duration.ofSeconds(120));
        }
        assertThat(unreachable.exitCode()).isEqualTo(1);
        assertThat(unreachable.stderr().lines().toList()).singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                .startsWith("ERROR: cannot use s3://ferry-test/p at http://127.0.0.1:").doesNotContain("Exception");
        var options = Ferry.run("server", List.of("--s3-part-mib", "4", Integer.toString(Ports.unused()), s3.url("p")), s3.env(),
                Duration.ofSeconds(120));
        assertThat(options.exitCode()).isEqualTo(2);
        assertThat(options.stderr()).startsWith("ERROR: invalid --s3-part-mib 4: S3 takes parts of 5 MiB or more");
        // A heap too small for the part buffers (a JVM in a container of 1 GiB): refused at start, not an
        // OutOfMemoryError under load (issue 18, item 8).
        var smallHeap = new HashMap<>(s3.env());
        smallHeap.put("JAVA_TOOL_OPTIONS", "-Xmx192m");
        var heap = Ferry.run("server", List.of(Integer.toString(Ports.unused()), s3.url("p")), smallHeap,
                Duration.ofSeconds(120));
        assertThat(heap.exitCode()).isEqualTo(2);
        assertThat(heap.stderr().lines().filter(l -> !l.startsWith("Picked up JAVA_TOOL_OPTIONS")).toList())
                .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                .startsWith("ERROR: --s3-memory-mib 160 does not fit in the server's heap of ")
                .endsWith(" MiB (its part buffers and 64 MiB for the rest): give the server more memory, or lower"
                        + " --s3-memory-mib");
        var fits = Ferry.run("server", List.of("--s3-memory-mib", "96", Integer.toString(Ports.unused()),
                "s3://no-such-bucket/p"), smallHeap, Duration.ofSeconds(120));
        assertThat(fits.stderr()).as("96 MiB fits in that heap: the start goes on to the bucket")
                .contains("ERROR: cannot use s3://no-such-bucket/p");
    }

    /** Without s3://, nothing of the AWS SDK (nor ferry's S3 classes) is loaded; with it, they are. */
    @Test
    void nothingOfTheSdkIsLoadedForADirectory() throws Exception {
        List<String> off = loadedClasses(tmp.resolve("dir").toString(), "off");
        assertThat(off).anyMatch(line -> line.contains("ferry.server.ServerMain "));
        assertThat(off).noneMatch(line -> line.contains("software.amazon") || line.contains("org.slf4j")
                || line.contains("ferry.server.store.S3") || line.contains("ferry.server.store.PartMemory"));
        List<String> on = loadedClasses(s3.url("p"), "on");
        assertThat(on).anyMatch(line -> line.contains("software.amazon.awssdk.services.s3.S3Client "));
        assertThat(on).anyMatch(line -> line.contains("ferry.server.store.S3Sink "));
    }

    private List<String> loadedClasses(String destination, String name) throws Exception {
        Path log = tmp.resolve("classes-" + name + ".log");
        var env = new HashMap<>(s3.env());
        env.put("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + log);
        try (var server = Ferry.Server.start(List.of(), destination, env)) {
            Path file = Ferry.randomFile(tmp, "one-" + name, 10, 1);
            Ferry.assertSucceeded(Ferry.client("127.0.0.1", server.port, file, Map.of()));
            Ferry.stop(server);
        }
        return Files.readAllLines(log);
    }

    /** Sends {@code bytes} and then resets the connection (SO_LINGER 0). */
    private static void resetAfter(int port, long bytes) throws IOException {
        FaultPeer.reset(sendWithoutEnd(port, bytes));
    }

    /** Sends {@code bytes} and then neither ends nor sends more, until closed. */
    private static Socket sendWithoutEnd(int port, long bytes) throws IOException {
        var socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
        OutputStream out = socket.getOutputStream();
        byte[] chunk = new byte[64 * 1024];
        for (long left = bytes; left > 0; left -= chunk.length) {
            out.write(chunk, 0, (int) Math.min(chunk.length, left));
        }
        out.flush();
        return socket;
    }

}
