package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.it.FaultPeer;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server in-process on a loopback port: numbering, the idle rule and stopping. */
class FerryServerIT {
    private static final Duration IDLE = Duration.ofMillis(600);
    private static final Duration TEN_SECONDS = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private InProcessServer server;

    private InProcessServer start() throws Exception {
        return start(IDLE);
    }

    private InProcessServer start(Duration idle) throws Exception {
        server = new InProcessServer(new ServerConfig(0, dir, idle));
        return server;
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void numbersConnectionsInTheOrderTheyAreAccepted() throws Exception {
        start(Duration.ofSeconds(60)); // opening fifty connections may outlast a short idle limit on a loaded machine
        try (var sockets = new FaultPeer.Connections()) {
            for (int i = 1; i <= 50; i++) {
                var socket = new Socket("127.0.0.1", server.port());
                sockets.add(socket);
                Path file = dir.resolve(i + ".file");
                assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> Files.exists(file))).isTrue();
            }
            // Send in reverse order: numbers follow accepts, not the order data arrives.
            for (int i = sockets.size(); i >= 1; i--) {
                Socket socket = sockets.get(i - 1);
                socket.getOutputStream().write(("payload " + i).getBytes(StandardCharsets.US_ASCII));
                socket.shutdownOutput();
            }
            for (int i = 1; i <= 50; i++) {
                assertThat(Uploads.awaitEnd(sockets.get(i - 1), Duration.ofSeconds(10))).isEqualTo(Uploads.End.CONFIRMED);
                assertThat(dir.resolve(i + ".file")).hasContent("payload " + i);
            }
        }
    }

    /**
     * The idle limit counts from each connection's own last byte, whichever
     * event loop holds it. The connections go silent in the reverse of their
     * accept order, so on any loop that holds two of them the later-accepted one
     * goes silent first while the earlier one, registered before it, is still
     * sending: a loop that does not keep its connections in order of last
     * activity cuts the later one only with the earlier one, at least
     * {@code STAGGER} late. With more connections than loops (one loop per
     * core), some loop holds two, however connections are assigned to loops.
     * <ol>
     * <li>2 × cores + 2 connections open, in order; each sends a byte every third of the limit.</li>
     * <li>The last one stops at once, each earlier one {@code STAGGER} later than the next.</li>
     * <li>Each is reset one limit after its own last byte (within the slack), and its file reads ERROR.</li>
     * </ol>
     */
    @Test
    void abortsEachConnectionOneIdleLimitAfterItsOwnLastByteWhateverLoopItIsOn() throws Exception {
        start();
        int count = 2 * Runtime.getRuntime().availableProcessors() + 2;
        long tick = IDLE.toNanos() / 3;
        int ticksPerStagger = 2; // STAGGER = 2 ticks = 400 ms, more than the 300 ms slack
        long[] lastByte = new long[count + 1];
        try (var watchers = Executors.newThreadPerTaskExecutor(Thread.ofPlatform().factory());
             var sockets = new FaultPeer.Connections()) {
            var cuts = new ArrayList<Future<Long>>();
            for (int i = 1; i <= count; i++) {
                var socket = new Socket("127.0.0.1", server.port());
                sockets.add(socket);
                Path file = dir.resolve(i + ".file");
                assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> Files.exists(file)))
                        .as("connection %d is accepted as %d", i, i).isTrue();
                cuts.add(watchers.submit(() -> FaultPeer.awaitReset(socket, TEN_SECONDS)));
            }
            long begin = System.nanoTime();
            for (int k = 0; k <= ticksPerStagger * (count - 1); k++) {
                long due = begin + k * tick;
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(Duration.ofNanos(wait));
                }
                for (int i = 1; i <= count; i++) {
                    if (k <= ticksPerStagger * (count - i)) {
                        lastByte[i] = System.nanoTime(); // before the write: the server cannot see it earlier
                        try {
                            sockets.get(i - 1).getOutputStream().write('a' + k % 26);
                        } catch (SocketException e) {
                            throw new AssertionError("connection " + i + " was cut while still sending, "
                                    + Duration.ofNanos(lastByte[i] - begin).toMillis() + " ms into the test: " + e);
                        }
                    }
                }
            }
            for (int i = 1; i <= count; i++) {
                long cut = FaultPeer.resultOf(cuts.get(i - 1), TEN_SECONDS);
                assertThat(Duration.ofNanos(cut - lastByte[i]))
                        .as("connection %d of %d: from its last byte to its reset", i, count)
                        .isBetween(IDLE, IDLE.plusMillis(300));
            }
        }
        for (int i = 1; i <= count; i++) {
            assertThat(dir.resolve(i + ".file")).hasContent("ERROR");
            assertThat(server.log()).containsPattern("conn=" + i + " .*outcome=idle-timeout");
        }
    }

    @Test
    void aConnectionWithoutAnyDataIsAlsoCutAfterTheLimit() throws Exception {
        start();
        try (var socket = new Socket("127.0.0.1", server.port())) {
            long opened = System.nanoTime();
            long cut = FaultPeer.awaitReset(socket, TEN_SECONDS);
            assertThat(Duration.ofNanos(cut - opened)).isBetween(IDLE.minusMillis(50), IDLE.plusMillis(300));
        }
        assertThat(dir.resolve("1.file")).hasContent("ERROR");
    }

    /**
     * A slow but steady sender is never cut: the idle clock restarts with every byte.
     * <ol>
     * <li>A sender writes one byte every 0.6 × the limit, eight times (about five limits in all), then half-closes.</li>
     * <li>The server closes cleanly, the file holds the eight bytes and the log says complete.</li>
     * </ol>
     */
    @Test
    void aSlowButSteadySenderIsNeverCut() throws Exception {
        start();
        long gapMillis = IDLE.toMillis() * 6 / 10;
        try (var socket = new Socket("127.0.0.1", server.port())) {
            long opened = System.nanoTime();
            for (int i = 0; i < 8; i++) {
                try {
                    socket.getOutputStream().write('a' + i);
                } catch (SocketException e) {
                    throw new AssertionError("the server cut a steady sender before byte " + (i + 1) + ", "
                            + Duration.ofNanos(System.nanoTime() - opened).toMillis() + " ms after it connected: " + e);
                }
                Thread.sleep(gapMillis);
            }
            socket.shutdownOutput();
            assertThat(Uploads.awaitEnd(socket, Duration.ofSeconds(5))).as("the server confirms the upload with a clean close")
                    .isEqualTo(Uploads.End.CONFIRMED);
        }
        assertThat(dir.resolve("1.file")).hasContent("abcdefgh");
        assertThat(server.awaitLogLine(1)).contains(" bytes=8 ", "outcome=complete");
    }

    /**
     * A sender that resets its connection has not finished its upload.
     * <ol>
     * <li>A sender writes 14 bytes; once they are in 1.file, it closes with SO_LINGER 0 (a reset, no half-close).</li>
     * <li>1.file reads ERROR and the log says reset.</li>
     * <li>A sender that writes everything and resets at once, without a half-close, ends the same way.</li>
     * <li>The server serves on: the next upload is saved.</li>
     * </ol>
     */
    @Test
    void aSenderThatResetsLeavesErrorAndTheServerServesOn() throws Exception {
        start(Duration.ofSeconds(30));
        byte[] partial = "partial upload".getBytes(StandardCharsets.US_ASCII);
        try (var resetting = new Socket("127.0.0.1", server.port())) {
            resetting.getOutputStream().write(partial);
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> sizeOf(dir.resolve("1.file")) == partial.length))
                    .as("the bytes reach 1.file").isTrue();
            resetting.setSoLinger(true, 0);
        }
        assertThat(server.awaitLogLine(1)).contains(" bytes=14 ", "outcome=reset");
        assertThat(dir.resolve("1.file")).hasContent("ERROR");

        try (var resetting = new Socket("127.0.0.1", server.port())) {
            resetting.getOutputStream().write("all of it, no half-close".getBytes(StandardCharsets.US_ASCII));
            resetting.setSoLinger(true, 0);
        }
        assertThat(server.awaitLogLine(2)).contains("outcome=reset");
        assertThat(dir.resolve("2.file")).hasContent("ERROR");

        assertThat(Uploads.upload(server.port(), "next".getBytes(StandardCharsets.US_ASCII)))
                .isEqualTo(Uploads.End.CONFIRMED);
        assertThat(dir.resolve("3.file")).hasContent("next");
        assertThat(server.awaitLogLine(3)).contains("outcome=complete");
    }

    private static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return -1;
        }
    }

    @Test
    void stoppingAbortsUploadsInFlightAndKeepsFinishedOnes() throws Exception {
        start();
        assertThat(Uploads.upload(server.port(), "finished".getBytes(StandardCharsets.US_ASCII)))
                .isEqualTo(Uploads.End.CONFIRMED);
        try (var inFlight = new FaultPeer.Connections()) {
            for (int i = 0; i < 5; i++) {
                var socket = new Socket("127.0.0.1", server.port());
                socket.getOutputStream().write(new byte[10_000]);
                inFlight.add(socket);
            }
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> Files.exists(dir.resolve("6.file")))).isTrue();
            long start = System.nanoTime();
            assertThat(server.server.stop()).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
        }
        assertThat(dir.resolve("1.file")).hasContent("finished");
        for (int i = 2; i <= 6; i++) {
            assertThat(dir.resolve(i + ".file")).hasContent("ERROR");
        }
        assertThat(server.server.stop()).as("a second stop is a no-op").isFalse();
    }
}
