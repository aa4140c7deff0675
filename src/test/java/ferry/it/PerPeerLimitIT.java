package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --max-per-peer N} through the real launcher: one address holds at most N connections; each one
 * beyond is reset at once, unnumbered, logged and counted; every way a connection ends gives its place back.
 * Without the option there is no limit (every other IT opens many connections from 127.0.0.1).
 */
class PerPeerLimitIT {
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    /** A connection from {@code from} to the server, every read with a deadline. */
    private static Socket connect(String from, int port) throws IOException {
        var socket = new Socket();
        socket.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
        socket.setSoTimeout(Math.toIntExact(DEADLINE.toMillis()));
        return socket;
    }

    /** Connects from 127.0.0.1 and asserts that the server resets the connection at once, before any byte. */
    private static void assertRefused(int port) throws IOException {
        Socket socket;
        try {
            socket = connect("127.0.0.1", port);
        } catch (ConnectException e) {
            throw e; // nothing listening: not a refusal
        } catch (SocketException e) {
            return; // the reset reached the connect (see FaultPeer.knock)
        }
        try (socket) {
            FaultPeer.awaitReset(socket, DEADLINE);
        }
    }

    /** Waits until connection {@code n}'s file exists: the connection was admitted and numbered. */
    private static void awaitNumber(Path dir, long n, String when) {
        Path file = dir.resolve(n + ".file");
        assertThat(Ferry.await(DEADLINE, () -> file.toFile().exists())).as("%s is created %s", file.getFileName(), when)
                .isTrue();
    }

    private static long count(String log, String fragment) {
        return Pattern.compile(Pattern.quote(fragment)).matcher(log).results().count();
    }

    /**
     * <ol>
     * <li>A server with {@code --max-per-peer 2} and metrics. Two connections from 127.0.0.1 send a little
     * and hold: they get numbers 1 and 2.</li>
     * <li>Two more from 127.0.0.1 are reset at once; the log has a per-peer refusal line for each, and the
     * metric counts 2. An upload from 127.0.0.2 meanwhile is served, as number 3.</li>
     * <li>The two held ones finish and are confirmed; then a new connection from 127.0.0.1 is served, as
     * number 4: refused connections used no number.</li>
     * </ol>
     */
    @Test
    void connectionsBeyondTheLimitAreResetLoggedAndCountedAndServedOnceOthersClose() throws Exception {
        int metricsPort = Ports.unused();
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), List.of("--metrics", "127.0.0.1:" + metricsPort,
                "--max-per-peer", "2"), dir, Map.of("FERRY_IDLE_TIMEOUT_MS", "60000"))) {
            var held = new ArrayList<Socket>();
            try {
                for (int i = 1; i <= 2; i++) {
                    var socket = connect("127.0.0.1", server.port);
                    held.add(socket);
                    socket.getOutputStream().write(Ferry.randomBytes(100, i));
                    awaitNumber(dir, i, "for a held connection");
                }
                assertRefused(server.port);
                assertRefused(server.port);
                String line = server.awaitLine(DEADLINE, "by=per-peer");
                assertThat(line).contains("refused peer=127.0.0.1:",
                        " reason=\"already 2 connections from 127.0.0.1 (--max-per-peer 2)\"");
                MetricsIT.awaitSample(metricsPort, "ferry_connections_refused_total{by=\"per-peer\"}", 2);
                assertThat(count(server.stdout(), "by=per-peer")).as("one log line per refusal").isEqualTo(2);

                FaultPeer.upload(InetAddress.getByName("127.0.0.2"), InetAddress.getLoopbackAddress(), server.port,
                        Ferry.randomBytes(100, 3));
                assertThat(server.awaitRecord(3).peer()).startsWith("127.0.0.2:");

                for (Socket socket : held) {
                    FaultPeer.finish(socket);
                }
            } finally {
                for (Socket socket : held) {
                    socket.close();
                }
            }
            FaultPeer.upload(server.port, Ferry.randomBytes(100, 4));
            var record = server.awaitRecord(4);
            assertThat(record.outcome()).isEqualTo("complete");
            assertThat(record.peer()).startsWith("127.0.0.1:");
            assertThat(server.awaitRecord(1).outcome()).isEqualTo("complete");
            assertThat(server.awaitRecord(2).outcome()).isEqualTo("complete");
            assertThat(server.loggedNumbers()).containsExactlyInAnyOrder(1L, 2L, 3L, 4L);
            assertThat(count(server.stdout(), "by=per-peer")).isEqualTo(2);
            Ferry.stop(server);
        }
    }

    /**
     * <ol>
     * <li>A server with {@code --max-per-peer 1}, a 1.5 s idle timeout and a 1000-byte limit.</li>
     * <li>From 127.0.0.1, one after another, each once the sender has seen its end: a complete upload;
     * one too large (reset by the server); one that goes silent (reset at the idle timeout); one the sender
     * resets (it cannot see when the server has closed its side, so the next is tried until served).</li>
     * <li>Each next connection is served: every ending gave its place back. Then, with one held, another
     * is still refused: the limit still holds, nothing was given back twice.</li>
     * </ol>
     */
    @Test
    void everyWayAConnectionEndsGivesItsPlaceBack() throws Exception {
        Path dir = tmp.resolve("endings");
        try (var server = Ferry.Server.start(List.of(), List.of("--max-per-peer", "1", "--idle-timeout-ms", "1500",
                "--max-bytes", "1000"), dir, Map.of())) {
            FaultPeer.upload(server.port, Ferry.randomBytes(100, 1));

            try (var socket = connect("127.0.0.1", server.port)) {
                awaitNumber(dir, 2, "after a complete upload");
                socket.getOutputStream().write(Ferry.randomBytes(2000, 2));
                FaultPeer.awaitReset(socket, DEADLINE);
            }

            try (var socket = connect("127.0.0.1", server.port)) {
                awaitNumber(dir, 3, "after one too large");
                socket.getOutputStream().write(Ferry.randomBytes(10, 3));
                FaultPeer.awaitReset(socket, DEADLINE);
            }

            try (var socket = connect("127.0.0.1", server.port)) {
                awaitNumber(dir, 4, "after an idle timeout");
                socket.getOutputStream().write(Ferry.randomBytes(10, 4));
                FaultPeer.reset(socket);
            }
            assertThat(Ferry.await(DEADLINE, () -> {
                try {
                    FaultPeer.upload(server.port, Ferry.randomBytes(100, 5));
                    return true;
                } catch (IOException e) {
                    return false; // refused while the server had not closed its side of the reset one yet
                }
            })).as("a connection is served after the sender's reset").isTrue();

            assertThat(server.awaitRecord(5).outcome()).isEqualTo("complete");
            assertThat(List.of(1L, 2L, 3L, 4L, 5L)).map(n -> server.awaitRecord(n).outcome())
                    .containsExactly("complete", "too-large", "idle-timeout", "reset", "complete");

            try (var socket = connect("127.0.0.1", server.port)) {
                awaitNumber(dir, 6, "after the others");
                assertRefused(server.port);
                FaultPeer.finish(socket);
            }
            assertThat(server.awaitRecord(6).outcome()).isEqualTo("complete");
            Ferry.stop(server);
        }
    }
}
