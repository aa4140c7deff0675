package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.server.numbering.ConnectionCounter;
import ferry.server.numbering.LocalCounter;
import ferry.server.store.FileSink;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A counter that fails (a remote one, unreachable) delays new uploads but
 * loses none and never kills the accept loop: the accepted connection waits
 * while the counter is asked again, with a back-off, not in a busy loop.
 */
class CounterFailuresIT {
    @TempDir
    Path dir;

    private InProcessServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    /** A counter whose first {@code failures} calls throw (alternately a RuntimeException and an IOException). */
    private static final class FlakyCounter implements ConnectionCounter {
        final AtomicInteger calls = new AtomicInteger();
        private final int failures;
        private final LocalCounter numbers = new LocalCounter();

        FlakyCounter(int failures) {
            this.failures = failures;
        }

        @Override
        public long next() throws IOException {
            int call = calls.incrementAndGet();
            if (call <= failures) {
                if (call % 2 == 0) {
                    throw new IOException("database unreachable");
                }
                throw new IllegalStateException("counter bug");
            }
            return numbers.next();
        }
    }

    /**
     * <ol>
     * <li>The counter fails four times, then works.</li>
     * <li>A sender connects and uploads meanwhile: its connection waits for its number.</li>
     * <li>It is numbered 1 and confirmed; the failures are logged with their back-off; later uploads are served.</li>
     * </ol>
     */
    @Test
    void anAcceptedConnectionWaitsForACounterThatFailsAndIsThenServed() throws Exception {
        var counter = new FlakyCounter(4);
        server = new InProcessServer(new ServerConfig(0, dir, Duration.ofSeconds(30)), counter, FileSink.in(dir));
        byte[] data = "kept while the counter was down".getBytes(StandardCharsets.US_ASCII);
        assertThat(Uploads.upload(server.port(), data)).isEqualTo(Uploads.End.CONFIRMED);
        assertThat(dir.resolve("1.file")).hasBinaryContent(data);
        assertThat(server.log())
                .contains("cannot number the connection from 127.0.0.1:")
                .contains("(unexpected failure: java.lang.IllegalStateException: counter bug), retrying in 10 ms")
                .contains("(database unreachable), retrying in 20 ms")
                .contains("numbering works again");
        assertThat(Uploads.upload(server.port(), data)).isEqualTo(Uploads.End.CONFIRMED);
        assertThat(dir.resolve("2.file")).hasBinaryContent(data);
        assertThat(server.log()).contains("conn=1 ").contains("conn=2 ").doesNotContain("Exception\n\tat");
    }

    /**
     * <ol>
     * <li>The counter always fails; a sender connects.</li>
     * <li>For 2.5 s the counter is asked at most a dozen times (10 ms doubling to 1 s), not in a loop.</li>
     * <li>The server stops promptly; the waiting connection is reset, unnumbered, with no file.</li>
     * </ol>
     */
    @Test
    void aCounterThatKeepsFailingIsRetriedWithABackOffAndStoppingStillWorks() throws Exception {
        var counter = new FlakyCounter(Integer.MAX_VALUE);
        server = new InProcessServer(new ServerConfig(0, dir, Duration.ofSeconds(30)), counter, FileSink.in(dir));
        try (var socket = new java.net.Socket("127.0.0.1", server.port())) {
            socket.getOutputStream().write(1);
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> counter.calls.get() > 0)).isTrue();
            Thread.sleep(2500);
            assertThat(counter.calls.get()).as("calls in 2.5 s").isBetween(5, 12);
            long stopping = System.nanoTime();
            server.close();
            assertThat(Duration.ofNanos(System.nanoTime() - stopping)).isLessThan(Duration.ofSeconds(2));
            assertThat(Uploads.awaitEnd(socket, Duration.ofSeconds(5))).isEqualTo(Uploads.End.RESET);
        }
        assertThat(server.log()).contains("reset unnumbered: the server is stopping");
        assertThat(dir).isEmptyDirectory();
    }
}
