package ferry.it;

import static ferry.it.Ferry.assertSucceeded;
import static ferry.it.Ferry.assertFailed;
import static ferry.it.Ferry.stop;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ferry.it.ReceiverProcess.Tool;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The real {@code ./client} sending what is not a regular file of known
 * size: standard input ({@code -} and {@code /dev/stdin}) as a pipe or a
 * regular file, a FIFO, bash's {@code <(cmd)}, files under {@code /proc} and
 * {@code /sys}, character devices; and regular files that change while being
 * sent. Receivers are the real {@code ./server}, {@code nc -l}, {@code socat}
 * and raw Java sockets, all on loopback.
 */
class ClientStreamIT {
    private static final long MEDIUM = 1 << 20;
    private static final long LARGE = 100L << 20;
    private static final Duration RUN_DEADLINE = Duration.ofSeconds(90);
    private static final Duration SHORT = Duration.ofMillis(1500);
    private static final Map<String, String> SHORT_TIMEOUT =
            Map.of("FERRY_CLIENT_TIMEOUT_MS", Long.toString(SHORT.toMillis()));

    @TempDir
    static Path files;
    private static Path medium;
    private static Path large;
    private static String mediumSha;
    private static String largeSha;

    @TempDir
    Path tmp;

    @BeforeAll
    static void createFilesAndBuild() throws Exception {
        medium = Ferry.randomFile(files, "medium.bin", MEDIUM, 11);
        large = Ferry.randomFile(files, "large.bin", LARGE, 12);
        mediumSha = Checksums.sha256(medium);
        largeSha = Checksums.sha256(large);
        var build = Ferry.run("client", List.of(), Map.of(), Ferry.START_DEADLINE);
        assertThat(build.exitCode()).as("./client without arguments: %s", build.stderr()).isEqualTo(2);
    }

    // ---- pipes, FIFOs, process substitution: sent to their end ---------------------------------

    /**
     * {@code cat FILE | ./client 127.0.0.1 PORT NAME} for NAME {@code -} and
     * {@code /dev/stdin}, into the real ./server, nc -l and socat: exit 0, the
     * receiver holds the file intact (before, a pipe was sent as an empty file).
     */
    @ParameterizedTest(name = "cat | ./client ... {0} into {1}, {2} bytes")
    @CsvSource({"-, server, 1048576", "/dev/stdin, server, 1048576", "-, nc, 1048576", "/dev/stdin, socat, 1048576",
            "-, server, 104857600", "-, nc, 104857600"})
    void sendsAPipeToItsEndIntact(String name, String receiver, long size) throws Exception {
        Path file = size == LARGE ? large : medium;
        String sha = size == LARGE ? largeSha : mediumSha;
        assertReceivesIntact(receiver, size, sha,
                port -> Proc.bash("cat \"$1\" | \"$CLIENT\" 127.0.0.1 \"$2\" \"$3\"",
                        List.of(file.toString(), Integer.toString(port), name), Map.of()));
    }

    /**
     * <ol>
     * <li>./client is given a FIFO (mkfifo) that nothing writes yet, with
     * FERRY_CLIENT_TIMEOUT_MS=1500: opening it waits for a writer.</li>
     * <li>A writer opens it 2 s later (longer than the client's timeout: the
     * wait for the source is not the network's time) and writes 1 MiB.</li>
     * <li>The client exits 0 and ./server holds the 1 MiB intact.</li>
     * </ol>
     */
    @Test
    void sendsAFifoWhoseWriterComesLate() throws Exception {
        Path fifo = tmp.resolve("fifo");
        assertReceivesIntact("server", MEDIUM, mediumSha, port -> Proc.bash("""
                mkfifo "$1" || exit 99
                "$CLIENT" 127.0.0.1 "$3" "$1" & client=$!
                sleep 2
                cat "$2" > "$1"
                wait "$client"
                """, List.of(fifo.toString(), medium.toString(), Integer.toString(port)), SHORT_TIMEOUT));
    }

    /** {@code ./client 127.0.0.1 PORT <(cat FILE)} (a /dev/fd pipe) into ./server and nc: intact. */
    @ParameterizedTest(name = "<(cat) into {0}")
    @CsvSource({"server", "nc"})
    void sendsAProcessSubstitutionIntact(String receiver) throws Exception {
        assertReceivesIntact(receiver, MEDIUM, mediumSha, port -> Proc.bash(
                "\"$CLIENT\" 127.0.0.1 \"$2\" <(cat \"$1\")",
                List.of(medium.toString(), Integer.toString(port)), Map.of()));
    }

