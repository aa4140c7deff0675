package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.it.TcpTable;
import java.io.IOException;
import java.net.InetSocketAddress;
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
    private static final Duration TEN_SECONDS = Duration.ofSeconds(10);

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
     * <li>The limit is two connections at once; three connect, and the third sends its whole upload.</li>
     * <li>1.file and 2.file appear, and the second is served (its bytes reach 2.file): it holds the other slot.</li>
     * <li>The third waits in the kernel's accept queue: unaccepted, unnumbered, with no file and no log line.</li>
     * <li>Connection 1 finishes: the third is accepted as 3, and its upload is saved.</li>
     * </ol>
     */
    @Test
    void atTheConnectionLimitNewConnectionsWaitUntilAnUploadEnds() throws Exception {
        start(2, 0, Duration.ZERO, Duration.ofSeconds(30));
        try (var first = new Socket("127.0.0.1", server.port());
             var second = new Socket("127.0.0.1", server.port())) {
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> Files.exists(dir.resolve("2.file")))).isTrue();
            try (var third = new Socket("127.0.0.1", server.port())) {
                third.getOutputStream().write("third".getBytes(StandardCharsets.US_ASCII));
                third.shutdownOutput();
                assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> log().contains("connection limit reached")))
                        .isTrue();
                second.getOutputStream().write("second".getBytes(StandardCharsets.US_ASCII));
                assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> hasContent(dir.resolve("2.file"), "second")))
                        .as("the second holds the other slot: its bytes are saved as they arrive").isTrue();
                assertThat(InProcessServer.await(Duration.ofSeconds(2), () -> TcpTable.acceptQueue(server.port()) == 1))
                        .as("the third waits in the kernel's accept queue (%d queued)", TcpTable.acceptQueue(server.port())).isTrue();
                assertThat(InProcessServer.await(Duration.ofMillis(500),
                        () -> Files.exists(dir.resolve("3.file")) || log().contains("conn=3 ")))
                        .as("no slot, no accept: the third gets no number, no file and no log line").isFalse();
                assertThat(TcpTable.acceptQueue(server.port())).as("the third still waits in the accept queue").isEqualTo(1);

                first.shutdownOutput();
                assertThat(Uploads.awaitEnd(first, TEN_SECONDS)).isEqualTo(Uploads.End.CONFIRMED);
                assertThat(Uploads.awaitEnd(third, TEN_SECONDS)).as("the third upload is served once a slot is free")
                        .isEqualTo(Uploads.End.CONFIRMED);
                assertThat(dir.resolve("3.file")).hasContent("third");
                assertThat(TcpTable.acceptQueue(server.port())).as("nothing is left in the accept queue").isZero();
            }
            assertThat(dir.resolve("1.file")).isEmptyFile();
            assertThat(log().split("connection limit reached", -1)).as("said once, not per waiting connection")
                    .hasSize(2);
        }
    }

    /**
     * <ol>
     * <li>The limit is one connection; the first sends some bytes.</li>
     * <li>A second connects, sends its whole upload and waits in the accept queue.</li>
     * <li>The first resets (SO_LINGER 0): its upload ends as ERROR with outcome reset, and its slot is free.</li>
     * <li>The second is accepted as 2 and saved.</li>
     * </ol>
     */
    @Test
    void anUploadEndedByAResetIsErrorAndFreesItsSlot() throws Exception {
        start(1, 0, Duration.ZERO, Duration.ofSeconds(30));
        try (var waiting = new Socket()) {
            try (var first = new Socket("127.0.0.1", server.port())) {
                first.getOutputStream().write("cut short".getBytes(StandardCharsets.US_ASCII));
                assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> hasContent(dir.resolve("1.file"), "cut short")))
                        .isTrue();
                waiting.connect(new InetSocketAddress("127.0.0.1", server.port()), 5_000);
                waiting.getOutputStream().write("second".getBytes(StandardCharsets.US_ASCII));
                waiting.shutdownOutput();
                assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> log().contains("connection limit reached")))
                        .isTrue();
                assertThat(dir.resolve("2.file")).as("no slot, no accept").doesNotExist();
                first.setSoLinger(true, 0);
            }
            assertThat(Uploads.awaitEnd(waiting, TEN_SECONDS))
                    .as("the waiting upload is served once the reset frees the slot").isEqualTo(Uploads.End.CONFIRMED);
        }
        assertThat(server.awaitLogLine(1)).containsPattern("conn=1 .*bytes=9 .*outcome=reset");
        assertThat(dir.resolve("1.file")).hasContent("ERROR");
        assertThat(dir.resolve("2.file")).hasContent("second");
    }

    @Test
    void anUploadLargerThanTheSizeLimitEndsAsErrorAndOneAtTheLimitIsSaved() throws Exception {
        start(10, 100_000, Duration.ZERO, Duration.ofSeconds(30));
        assertThat(Uploads.upload(server.port(), new byte[100_000])).isEqualTo(Uploads.End.CONFIRMED);
        assertThat(Files.size(dir.resolve("1.file"))).isEqualTo(100_000);
        assertThat(Uploads.upload(server.port(), new byte[100_001])).as("the server cuts the upload")
                .isEqualTo(Uploads.End.RESET);
        assertThat(server.awaitLogLine(2)).containsPattern("conn=2 .*outcome=too-large");
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

    private static boolean hasContent(Path file, String expected) {
        try {
            return Files.readString(file, StandardCharsets.US_ASCII).equals(expected);
        } catch (IOException e) {
            return false;
        }
    }
}
