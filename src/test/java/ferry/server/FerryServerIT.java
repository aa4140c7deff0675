package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
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
        var sockets = new ArrayList<Socket>();
        try {
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
                assertThat(sockets.get(i - 1).getInputStream().read()).isEqualTo(-1);
                assertThat(dir.resolve(i + ".file")).hasContent("payload " + i);
            }
        } finally {
            for (Socket socket : sockets) {
                socket.close();
            }
        }
    }

    /**
     * The idle limit counts from the last byte.
     * <ol>
     * <li>Connection 1 sends a byte every third of the limit, six times: well past the limit in total.</li>
     * <li>Connection 2 sends one byte and goes silent.</li>
     * <li>Connection 2 is aborted one limit after its byte; connection 1 one limit after its last byte.</li>
     * </ol>
     */
    @Test
    void abortsAConnectionExactlyOneIdleLimitAfterItsLastByte() throws Exception {
        start();
        try (var steady = new Socket("127.0.0.1", server.port());
             var silent = new Socket("127.0.0.1", server.port());
             var watchers = Executors.newThreadPerTaskExecutor(Thread.ofPlatform().factory())) {
            Future<Long> steadyCut = watchers.submit(() -> awaitReset(steady));
            Future<Long> silentCut = watchers.submit(() -> awaitReset(silent));
            silent.getOutputStream().write('x');
            long silentLastByte = System.nanoTime();
            long steadyLastByte = 0;
            for (int i = 0; i < 6; i++) {
                steady.getOutputStream().write('y');
                steadyLastByte = System.nanoTime();
                Thread.sleep(IDLE.toMillis() / 3);
            }
            assertThat(Duration.ofNanos(silentCut.get() - silentLastByte)).isBetween(IDLE, IDLE.plusMillis(300));
            assertThat(Duration.ofNanos(steadyCut.get() - steadyLastByte)).isBetween(IDLE, IDLE.plusMillis(300));
        }
        assertThat(dir.resolve("1.file")).hasContent("ERROR");
        assertThat(dir.resolve("2.file")).hasContent("ERROR");
        assertThat(server.log()).contains("conn=1 ", "conn=2 ").contains("outcome=idle-timeout");
    }

    @Test
    void aConnectionWithoutAnyDataIsAlsoCutAfterTheLimit() throws Exception {
        start();
        try (var socket = new Socket("127.0.0.1", server.port())) {
            long opened = System.nanoTime();
            long cut = awaitReset(socket);
            assertThat(Duration.ofNanos(cut - opened)).isBetween(IDLE.minusMillis(50), IDLE.plusMillis(300));
        }
        assertThat(dir.resolve("1.file")).hasContent("ERROR");
    }

    @Test
    void stoppingAbortsUploadsInFlightAndKeepsFinishedOnes() throws Exception {
        start();
        try (var done = new Socket("127.0.0.1", server.port())) {
            done.getOutputStream().write("finished".getBytes(StandardCharsets.US_ASCII));
            done.shutdownOutput();
            assertThat(done.getInputStream().read()).isEqualTo(-1);
        }
        var inFlight = new ArrayList<Socket>();
        try {
            for (int i = 0; i < 5; i++) {
                var socket = new Socket("127.0.0.1", server.port());
                socket.getOutputStream().write(new byte[10_000]);
                inFlight.add(socket);
            }
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> Files.exists(dir.resolve("6.file")))).isTrue();
            long start = System.nanoTime();
            assertThat(server.server.stop()).isTrue();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
        } finally {
            for (Socket socket : inFlight) {
                socket.close();
            }
        }
        assertThat(dir.resolve("1.file")).hasContent("finished");
        for (int i = 2; i <= 6; i++) {
            assertThat(dir.resolve(i + ".file")).hasContent("ERROR");
        }
        assertThat(server.server.stop()).as("a second stop is a no-op").isFalse();
    }

    /** Blocks until the server ends the connection; returns when that was seen. */
    private static long awaitReset(Socket socket) {
        try {
            socket.setSoTimeout(10_000);
            InputStream in = socket.getInputStream();
            int read = in.read();
            assertThat(read).as("the server sends nothing").isEqualTo(-1);
        } catch (SocketException e) {
            // A reset: the expected way for an aborted upload to end.
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return System.nanoTime();
    }

}