    // ---- standard input from a regular file: transferTo from its position ----------------------

    /** {@code ./client 127.0.0.1 PORT - < FILE}: the whole 100 MiB file arrives intact at ./server. */
    @Test
    void sendsStandardInputRedirectedFromARegularFile() throws Exception {
        assertReceivesIntact("server", LARGE, largeSha,
                port -> Proc.sender(Proc.clientCommand("127.0.0.1", port, "-"), Map.of(), Proc.from(large)));
    }

    /**
     * {@code { dd bs=1000 count=1; ./client ... -; } < FILE}: standard input
     * was read in part before the client started; the client sends the rest,
     * from its position, as cat would.
     */
    @Test
    void sendsTheRestOfAStandardInputReadInPart() throws Exception {
        byte[] all = Files.readAllBytes(medium);
        byte[] rest = java.util.Arrays.copyOfRange(all, 1000, all.length);
        assertReceivesIntact("server", rest.length, Checksums.sha256(rest), port -> Proc.bash(
                "{ dd bs=1000 count=1 of=/dev/null status=none && \"$CLIENT\" 127.0.0.1 \"$2\" -; } < \"$1\"",
                List.of(medium.toString(), Integer.toString(port)), Map.of()));
    }

    // ---- files that report no size, or the wrong one ---------------------------------------------

