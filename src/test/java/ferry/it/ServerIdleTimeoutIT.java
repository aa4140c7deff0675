package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
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
            Future<Long> silentCut = watchers.submit(() -> awaitEnd(silent));
            Future<Long> emptyCut = watchers.submit(() -> awaitEnd(empty));
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

            assertThat(Duration.ofNanos(resultOf(silentCut) - silentLastByte)).isBetween(LIMIT, LIMIT.plus(SLACK));
            assertThat(Duration.ofNanos(resultOf(emptyCut) - emptyOpened)).isBetween(LIMIT.minusMillis(100), LIMIT.plus(SLACK));
            Ferry.awaitError(server.file(1), Duration.ofSeconds(1));
            Ferry.awaitError(server.file(2), Duration.ofSeconds(1));
            assertThat(server.file(3)).hasContent("abcdef");
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(1))).contains("outcome=idle-timeout");
            assertThat(server.awaitLogLine(3, Duration.ofSeconds(1))).contains("outcome=complete");
        }
    }

    /** The watcher's result (at most 30 s away), or its own failure rethrown. */
    private static long resultOf(Future<Long> watcher) throws Exception {
        try {
            return watcher.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AssertionError failure) {
                throw failure;
            }
            throw e;
        }
    }

    /**
     * Blocks until the server resets the connection (ECONNRESET on read), how it
     * ends an aborted upload, and returns when; a clean close (end of stream), a
     * byte, or nothing within 30 s fails the test.
     */
    private static long awaitEnd(Socket socket) {
        try {
            socket.setSoTimeout(30_000);
            int read = socket.getInputStream().read();
            throw new AssertionError(read == -1
                    ? "expected a reset, but the server closed the connection cleanly (end of stream)"
                    : "expected a reset, but the server sent a byte (" + read + ")");
        } catch (SocketTimeoutException e) {
            throw new AssertionError("expected a reset within 30 s, but the connection stayed open", e);
        } catch (SocketException e) {
            assertThat(e).as("how the connection ended").hasMessageContaining("Connection reset");
            return System.nanoTime();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
