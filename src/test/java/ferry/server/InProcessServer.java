package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.common.UserError;
import ferry.server.net.FerryServer;
import ferry.server.numbering.ConnectionCounter;
import ferry.server.numbering.LocalCounter;
import ferry.server.store.FileSink;
import ferry.server.report.Log;
import ferry.server.store.SinkFactory;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.function.BooleanSupplier;

/** A {@link FerryServer} in the test's JVM on a free loopback port, with its log kept in memory. */
final class InProcessServer implements AutoCloseable {
    private final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    final FerryServer server;

    /** Starts a server with {@code config}, whose port should be 0, saving to its directory. */
    InProcessServer(ServerConfig config) throws Exception {
        this(config, new LocalCounter(), FileSink.in(config.directory()));
    }

    /** Starts a server with {@code config} (port 0), numbering with {@code counter} and saving through {@code sinks}. */
    InProcessServer(ServerConfig config, ConnectionCounter counter, SinkFactory sinks) throws Exception {
        var log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);
        server = start(config, counter, sinks, log);
    }

    /** Binds {@code config}'s port (and address) and serves on it, as {@link ServerMain} does without its options. */
    static FerryServer start(ServerConfig config, ConnectionCounter counter, SinkFactory sinks, PrintStream out)
            throws UserError {
        return FerryServer.start(FerryServer.bind(config.port(), config.service().listen()), config.net(), counter,
                sinks, new Log(out, config.service().logFormat()), List.of());
    }

    int port() {
        return server.port();
    }

    /** Everything logged so far. */
    String log() {
        synchronized (logBytes) {
            return logBytes.toString(StandardCharsets.UTF_8);
        }
    }

    /** Waits (at most 5 s) for connection {@code n}'s log line, written when it ends, and returns it. */
    String awaitLogLine(long n) throws InterruptedException {
        var prefix = " ferry: conn=" + n + " "; // after the timestamp
        assertThat(await(Duration.ofSeconds(5), () -> log().contains(prefix)))
                .as("connection %d is logged; log so far:%n%s", n, log()).isTrue();
        return log().lines().filter(line -> line.contains(prefix)).findFirst().orElseThrow();
    }

    @Override
    public void close() {
        server.stop();
    }

    /** Polls {@code condition} every 10 ms until it holds or {@code deadline} passes. */
    static boolean await(Duration deadline, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + deadline.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                return false;
            }
            Thread.sleep(10);
        }
        return true;
    }
}
