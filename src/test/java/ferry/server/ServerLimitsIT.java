package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The limits that protect the server from senders that hold on
 * (FERRY_MAX_CONNECTIONS, FERRY_MAX_BYTES, FERRY_MAX_DURATION_MS), in-process
 * on a loopback port.
 */
class ServerLimitsIT {
    @TempDir
    Path dir;

    private InProcessServer server;

    private void start(int maxConnections, long maxBytes, Duration maxDuration, Duration idle) throws Exception {
        server = new InProcessServer(new ServerConfig(0, dir, idle, maxConnections, maxBytes, maxDuration));
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private String log() {
        return server.log();
    }

    /**
     * <ol>
     * <li>The limit is two connections at once; three connect.</li>
     * <li>1.file and 2.file appear; the third waits in the accept queue, unnumbered, with no file.</li>
     * <li>Connection 1 finishes: the third is accepted as 3, and its upload is saved.</li>
     * </ol>
     */
    @Test
    void atTheConnectionLimitNewConnectionsWaitUntilAnUploadEnds() throws Exception {
        start(2, 0, Duration.ZERO, Duration.ofSeconds(30));
        try (var first = new Socket("127.0.0.1", server.port());
             var second = new Socket("127.0.0.1", server.port());
             var third = new Socket("127.0.0.1", server.port())) {
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> Files.exists(dir.resolve("2.file")))).isTrue();
            assertThat(second.isConnected()).as("the second holds the other slot").isTrue();
            third.getOutputStream().write("third".getBytes(StandardCharsets.US_ASCII));
            third.shutdownOutput();
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> log().contains("connection limit reached"))).isTrue();
            assertThat(dir.resolve("3.file")).as("no slot, no accept").doesNotExist();

            first.shutdownOutput();
            assertThat(first.getInputStream().read()).isEqualTo(-1);
            third.setSoTimeout(10_000);
            assertThat(third.getInputStream().read()).as("the third upload is served once a slot is free")
                    .isEqualTo(-1);
            assertThat(dir.resolve("3.file")).hasContent("third");
            assertThat(dir.resolve("1.file")).isEmptyFile();
            assertThat(log().split("connection limit reached", -1)).as("said once, not per waiting connection")
                    .hasSize(2);
        }
    }

    @Test
    void anUploadLargerThanTheSizeLimitEndsAsErrorAndOneAtTheLimitIsSaved() throws Exception {
        start(10, 100_000, Duration.ZERO, Duration.ofSeconds(30));
        try (var atLimit = new Socket("127.0.0.1", server.port())) {
            atLimit.getOutputStream().write(new byte[100_000]);
            atLimit.shutdownOutput();
            assertThat(atLimit.getInputStream().read()).isEqualTo(-1);
        }
        assertThat(Files.size(dir.resolve("1.file"))).isEqualTo(100_000);
        try (var tooLarge = new Socket("127.0.0.1", server.port())) {
            assertThat(sendUntilCut(tooLarge, 100_001)).as("the server cuts the upload").isTrue();
        }
        assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> log().contains("conn=2 "))).isTrue();
        assertThat(log()).containsPattern("conn=2 .*outcome=too-large");
        assertThat(dir.resolve("2.file")).hasContent("ERROR");
    }

    /**
     * <ol>
     * <li>Uploads may last 1 s; the idle limit is 30 s.</li>
     * <li>A sender writes a byte every 100 ms, never idle.</li>
     * <li>It is cut 1 s after it was accepted, and its file reads ERROR.</li>
     * </ol>
     */
    @Test
    void anUploadThatOutlastsTheDurationLimitEndsAsErrorEvenIfItNeverIdles() throws Exception {
        start(10, 0, Duration.ofSeconds(1), Duration.ofSeconds(30));
        try (var drip = new Socket("127.0.0.1", server.port())) {
            long opened = System.nanoTime();
            boolean cut = false;
            while (!cut && System.nanoTime() - opened < 5_000_000_000L) {
                try {
                    drip.getOutputStream().write('x');
                    Thread.sleep(100);
                } catch (SocketException e) {
                    cut = true;
                }
                cut |= log().contains("conn=1 ");
            }
            assertThat(cut).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - opened)).isBetween(Duration.ofSeconds(1), Duration.ofMillis(1800));
        }
        assertThat(log()).containsPattern("conn=1 .*outcome=too-long");
        assertThat(dir.resolve("1.file")).hasContent("ERROR");
    }

    /** Writes {@code size} bytes and half-closes; true when the server then reset instead of confirming. */
    private static boolean sendUntilCut(Socket socket, int size) {
        try {
            socket.getOutputStream().write(new byte[size]);
            socket.shutdownOutput();
            return socket.getInputStream().read() != -1;
        } catch (IOException e) {
            return true;
        }
    }
}
