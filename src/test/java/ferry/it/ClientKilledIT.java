package ferry.it;

import static ferry.it.Ferry.stop;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A {@code ./client} killed mid-upload (SIGKILL, SIGTERM, SIGINT) never
 * leaves a cut-off file that looks complete: the kernel closes its socket
 * with a reset (SO_LINGER 0 until the server's confirmation), not the FIN of
 * a finished upload, so the real {@code ./server} ends the upload as
 * {@code ERROR} ({@code outcome=reset}) and a raw receiver reads a
 * connection reset, not an end of file. Without the SO_LINGER 0 every test
 * here fails: the server logs {@code outcome=complete} for the part it got.
 */
class ClientKilledIT {
    /** A sparse file far larger than can be sent before the test kills the client. */
    private static final long HUGE = 2L << 30;

    @TempDir
    static Path files;
    private static Path huge;

    @TempDir
    Path tmp;

    @BeforeAll
    static void createFileAndBuild() throws Exception {
        huge = files.resolve("huge.bin");
        try (var sparse = new RandomAccessFile(huge.toFile(), "rw")) {
            sparse.setLength(HUGE);
        }
        var build = Ferry.run("client", List.of(), Map.of(), Ferry.START_DEADLINE);
        assertThat(build.exitCode()).as("./client without arguments: %s", build.stderr()).isEqualTo(2);
    }

    /**
     * <ol>
     * <li>./client streams its standard input, a pipe the test holds open,
     * to the real ./server.</li>
     * <li>The test writes 1 MiB and waits until the server has saved all of it:
     * the upload is in flight, waiting for more input.</li>
     * <li>The client is killed with the signal; it dies of it (128 + signal).</li>
     * <li>The server ends the upload as a reset: 1.file reads ERROR and its
     * log line says outcome=reset after 1 MiB.</li>
     * </ol>
     */
    @ParameterizedTest(name = "SIG{0}")
    @ValueSource(strings = {"KILL", "TERM", "INT"})
    void aClientKilledWhileStreamingStandardInputLeavesErrorOnTheServer(String signal) throws Exception {
        byte[] part = Ferry.randomBytes(1 << 20, 7);
        try (var server = Ferry.Server.start(tmp.resolve("uploads"));
             var client = Proc.sender(Proc.clientCommand("127.0.0.1", server.port, "-"), Map.of(), ProcessBuilder.Redirect.PIPE)) {
            writeInBackground(client.stdin(), part);
            assertThat(Ferry.await(Ferry.CLIENT_START, () -> Ferry.sizeOf(server.file(1)) == part.length))
                    .as("the server saved the first MiB; 1.file has %d bytes", Ferry.sizeOf(server.file(1))).isTrue();
            assertThat(client.isAlive()).as("the client waits for more input").isTrue();

            client.signalJvm(signal);

            assertThat(client.awaitExit(Duration.ofSeconds(10)).exitCode()).as("exit code")
                    .isEqualTo(128 + signalNumber(signal));
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(10)))
                    .contains(" bytes=" + part.length + " ").contains(" outcome=reset ");
            Ferry.awaitError(server.file(1), Duration.ofSeconds(5));
            stop(server);
        }
    }

    /**
     * <ol>
     * <li>./client sends a 2 GiB (sparse) regular file to the real ./server.</li>
     * <li>Once the first bytes are saved, the server's JVM is stopped
     * (SIGSTOP): the kernel keeps what it has received, unread.</li>
     * <li>The client is killed with the signal; it dies of it.</li>
     * <li>The server is continued: it reads what was buffered, then the reset,
     * so 1.file reads ERROR and the log line says outcome=reset.</li>
     * </ol>
     */
    @ParameterizedTest(name = "SIG{0}")
    @ValueSource(strings = {"KILL", "TERM", "INT"})
    void aClientKilledWhileSendingALargeFileLeavesErrorOnTheServer(String signal) throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("uploads"));
             var client = Proc.sender(Proc.clientCommand("127.0.0.1", server.port, huge.toString()), Map.of(), null)) {
            assertThat(Ferry.await(Ferry.CLIENT_START, Duration.ofMillis(1), () -> Ferry.sizeOf(server.file(1)) > 0))
                    .as("the upload started").isTrue();
            try (var stalled = server.stall()) {
                assertThat(client.isAlive()).as("the client is still sending").isTrue();
                client.signalJvm(signal);
                assertThat(client.awaitExit(Duration.ofSeconds(10)).exitCode()).as("exit code")
                        .isEqualTo(128 + signalNumber(signal));
            }
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(10))).contains(" outcome=reset ");
            Ferry.awaitError(server.file(1), Duration.ofSeconds(5));
            stop(server);
        }
    }

    /**
     * <ol>
     * <li>A raw receiver accepts the client's upload, of a 2 GiB (sparse)
     * file or of standard input (a pipe the test holds open after 256 KiB),
     * and reads the first 64 KiB only: a slow reader.</li>
     * <li>The client is killed with the signal.</li>
     * <li>The receiver reads on: after what was buffered, the stream ends in
     * a connection reset (ECONNRESET), not an end of file.</li>
     * </ol>
     */
    @ParameterizedTest(name = "SIG{0}, {1}")
    @CsvSource({"KILL, file", "TERM, file", "INT, file", "KILL, stdin", "TERM, stdin", "INT, stdin"})
    void aReceiverSeesAResetNotAnEndOfFileWhenTheClientIsKilled(String signal, String source) throws Exception {
        boolean stdin = source.equals("stdin");
        try (var receiver = FaultPeer.open();
             var client = stdin
                     ? Proc.sender(Proc.clientCommand("127.0.0.1", receiver.port(), "-"), Map.of(), ProcessBuilder.Redirect.PIPE)
                     : Proc.sender(Proc.clientCommand("127.0.0.1", receiver.port(), huge.toString()), Map.of(), null)) {
            if (stdin) {
                writeInBackground(client.stdin(), Ferry.randomBytes(256 << 10, 8));
            }
            Socket socket = receiver.accept(Ferry.CLIENT_START);
            socket.setSoTimeout(10_000);
            InputStream in = socket.getInputStream();
            assertThat(in.readNBytes(64 << 10)).as("the first 64 KiB").hasSize(64 << 10);
            assertThat(client.isAlive()).as("the client is still sending").isTrue();

            client.signalJvm(signal);

            assertThat(client.awaitExit(Duration.ofSeconds(10)).exitCode()).as("exit code")
                    .isEqualTo(128 + signalNumber(signal));
            assertThat(receiver.endsInReset(Duration.ofSeconds(10)))
                    .as("the killed upload ends in a reset, not a clean end of file").isTrue();
        }
    }

    /** Writes {@code data} to the client's standard input on a thread of its own and leaves the pipe open. */
    static void writeInBackground(OutputStream stdin, byte[] data) {
        Thread.ofVirtual().name("stdin-writer").start(() -> {
            try {
                stdin.write(data);
                stdin.flush();
            } catch (IOException e) {
                // The client is gone: the test's assertions say why.
            }
        });
    }

    private static int signalNumber(String signal) {
        return switch (signal) {
            case "INT" -> 2;
            case "KILL" -> 9;
            case "TERM" -> 15;
            default -> throw new IllegalArgumentException(signal);
        };
    }

}
