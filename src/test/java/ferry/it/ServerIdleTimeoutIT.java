package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.SocketException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * S6 with the real 10 s default through the real launcher: a silent
 * connection is aborted 10 s after its last byte and its file reads exactly
 * {@code ERROR}; a slow but steady sender is never cut.
 */
class ServerIdleTimeoutIT {
    private static final Duration LIMIT = Duration.ofSeconds(10);
    /** How late the abort may come on a loaded machine; the server aims for a few milliseconds. */
    private static final Duration SLACK = Duration.ofMillis(1500);
    /** How long a watcher waits for its connection's reset. */
    private static final Duration WATCH = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    /**
     * <ol>
     * <li>Connection 1 sends 1000 bytes, then nothing.</li>
     * <li>Connection 2 sends nothing at all.</li>
     * <li>Connection 3 sends one byte every 2.5 s, six times (15 s, longer than the limit), then half-closes.</li>
     * <li>1 and 2 are cut 10 s after their last byte (or the accept) and read ERROR; 3 is saved whole.</li>
     * </ol>
     */
    @Test
    void aSilentConnectionIsCutAfterTenSecondsAndASteadyOneIsNot() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("files"), Map.of());
             var silent = FaultPeer.connect(server.port);
             var empty = FaultPeer.connect(server.port);
             var steady = FaultPeer.connect(server.port);
             var watchers = Executors.newThreadPerTaskExecutor(Thread.ofPlatform().factory())) {
            long emptyOpened = System.nanoTime();
            long silentLastByte = System.nanoTime(); // before the write: the server cannot see the bytes earlier
            silent.getOutputStream().write(Ferry.randomBytes(1000, 1));
            Future<Long> silentCut = watchers.submit(() -> FaultPeer.awaitReset(silent, WATCH));
            Future<Long> emptyCut = watchers.submit(() -> FaultPeer.awaitReset(empty, WATCH));
            for (int i = 0; i < 6; i++) {
                try {
                    steady.getOutputStream().write('a' + i);
                } catch (SocketException e) {
                    throw new AssertionError("the server cut the steady sender before byte " + (i + 1) + ", "
                            + Duration.ofNanos(System.nanoTime() - emptyOpened).toMillis() + " ms in: " + e);
                }
                Thread.sleep(2500);
            }
            steady.shutdownOutput();
            steady.setSoTimeout(10_000);
            assertThat(steady.getInputStream().read()).as("the steady upload is confirmed").isEqualTo(-1);

            assertThat(Duration.ofNanos(FaultPeer.resultOf(silentCut, WATCH) - silentLastByte)).isBetween(LIMIT, LIMIT.plus(SLACK));
            assertThat(Duration.ofNanos(FaultPeer.resultOf(emptyCut, WATCH) - emptyOpened)).isBetween(LIMIT.minusMillis(100), LIMIT.plus(SLACK));
            Ferry.awaitError(server.file(1), Duration.ofSeconds(1));
            Ferry.awaitError(server.file(2), Duration.ofSeconds(1));
            assertThat(server.file(3)).hasContent("abcdef");
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(1))).contains("outcome=idle-timeout");
            assertThat(server.awaitLogLine(3, Duration.ofSeconds(1))).contains("outcome=complete");
        }
    }
}
