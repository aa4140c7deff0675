package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.it.Ports;
import ferry.server.store.UploadDirectory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The metrics endpoint's life, in-process through {@link ServerMain#run}: it
 * serves while the server runs and is gone once it has stopped; a metrics
 * port that cannot be bound fails the start and leaves nothing held (the
 * upload port, the directory's lock). The launcher-level behaviour is MetricsIT's.
 */
class MetricsEndpointIT {
    private static final Duration DEADLINE = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private ServerMain main() {
        return new ServerMain(Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private static HttpResponse<String> get(int port) throws IOException, InterruptedException {
        try (var client = HttpClient.newBuilder().connectTimeout(DEADLINE).build()) {
            return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                    .timeout(DEADLINE).build(), HttpResponse.BodyHandlers.ofString());
        }
    }

    /**
     * <ol>
     * <li>The server starts with {@code --metrics 127.0.0.1:M} and, once it logs that it listens, M answers.</li>
     * <li>One upload is counted.</li>
     * <li>The server is stopped through its parent pipe and returns OK; M then refuses connections.</li>
     * </ol>
     */
    @Test
    void theEndpointServesWhileTheServerRunsAndStopsWithIt() throws Exception {
        int port = Ports.unused();
        // Both are picked before either is bound: they must differ.
        int metricsPort = IntStream.generate(Ports::unused).filter(p -> p != port).findFirst().orElseThrow();
        var stop = new PipedOutputStream();
        var pipe = new PipedInputStream(stop);
        var result = new AtomicReference<ExitCode>();
        var server = Thread.ofPlatform().name("metrics-endpoint-server").start(() -> result.set(main().run(
                new String[] {"--metrics", "127.0.0.1:" + metricsPort, Integer.toString(port), dir.toString()}, pipe)));
        try {
            assertThat(InProcessServer.await(DEADLINE, () -> out.toString(StandardCharsets.UTF_8).contains("listening")))
                    .as("the server starts; stderr: %s", err).isTrue();
            assertThat(Uploads.upload(port, "counted".getBytes(StandardCharsets.US_ASCII)))
                    .as("the server confirms with a close").isEqualTo(Uploads.End.CONFIRMED);
            assertThat(InProcessServer.await(DEADLINE, () -> scrape(metricsPort)
                    .contains("ferry_uploads_total{outcome=\"complete\"} 1.0"))).isTrue();
        } finally {
            stop.close();
            server.join(DEADLINE);
        }
        assertThat(server.isAlive()).as("the server has stopped").isFalse();
        assertThat(result.get()).isEqualTo(ExitCode.OK);
        assertThatThrownBy(() -> new Socket("127.0.0.1", metricsPort).close())
                .as("the metrics port is closed with the server").isInstanceOf(ConnectException.class);
    }

    private static String scrape(int port) {
        try {
            var response = get(port);
            return response.statusCode() == 200 ? response.body() : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    /**
     * <ol>
     * <li>Another socket holds the metrics port M.</li>
     * <li>{@code run} returns FAILURE with one ERROR line naming M, and logs nothing.</li>
     * <li>The upload port can be bound again and the directory opened again: neither is held.</li>
     * </ol>
     */
    @Test
    void aMetricsPortInUseFailsTheStartAndLeavesThePortAndTheDirectoryFree() throws Exception {
        int port = Ports.unused();
        try (var taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            int metricsPort = taken.getLocalPort();
            ExitCode code = main().run(new String[] {"--metrics", "127.0.0.1:" + metricsPort, Integer.toString(port),
                    dir.toString()}, null);
            assertThat(code).isEqualTo(ExitCode.FAILURE);
            assertThat(err.toString(StandardCharsets.UTF_8)).isEqualTo("ERROR: cannot serve metrics on 127.0.0.1 port "
                    + metricsPort + ": address already in use\n");
            assertThat(out.toString(StandardCharsets.UTF_8)).isEmpty();
        }
        try (var again = new ServerSocket()) {
            again.bind(new InetSocketAddress(port));
        }
        UploadDirectory.open(dir).close();
    }
}
