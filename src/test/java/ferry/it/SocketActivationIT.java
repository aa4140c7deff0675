package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Socket activation through the real launcher and systemd's own tool for it,
 * {@code systemd-socket-activate}, which listens, and on the first connection
 * executes {@code ./server} in its own place with the socket as descriptor 3,
 * {@code LISTEN_FDS=1} and {@code LISTEN_PID} its PID, as systemd does for a
 * service with {@code Accept=no}: the server serves on that socket, stops on
 * SIGTERM with exit 0 (an upload in flight ends as ERROR), and refuses a
 * socket that does not match its command line or is not a listening one.
 */
class SocketActivationIT {
    /** The server's grace period is 3 s; a stop with one upload in flight takes far less. */
    private static final Duration PROMPT = Duration.ofMillis(2500);

    @TempDir
    Path tmp;

    @BeforeAll
    static void needsTheTool() {
        Assumptions.assumeTrue(Ferry.has("systemd-socket-activate"),
                "systemd-socket-activate is not installed (Debian package systemd): socket activation not tested");
    }

    /**
     * Starts {@code systemd-socket-activate OPTIONS ./server ARGS} and waits
     * until the tool itself listens on each of {@code ports}. The ports are
     * named before anything listens ({@link Ports#unused}): the tool and the
     * launcher take no port 0.
     */
    static Proc activate(List<String> options, List<String> serverArgs, int... ports) throws IOException {
        var command = new ArrayList<String>();
        command.add("systemd-socket-activate");
        command.addAll(options);
        // Only these variables reach the server: the tool passes PATH, HOME and TERM besides its own.
        command.add("--setenv=JAVA_HOME=" + System.getenv().getOrDefault("JAVA_HOME", ""));
        command.addAll(Proc.launcher("server", serverArgs));
        // The tool's own notes (listening, executing) are info messages: keep them out of standard error.
        var activator = Proc.start(command, Map.of("SYSTEMD_LOG_LEVEL", "warning"), null);
        for (int port : ports) {
            if (!Ferry.await(Duration.ofSeconds(10), () -> TcpTable.listeningBy(activator.process().toHandle(), port)
                    || !activator.isAlive()) || !activator.isAlive()) {
                String err = activator.stderr();
                activator.close();
                throw new AssertionError("systemd-socket-activate did not listen on " + port + ": " + err);
            }
        }
        return activator;
    }

    /** Sends {@code file} with nc, as any peer would, and waits for it to finish. */
    private static void ncSend(int port, Path file) throws Exception {
        var result = Ferry.exec(List.of("nc", "-N", "127.0.0.1", Integer.toString(port)), Map.of(), file,
                Duration.ofSeconds(30));
        assertThat(result.exitCode()).as("nc; stderr: %s", result.stderr()).isZero();
    }

    /**
     * <ol>
     * <li>systemd-socket-activate listens on a free port; nc connects and sends 1 MiB, which starts ./server.</li>
     * <li>./server takes the socket (it says so), 1.file holds the bytes, and a second upload is 2.file.</li>
     * <li>A third upload is in flight; SIGTERM ends the server with exit 0 within the grace period,
     * 3.file reads ERROR, and nothing listens on the port afterwards.</li>
     * </ol>
     */
    @Test
    void theServerServesOnTheSocketFromSystemdAndStopsOnSigterm() throws Exception {
        Assumptions.assumeTrue(Ferry.has("nc"), "nc is not installed");
        int port = Ports.unused();
        Path dir = tmp.resolve("files");
        Path upload = Ferry.randomFile(tmp, "upload", 1 << 20, 7);
        try (var activator = activate(List.of("--listen=127.0.0.1:" + port),
                List.of(Integer.toString(port), dir.toString()), port)) {
            ncSend(port, upload);
            Ferry.awaitContent(dir.resolve("1.file"), Files.readAllBytes(upload), Ferry.START_DEADLINE);
            assertThat(activator.stdout()).contains("ferry: listening on port " + port + " (socket from systemd), saving to "
                    + dir);
            ncSend(port, upload);
            Ferry.awaitContent(dir.resolve("2.file"), Files.readAllBytes(upload), Duration.ofSeconds(10));

            try (var inFlight = FaultPeer.connect(port)) {
                inFlight.getOutputStream().write(new byte[1000]);
                assertThat(Ferry.await(Duration.ofSeconds(10), () -> Ferry.sizeOf(dir.resolve("3.file")) == 1000))
                        .isTrue();
                long start = System.nanoTime();
                Ferry.signal(activator.pid(), "TERM");
                var result = activator.awaitExit(Duration.ofSeconds(10));
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(PROMPT);
                assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
                assertThat(result.stderr()).isEmpty();
            }
            assertThat(dir.resolve("3.file")).hasContent("ERROR");
            assertThat(activator.stdout()).contains("conn=3 ").contains("outcome=shutdown").contains("ferry: stopped");
            assertThat(Ferry.listening(port)).as("the socket is released").isFalse();
        }
    }