    /**
     * /proc files report size 0 and /sys files 4096, whatever they hold: the
     * client reads them to their end. /proc/version and the loopback's
     * address in /sys do not change, so ./server must hold exactly what the
     * test reads; /proc/cpuinfo must arrive non-empty (before, a /proc file
     * arrived empty, and a /sys file timed out after 10 s).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"/proc/version", "/proc/cpuinfo", "/sys/class/net/lo/address"})
    void sendsPseudoFilesToTheirEnd(String name) throws Exception {
        Path file = Path.of(name);
        assumeTrue(Files.isReadable(file), name + " is not readable here");
        try (var server = Ferry.Server.start(tmp.resolve("uploads"))) {
            var result = Ferry.client("127.0.0.1", server.port, file, Map.of());

            assertSucceeded(result);
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(5))).contains(" outcome=complete ");
            String received = Files.readString(server.file(1), StandardCharsets.ISO_8859_1);
            if (name.equals("/proc/cpuinfo")) {
                assertThat(received).isNotEmpty().contains("processor");
            } else {
                assertThat(received).isNotEmpty().isEqualTo(Files.readString(file, StandardCharsets.ISO_8859_1));
            }
            stop(server);
        }
    }

    /** /dev/null as the file, or as standard input: an empty upload, confirmed (exit 0, an empty 1.file). */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"/dev/null", "-"})
    void sendsAnEmptyCharacterDevice(String name) throws Exception {
        assertReceivesIntact("server", 0, Checksums.sha256(new byte[0]),
                port -> Proc.sender(Proc.clientCommand("127.0.0.1", port, name), Map.of(), null));
    }

    // ---- stalls: of the source, of the network ---------------------------------------------------

    /**
     * <ol>
     * <li>The client (FERRY_CLIENT_TIMEOUT_MS=1500) reads a pipe that gives
     * 100 kB, then nothing for 3 s, then the rest of 1 MiB.</li>
     * <li>The source's pause is longer than the client's timeout, but the
     * network took every byte offered, so it is not a stall: exit 0, and
     * ./server (idle limit 10 s) holds the file intact.</li>
     * </ol>
     */
    @Test
    void aSourceThatPausesLongerThanTheTimeoutIsNotAnError() throws Exception {
        assertReceivesIntact("server", MEDIUM, mediumSha, port -> Proc.bash(
                "{ head -c 100000 \"$1\"; sleep 3; tail -c +100001 \"$1\"; } | \"$CLIENT\" 127.0.0.1 \"$2\" -",
                List.of(medium.toString(), Integer.toString(port)), SHORT_TIMEOUT));
    }

    /**
     * <ol>
     * <li>./server runs with FERRY_IDLE_TIMEOUT_MS=2000; the client
     * (FERRY_CLIENT_TIMEOUT_MS=1500) streams its standard input, a pipe the
     * test writes 64 KiB into and then keeps open without writing.</li>
     * <li>1.5 s after the 64 KiB arrived the client is still running: waiting
     * for its source is not a stall of the network.</li>
     * <li>After 2 s of silence the server aborts the upload (1.file reads
     * ERROR, outcome=idle-timeout) and resets the connection.</li>
     * <li>The client, still waiting for its source, sees the reset at once:
     * one ERROR line, exit 1, within 3 s of the server's limit.</li>
     * </ol>
     */
    @Test
    void aSourceSilentLongerThanTheServersIdleLimitEndsAsTheServersIdleTimeout() throws Exception {
        byte[] part = Ferry.randomBytes(64 << 10, 13);
        try (var server = Ferry.Server.start(tmp.resolve("uploads"), Map.of("FERRY_IDLE_TIMEOUT_MS", "2000"));
             var client = Proc.sender(Proc.clientCommand("127.0.0.1", server.port, "-"), SHORT_TIMEOUT, ProcessBuilder.Redirect.PIPE)) {
            ClientKilledIT.writeInBackground(client.stdin(), part);
            assertThat(Ferry.await(Ferry.CLIENT_START, () -> Ferry.sizeOf(server.file(1)) == part.length))
                    .as("the server saved the first 64 KiB").isTrue();
            long arrivedAt = System.nanoTime();
            assertThat(Ferry.await(SHORT, () -> !client.isAlive()))
                    .as("the client gave up while only its source was silent").isFalse();

            var result = client.awaitExit(Duration.ofSeconds(15));

            assertFailed(result, Pattern.quote("ERROR: sending to 127.0.0.1:" + server.port + " failed after "
                    + part.length + " bytes: the server reset the connection"));
            assertThat(Duration.ofNanos(client.exitedAt() - arrivedAt)).as("time from the last byte to exit")
                    .isGreaterThanOrEqualTo(SHORT).isLessThan(Duration.ofSeconds(5));
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(5))).contains(" outcome=idle-timeout ");
            Ferry.awaitError(server.file(1), Duration.ofSeconds(5));
            stop(server);
        }
    }

    /**
     * <ol>
     * <li>{@code cat /dev/zero | ./client ... -} (FERRY_CLIENT_TIMEOUT_MS=1500)
     * streams into the real ./server.</li>
     * <li>Once bytes are saved, the server's JVM is stopped (SIGSTOP).</li>
     * <li>The client fills the socket buffers and gives up 1.5 s after the
     * network took its last byte (within 4 s of the stop): ERROR line, exit 1.</li>
     * <li>The server is continued: it sees the reset, 1.file reads ERROR.</li>
     * </ol>
     */
    @Test
    void givesUpWhenTheServerStopsReadingAPipe() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("uploads"));
             var client = Proc.bash("cat /dev/zero | \"$CLIENT\" 127.0.0.1 \"$1\" -",
                     List.of(Integer.toString(server.port)), SHORT_TIMEOUT)) {
            assertThat(Ferry.await(Ferry.CLIENT_START, Duration.ofMillis(1), () -> Ferry.sizeOf(server.file(1)) > 0))
                    .as("the upload started").isTrue();
            long stoppedAt;
            Ferry.Result result;
            try (var stalled = server.stall()) {
                stoppedAt = System.nanoTime();
                assertThat(client.isAlive()).as("the stream is still in flight").isTrue();

                result = client.awaitExit(Duration.ofSeconds(15));
            }
            assertFailed(result, "ERROR: the server took no data for 1\\.5 s \\(\\d+ bytes sent\\); giving up");
            assertThat(Duration.ofNanos(client.exitedAt() - stoppedAt)).as("time from SIGSTOP to giving up")
                    .isGreaterThanOrEqualTo(SHORT.minusMillis(100)).isLessThan(SHORT.plusMillis(2500));
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(10))).contains(" outcome=reset ");
            Ferry.awaitError(server.file(1), Duration.ofSeconds(5));
            stop(server);
        }
    }

    // ---- regular files that change while being sent ----------------------------------------------

    /**
     * <ol>
     * <li>A raw receiver accepts the upload of a 32 MiB regular file (more than
     * the socket buffers hold) and reads its first 64 KiB only.</li>
     * <li>The test appends 1 MiB to the file.</li>
     * <li>The receiver reads on: it gets exactly the 32 MiB the file held when
     * the client opened it, then the end of stream; the client exits 0.</li>
     * </ol>
     */
    @Test
    void aFileThatGrowsWhileBeingSentIsSentAsItWasWhenOpened() throws Exception {
        Path file = Ferry.randomFile(tmp, "growing.bin", 32 << 20, 14);
        String original = Checksums.sha256(file);
        try (var receiver = FaultPeer.open();
             var client = Proc.client("127.0.0.1", receiver.port(), file, Map.of())) {
            Socket socket = receiver.accept(Ferry.CLIENT_START);
            socket.setSoTimeout(10_000);
            InputStream in = socket.getInputStream();
            byte[] head = in.readNBytes(64 << 10);
            Files.write(file, Ferry.randomBytes(1 << 20, 15), StandardOpenOption.APPEND);

            MessageDigest digest = Checksums.digest();
            digest.update(head);
            long total = head.length;
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) >= 0; total += n) {
                digest.update(buffer, 0, n);
            }
            socket.close();

            assertThat(total).as("bytes received").isEqualTo(32 << 20);
            assertThat(HexFormat.of().formatHex(digest.digest())).isEqualTo(original);
            assertSucceeded(client.awaitExit(Duration.ofSeconds(10)));
        }
    }

    /**
     * <ol>
     * <li>A raw receiver accepts the upload of a 64 MiB regular file and reads
     * its first 64 KiB only, so the client waits with full socket buffers.</li>
     * <li>The test truncates the file to 0 bytes, below what was sent.</li>
     * <li>The client reports it: one ERROR line naming the file, exit 1; the
     * receiver, reading on, sees a reset, not an end of file.</li>
     * </ol>
     */
    @Test
    void aFileThatShrinksWhileBeingSentIsAnError() throws Exception {
        Path file = Ferry.randomFile(tmp, "shrinking.bin", 64 << 20, 16);
        try (var receiver = FaultPeer.open();
             var client = Proc.client("127.0.0.1", receiver.port(), file, Map.of())) {
            Socket socket = receiver.accept(Ferry.CLIENT_START);
            socket.setSoTimeout(10_000);
            assertThat(socket.getInputStream().readNBytes(64 << 10)).hasSize(64 << 10);
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                channel.truncate(0);
            }

            var result = client.awaitExit(Duration.ofSeconds(10));

            assertFailed(result, Pattern.quote("ERROR: file \"" + file + "\" shrank while being sent (")
                    + "\\d+ of " + (64 << 20) + " bytes sent\\)");
            assertThat(receiver.endsInReset(Duration.ofSeconds(10))).as("the receiver sees a reset").isTrue();
        }
    }

    // ---- helpers -----------------------------------------------------------------------------------

    /** Starts a sender for a receiver's port. */
    @FunctionalInterface
    interface Start {
        Proc start(int port) throws IOException;
    }

    /**
     * Starts the receiver ("server": ./server, saving to 1.file; "nc" or
     * "socat": one connection saved to a file), then the sender, and checks
     * that the sender exits 0 without output and the receiver holds exactly
     * {@code size} bytes with the given SHA-256.
     */
    private void assertReceivesIntact(String receiver, long size, String sha, Start sender) throws Exception {
        if (receiver.equals("server")) {
            try (var server = Ferry.Server.start(tmp.resolve("uploads"));
                 var client = sender.start(server.port)) {
                assertSucceeded(client.awaitExit(RUN_DEADLINE));
                assertThat(server.awaitLogLine(1, Duration.ofSeconds(5)))
                        .contains(" bytes=" + size + " ").contains(" outcome=complete ");
                assertThat(Files.size(server.file(1))).isEqualTo(size);
                assertThat(Checksums.sha256(server.file(1))).isEqualTo(sha);
                stop(server);
            }
            return;
        }
        Tool tool = Tool.valueOf(receiver.toUpperCase());
        assumeTrue(Ferry.has(tool.command), tool.command + " is not installed (CI installs it)");
        Path out = tmp.resolve("received.bin");
        try (var process = ReceiverProcess.start(tool, false, out);
             var client = sender.start(process.port)) {
            assertSucceeded(client.awaitExit(RUN_DEADLINE));
            assertThat(process.awaitExit(Duration.ofSeconds(10))).as("%s exit code", tool).isZero();
            assertThat(Files.size(out)).isEqualTo(size);
            assertThat(Checksums.sha256(out)).isEqualTo(sha);
        }
    }




}
