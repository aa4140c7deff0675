package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code ./client} against receivers on loopback. Covers C4 of the
 * spec, except the connect timeout (a black hole needs a network namespace;
 * tested elsewhere).
 */
class ClientIT {
    private static final long SMALL = 500;
    private static final long MEDIUM = 1 << 20;
    private static final long LARGE = 100L << 20;
    /** A shortened client timeout, for the timeout tests that need not wait the real 10 s. */
    private static final Duration SHORT = Duration.ofMillis(1500);
    private static final Map<String, String> SHORT_TIMEOUT =
            Map.of("FERRY_CLIENT_TIMEOUT_MS", Long.toString(SHORT.toMillis()));
    /** Room for the client's JVM to start (and, on a fresh clone, for the first build). */
    private static final Duration ACCEPT_DEADLINE = Duration.ofSeconds(60);
    private static final String USAGE = "usage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>";

    @TempDir
    static Path files;
    private static Path small;
    private static Path medium;
    private static Path large;
    private static final Map<Long, String> DIGESTS = new HashMap<>();

    @TempDir
    Path tmp;

    @BeforeAll
    static void createFilesAndBuild() throws Exception {
        small = Ferry.randomFile(files, "small.bin", SMALL, 1);
        medium = Ferry.randomFile(files, "medium.bin", MEDIUM, 2);
        large = Ferry.randomFile(files, "large.bin", LARGE, 3);
        for (Path file : List.of(small, medium, large)) {
            DIGESTS.put(Files.size(file), RawReceiver.sha256(file));
        }
        // A first run builds the launcher jar, so that no timing below includes a build.
        var build = Ferry.run("client", List.of(), Map.of(), Ferry.START_DEADLINE);
        assertThat(build.exitCode()).as("./client without arguments: %s", build.stderr()).isEqualTo(2);
    }

    // ---- C4: network and server failures -------------------------------------------------------

    /**
     * <ol>
     * <li>A raw receiver accepts the connection and never reads.</li>
     * <li>The client sends a 100 MiB file until both socket buffers are full.</li>
     * <li>With the default timeout (the variable unset), it gives up 10 s after
     * the network took its last byte: ERROR line, exit 1, no sooner than 9.5 s
     * and within 13 s after the connection was accepted.</li>
     * <li>It aborts the connection: the receiver, draining the part of the file
     * that was buffered, sees a reset, not an end of file.</li>
     * </ol>
     */
    @Test
    void givesUpAfterTheDefault10SecondsWhenTheReceiverNeverReads() throws Exception {
        givesUpWhenTheReceiverNeverReads(Map.of(), Duration.ofSeconds(10), "10 s", Duration.ofSeconds(13));
    }

    /**
     * <ol>
     * <li>A raw receiver accepts the connection and never reads.</li>
     * <li>The client, with FERRY_CLIENT_TIMEOUT_MS=1500, sends a 100 MiB file
     * until both socket buffers are full.</li>
     * <li>It gives up 1.5 s after the network took its last byte (within 4 s):
     * ERROR line naming the limit, exit 1.</li>
     * <li>The receiver sees a reset, not an end of file.</li>
     * </ol>
     */
    @Test
    void givesUpAfterAShortenedTimeoutWhenTheReceiverNeverReads() throws Exception {
        givesUpWhenTheReceiverNeverReads(SHORT_TIMEOUT, SHORT, "1.5 s", Duration.ofSeconds(4));
    }

    private static void givesUpWhenTheReceiverNeverReads(Map<String, String> env, Duration timeout, String limit,
            Duration within) throws Exception {
        try (var receiver = RawReceiver.open();
             var client = ClientProcess.start("127.0.0.1", receiver.port(), large, env)) {
            receiver.accept(ACCEPT_DEADLINE);
            long acceptedAt = System.nanoTime();

            var result = client.awaitExit(timeout.plusSeconds(10));

            assertFailed(result, "ERROR: the server took no data for " + Pattern.quote(limit)
                    + " \\((\\d+) of " + LARGE + " bytes sent\\); giving up");
            Matcher sent = Pattern.compile("\\((\\d+) of").matcher(result.firstStderrLine());
            assertThat(sent.find()).isTrue();
            assertThat(Long.parseLong(sent.group(1))).as("bytes the network took").isPositive().isLessThan(LARGE);
            assertThat(Duration.ofNanos(client.exitedAt() - acceptedAt))
                    .as("time from accept to giving up")
                    .isGreaterThanOrEqualTo(timeout.minus(timeout.dividedBy(20)))
                    .isLessThan(within);
            assertThat(receiver.endsInReset(Duration.ofSeconds(10)))
                    .as("the partial upload ends in a reset, not a clean end of file").isTrue();
        }
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** Exit 1, nothing on stdout, exactly one stderr line matching {@code regex}. */
    private static void assertFailed(Ferry.Result result, String regex) {
        assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(1);
        assertThat(result.stdout()).as("stdout").isEmpty();
        assertThat(result.stderr().lines().toList()).as("stderr lines").hasSize(1);
        assertThat(result.firstStderrLine()).matches(regex);
    }
}