    /**
     * <ol>
     * <li>The socket listens on one port, ./server is told another.</li>
     * <li>A connection starts it: one ERROR line naming both ports, exit 2, no directory made.</li>
     * </ol>
     */
    @Test
    void aPortThatIsNotTheSocketsIsOneErrorLineAndExitCode2() throws Exception {
        int port = Ports.unused();
        int other = port == 65535 ? port - 1 : port + 1;
        Path dir = tmp.resolve("files");
        try (var activator = activate(List.of("--listen=127.0.0.1:" + port),
                List.of(Integer.toString(other), dir.toString()), port)) {
            FaultPeer.knock(port);
            var result = activator.awaitExit(Ferry.START_DEADLINE);
            assertThat(result.exitCode()).isEqualTo(2);
            assertThat(result.stdout()).isEmpty();
            assertThat(result.stderr()).isEqualTo("ERROR: port " + other + " does not match the socket from systemd, "
                    + "which listens on port " + port + ": make <PORT> the socket unit's ListenStream= port\n");
            assertThat(dir).doesNotExist();
        }
    }

    /**
     * <ol>
     * <li>systemd-socket-activate --accept passes each connection, not the listening socket (Accept=yes).</li>
     * <li>./server says it needs a listening socket, in one ERROR line, and exits 1.</li>
     * </ol>
     */
    @Test
    void aConnectedSocketInsteadOfAListeningOneIsOneErrorLineAndExitCode1() throws Exception {
        int port = Ports.unused();
        Path dir = tmp.resolve("files");
        try (var activator = activate(List.of("--listen=127.0.0.1:" + port, "--accept"),
                List.of(Integer.toString(port), dir.toString()), port);
             var connection = FaultPeer.connect(port)) {
            connection.setSoTimeout((int) Ferry.START_DEADLINE.toMillis());
            // The per-connection server fails and exits; the connection then ends.
            assertThat(connection.getInputStream().read()).isEqualTo(-1);
            assertThat(Ferry.await(Duration.ofSeconds(10), () -> !activator.stderr().isEmpty()))
                    .isTrue();
            assertThat(activator.stderr()).isEqualTo("ERROR: socket activation: standard input is not "
                    + "a listening socket (a connected socket); the socket unit needs Accept=no and one ListenStream=\n");
            assertThat(activator.stdout()).isEmpty();
            assertThat(dir).doesNotExist();
        }
    }

    /**
     * <ol>
     * <li>Two sockets are passed (two ListenStream= lines, LISTEN_FDS=2).</li>
     * <li>The launcher says ferry serves on one, in one ERROR line, and exits 2.</li>
     * </ol>
     */
    @Test
    void twoSocketsAreOneErrorLineAndExitCode2() throws Exception {
        int port = Ports.unused();
        int second = Ports.unused();
        while (second == port) {
            second = Ports.unused();
        }
        Path dir = tmp.resolve("files");
        try (var activator = activate(List.of("--listen=127.0.0.1:" + port, "--listen=127.0.0.1:" + second),
                List.of(Integer.toString(port), dir.toString()), port, second)) {
            FaultPeer.knock(port);
            var result = activator.awaitExit(Ferry.START_DEADLINE);
            assertThat(result.exitCode()).isEqualTo(2);
            assertThat(result.stderr()).isEqualTo("ERROR: socket activation passed 2 sockets (LISTEN_FDS); ferry serves "
                    + "on exactly one: give the socket unit one ListenStream=\n");
            assertThat(dir).doesNotExist();
        }
    }

    /**
     * <ol>
     * <li>./server starts with LISTEN_FDS=1 and LISTEN_PID naming another process, and a descriptor 3
     * that is not a socket (variables inherited from a parent that was activated, say).</li>
     * <li>The variables are not meant for it: it binds its port itself, as without them.</li>
     * </ol>
     */
    @Test
    void socketVariablesForAnotherProcessAreIgnored() throws Exception {
        Path dir = tmp.resolve("files");
        long parent = ProcessHandle.current().pid();
        try (var server = Ferry.Server.start(List.of("bash", "-c", "exec 3</dev/null; exec \"$@\"", "bash"), List.of(),
                dir, Map.of("LISTEN_FDS", "1", "LISTEN_PID", Long.toString(parent)))) {
            assertThat(server.stdout()).contains("listening on port " + server.port + " (all interfaces)");
            Path upload = Ferry.randomFile(tmp, "upload", 5000, 3);
            var sent = Ferry.client("127.0.0.1", server.port, upload, Map.of());
            assertThat(sent.exitCode()).as("client; stderr: %s", sent.stderr()).isZero();
            assertThat(dir.resolve("1.file")).hasSameBinaryContentAs(upload);
            Ferry.stop(server);
        }
    }
}
