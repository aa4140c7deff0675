package ferry.server.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.server.numbering.LocalCounter;
import ferry.server.report.Log;
import ferry.server.store.FileSink;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * An Error on an event loop's thread stops the whole server, which then
 * says why (for {@code ServerMain}'s {@code ERROR:} line and exit 1), rather
 * than leaving a dead loop that the listener goes on handing connections.
 */
@Timeout(60)
class LoopFailureTest {
    @TempDir
    Path dir;

    /**
     * <ol>
     *   <li>A server (port 0) has saved an upload; one sender is connected with 5 bytes sent.</li>
     *   <li>An OutOfMemoryError is thrown on every loop's thread.</li>
     *   <li>The server stops on its own: failure() names the loop and the Error, the connection in
     *       flight is reset and its file reads ERROR, and the port takes no new connection.</li>
     * </ol>
     */
    @Test
    void anErrorOnALoopStopsTheServerAndSaysWhy() throws Exception {
        var logText = new ByteArrayOutputStream();
        var log = new Log(new PrintStream(logText, true, StandardCharsets.UTF_8));
        var config = new NetConfig(Duration.ofSeconds(30), 16, 0, Duration.ZERO, 16L << 20, false,
                AccessRules.EVERYONE, null, dir);
        var channel = FerryServer.bind(0, InetAddress.getLoopbackAddress());
        FerryServer server = FerryServer.start(channel, config, new LocalCounter(), FileSink.in(dir), log, List.of());
        try (var inFlight = new Socket()) {
            int port = server.port();
            inFlight.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
            inFlight.setSoTimeout(20_000);
            inFlight.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
            Path file = dir.resolve("1.file");
            await(() -> Files.exists(file) && Files.size(file) == 5, logText);

            server.postToLoops(() -> {
                throw new OutOfMemoryError("injected");
            });

            var stopped = CompletableFuture.runAsync(server::awaitStopped);
            stopped.get(20, TimeUnit.SECONDS);
            assertThat(server.failure()).matches("event loop \\d+ failed: java.lang.OutOfMemoryError: injected");
            assertThat(logText.toString(StandardCharsets.UTF_8)).contains("stopping: event loop")
                    .contains("conn=1 ").contains("outcome=internal-error");
            assertThatThrownBy(() -> inFlight.getInputStream().read()).isInstanceOf(java.net.SocketException.class);
            assertThat(file).hasContent("ERROR");
            assertThatThrownBy(() -> {
                try (var late = new Socket()) {
                    late.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
                }
            }).as("the port takes no new connection").isInstanceOf(ConnectException.class);
        } finally {
            server.stop();
        }
    }

    private static void await(java.util.concurrent.Callable<Boolean> condition, ByteArrayOutputStream log)
            throws Exception {
        long deadline = System.nanoTime() + EventLoopTest.DEADLINE.toNanos();
        while (!condition.call()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("waited in vain; the log:\n" + log.toString(StandardCharsets.UTF_8));
            }
            Thread.sleep(5);
        }
    }
}
