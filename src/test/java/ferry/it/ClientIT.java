package ferry.it;

import static ferry.it.Ferry.assertSucceeded;
import static ferry.it.Ferry.assertFailed;
import static ferry.it.Ferry.stop;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ferry.it.ReceiverProcess.Tool;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The real {@code ./client} against independent receivers on loopback:
 * {@code nc}, {@code socat}, {@code python3}, raw Java sockets and the real
 * {@code ./server}. Covers C1-C4 of the spec, except the connect timeout
 * (a black hole needs a network namespace; tested elsewhere).
 */
class ClientIT {
    private static final long SMALL = 500;
    private static final long MEDIUM = 1 << 20;
    private static final long LARGE = 100L << 20;
    /** A shortened client timeout, for the timeout tests that need not wait the real 10 s. */
    private static final Duration SHORT = Duration.ofMillis(1500);
    private static final Map<String, String> SHORT_TIMEOUT =
            Map.of("FERRY_CLIENT_TIMEOUT_MS", Long.toString(SHORT.toMillis()));
    private static final String USAGE = "usage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>";

    @TempDir
    static Path files;
    private static Path small;
    private static Path medium;
    private static Path large;
    private static final Map<Long, String> DIGESTS = new HashMap<>();

    @TempDir
    Path tmp;

    @BeforeAll
    static void createFilesAndBuild() throws Exception {
        small = Ferry.randomFile(files, "small.bin", SMALL, 1);
        medium = Ferry.randomFile(files, "medium.bin", MEDIUM, 2);
        large = Ferry.randomFile(files, "large.bin", LARGE, 3);
        for (Path file : List.of(small, medium, large)) {
            DIGESTS.put(Files.size(file), Checksums.sha256(file));
        }
        // A first run builds the launcher jar, so that no timing below includes a build.
        var build = Ferry.run("client", List.of(), Map.of(), Ferry.START_DEADLINE);
        assertThat(build.exitCode()).as("./client without arguments: %s", build.stderr()).isEqualTo(2);
    }

    private static Path file(long size) {
        return size == SMALL ? small : size == MEDIUM ? medium : large;
    }

    // ---- C1, C3: files arrive intact --------------------------------------------------------

    static Stream<Arguments> toolsAndSizes() {
        return Stream.of(Tool.values())
                .flatMap(tool -> Stream.of(SMALL, MEDIUM, LARGE).map(size -> Arguments.of(tool, size)));
    }

    @ParameterizedTest(name = "{0} receives {1} bytes intact")
    @MethodSource("toolsAndSizes")
    void sendsAFileIntactToAnIndependentReceiver(Tool tool, long size) throws Exception {
        assumeTool(tool);
        Path out = tmp.resolve("received.bin");
        try (var receiver = ReceiverProcess.start(tool, false, out)) {
            var result = Ferry.client("127.0.0.1", receiver.port, file(size), Map.of());

            assertSucceeded(result);
            assertThat(receiver.awaitExit(Duration.ofSeconds(10))).as("%s exit code", tool).isZero();
            assertThat(Files.size(out)).isEqualTo(size);
            assertThat(Checksums.sha256(out)).isEqualTo(DIGESTS.get(size));
        }
    }

    @ParameterizedTest(name = "host {0} reaches {1}")
    @CsvSource({"::1, NC, true", "[::1], PYTHON, true", "localhost, SOCAT, false"})
    void acceptsIpv6LiteralsWithOrWithoutBracketsAndHostNames(String host, Tool tool, boolean ipv6)
            throws Exception {
        assumeTool(tool);
        if (ipv6) {
            assumeTrue(ipv6Loopback(), "no IPv6 loopback (::1) on this machine");
        } else {
            assumeTrue(Arrays.asList(InetAddress.getAllByName("localhost")).contains(Ferry.loopback(false)),
                    "localhost does not resolve to 127.0.0.1 here");
        }
        Path out = tmp.resolve("received.bin");
        try (var receiver = ReceiverProcess.start(tool, ipv6, out)) {
            var result = Ferry.client(host, receiver.port, medium, Map.of());

            assertSucceeded(result);
            assertThat(receiver.awaitExit(Duration.ofSeconds(10))).as("%s exit code", tool).isZero();
            assertThat(Checksums.sha256(out)).isEqualTo(DIGESTS.get(MEDIUM));
        }
    }

    @Test
    void sendsA100MiBFileIntactToTheRealServer() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("uploads"))) {
            var result = Ferry.client("127.0.0.1", server.port, large, Map.of());

            assertSucceeded(result);
            // The server closes N.file before it closes the connection, so it is final by now.
            assertThat(Checksums.sha256(server.file(1))).isEqualTo(DIGESTS.get(LARGE));
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(5)))
                    .contains(" bytes=" + LARGE + " ").contains(" outcome=complete ");
            stop(server);
        }
    }

    // ---- C1: half-close, then wait for the receiver's close -----------------------------------

    /**
     * <ol>
     * <li>A raw receiver reads the connection to end of stream: exactly the
     * file's bytes arrive, then read returns -1 (the client half-closed).</li>
     * <li>The receiver writes a few bytes back and keeps its side open for 1 s:
     * the client must still be running all that time.</li>
     * <li>The receiver closes: the client exits 0 promptly and prints nothing.</li>
     * </ol>
     */
    @Test
    void halfClosesAfterTheLastByteAndExitsOnlyAfterTheReceiverCloses() throws Exception {
        try (var receiver = FaultPeer.open();
             var client = Proc.client("127.0.0.1", receiver.port(), medium, Map.of())) {
            Socket socket = receiver.accept(Ferry.CLIENT_START);
            var received = receiver.readToEnd(Duration.ofSeconds(10));
            assertThat(received.bytes()).isEqualTo(MEDIUM);
            assertThat(received.sha256()).isEqualTo(DIGESTS.get(MEDIUM));

            socket.getOutputStream().write("thanks\n".getBytes(StandardCharsets.US_ASCII));
            boolean exitedEarly = Ferry.await(Duration.ofSeconds(1), () -> !client.isAlive());
            assertThat(exitedEarly).as("the client exited before the receiver closed its side").isFalse();
            socket.close();

            assertSucceeded(client.awaitExit(Duration.ofSeconds(5)));
        }
    }

    // ---- C2: bad arguments ---------------------------------------------------------------------

    /** What kind of failure a bad command line is, and so what the client must do. */
    enum Kind {
        /** Wrong argument count: exit 2, the ERROR line, then the usage line. */
        COUNT(2),
        /** A bad port, host syntax or file: exit 2, one ERROR line. */
        ARGUMENT(2),
        /** A name the resolver does not know: exit 1, one ERROR line (matched as a regular expression). */
        LOOKUP(1),
        /** Nothing listens: exit 1, one ERROR line, at once. */
        REFUSED(1);

        final int exitCode;

        Kind(int exitCode) {
            this.exitCode = exitCode;
        }
    }

    /**
     * One bad command line and the first line it must print. Placeholders in
     * the arguments and in {@code expected}: {port} (a listening raw receiver),
     * {refused} (nothing listens), {file}, {dir}, {missing}.
     */
    record BadCall(String name, Kind kind, List<String> args, String expected) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<BadCall> badCalls() {
        var calls = new ArrayList<BadCall>();
        // (Four arguments and more are several files to send: ClientBatchIT.)
        for (List<String> args : List.of(List.<String>of(), List.of("127.0.0.1"), List.of("127.0.0.1", "{port}"))) {
            calls.add(new BadCall(args.size() + " arguments", Kind.COUNT, args,
                    "ERROR: expected 3 arguments, got " + args.size()));
        }
        for (String port : List.of("0", "65536", "-1", "abc", "", "99999999999", "+80", " 80")) {
            calls.add(new BadCall("port \"" + port + "\"", Kind.ARGUMENT, List.of("127.0.0.1", port, "{file}"),
                    "ERROR: invalid port \"" + port + "\": must be a number from 1 to 65535"));
        }
        for (String host : List.of("", "a b", "[::1", "host/x")) {
            calls.add(new BadCall("host \"" + host + "\"", Kind.ARGUMENT, List.of(host, "{port}", "{file}"),
                    "ERROR: invalid host \"" + host + "\": must be a host name or an IPv4 or IPv6 address"));
        }
        // Syntactically names, so they are looked up, with a resolver of our own on loopback (see withLocalResolver).
        for (String host : List.of("nosuch.invalid", "256.256.256.256")) {
            calls.add(new BadCall("unknown host " + host, Kind.LOOKUP, List.of(host, "{port}", "{file}"),
                    "ERROR: unknown host \"" + Pattern.quote(host) + "\""));
        }
        calls.add(new BadCall("missing file", Kind.ARGUMENT, List.of("127.0.0.1", "{port}", "{missing}"),
                "ERROR: file \"{missing}\" does not exist"));
        calls.add(new BadCall("directory as file", Kind.ARGUMENT, List.of("127.0.0.1", "{port}", "{dir}"),
                "ERROR: file \"{dir}\" is a directory"));
        calls.add(new BadCall("empty file name", Kind.ARGUMENT, List.of("127.0.0.1", "{port}", ""),
                "ERROR: invalid file \"\": must not be empty"));
        calls.add(new BadCall("refused on IPv4", Kind.REFUSED, List.of("127.0.0.1", "{refused}", "{file}"),
                "ERROR: connection refused by 127.0.0.1:{refused} (is the server running?)"));
        calls.add(new BadCall("refused on IPv6", Kind.REFUSED, List.of("::1", "{refused}", "{file}"),
                "ERROR: connection refused by [::1]:{refused} (is the server running?)"));
        return calls.stream();
    }

    /**
     * Each bad command line exits with its code (2 for usage, 1 for the network)
     * after one ERROR line (plus the usage line for a wrong count), prints nothing
     * on standard output, shows no stack trace, and sends nothing: a raw
     * receiver on {port} sees no connection.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("badCalls")
    void rejectsABadCommandLineWithOneErrorLine(BadCall call) throws Exception {
        if (call.args().contains("::1")) {
            assumeTrue(ipv6Loopback(), "no IPv6 loopback (::1) on this machine");
        }
        Path dir = Files.createDirectories(tmp.resolve("a-directory"));
        try (var receiver = FaultPeer.open(); var refusing = new Ports.Refusing()) {
            var values = Map.of("{port}", Integer.toString(receiver.port()),
                    "{refused}", Integer.toString(refusing.port),
                    "{file}", small.toString(), "{dir}", dir.toString(),
                    "{missing}", tmp.resolve("no-such-file").toString());
            List<String> args = call.args().stream().map(arg -> fill(arg, values)).toList();

            var result = call.kind() == Kind.LOOKUP
                    ? Ferry.exec(withLocalResolver(args), Map.of(), null, Duration.ofSeconds(30))
                    : Ferry.run("client", args, Map.of(), Duration.ofSeconds(30));

            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(call.kind().exitCode);
            assertThat(result.stdout()).as("stdout").isEmpty();
            assertThat(result.stderr()).as("stderr").doesNotContain("Exception").doesNotContain("\tat ");
            String first = result.firstStderrLine();
            if (call.kind() == Kind.LOOKUP) {
                assertThat(first).matches(call.expected());
            } else {
                assertThat(first).isEqualTo(fill(call.expected(), values));
            }
            List<String> lines = result.stderr().lines().toList();
            if (call.kind() == Kind.COUNT) {
                assertThat(lines).containsExactly(first, USAGE);
            } else {
                assertThat(lines).as("stderr lines").containsExactly(first);
            }
            if (call.kind() == Kind.REFUSED) {
                assertThat(result.elapsed()).as("a refused connection is reported at once")
                        .isLessThan(Duration.ofSeconds(5));
            }
            assertThat(receiver.connected(Duration.ofMillis(50))).as("the client connected anyway").isFalse();
        }
    }

    /**
     * {@code ./client args} in a mount namespace of its own whose /etc/resolv.conf
     * names a resolver on 127.0.0.1, where nothing answers: a name lookup fails at
     * once, and no query leaves the machine. Needs root and unshare; skips otherwise.
     */
    private List<String> withLocalResolver(List<String> args) throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")) && Ferry.has("unshare"),
                "a lookup without sending a DNS query needs root and unshare (CI has both)");
        Path resolv = Files.writeString(tmp.resolve("resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
        var command = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"", resolv.toString(),
                Ferry.ROOT.resolve("client").toString()));
        command.addAll(args);
        return command;
    }

    private static String fill(String text, Map<String, String> values) {
        String filled = text;
        for (var value : values.entrySet()) {
            filled = filled.replace(value.getKey(), value.getValue());
        }
        return filled;
    }

    // ---- C4: network and server failures -------------------------------------------------------

    /**
     * <ol>
     * <li>A raw receiver accepts the connection and never reads.</li>
     * <li>The client sends a 100 MiB file until both socket buffers are full.</li>
     * <li>With the default timeout (the variable unset), it gives up 10 s after
     * the network took its last byte: ERROR line, exit 1, no sooner than 9.5 s
     * and within 13 s after the connection was accepted.</li>
     * <li>It aborts the connection: the receiver, draining the part of the file
     * that was buffered, sees a reset, not an end of file.</li>
     * </ol>
     */
    @Test
    void givesUpAfterTheDefault10SecondsWhenTheReceiverNeverReads() throws Exception {
        givesUpWhenTheReceiverNeverReads(Map.of(), Duration.ofSeconds(10), "10 s", Duration.ofSeconds(13));
    }

    /**
     * <ol>
     * <li>A raw receiver accepts the connection and never reads.</li>
     * <li>The client, with FERRY_CLIENT_TIMEOUT_MS=1500, sends a 100 MiB file
     * until both socket buffers are full.</li>
     * <li>It gives up 1.5 s after the network took its last byte (within 4 s):
     * ERROR line naming the limit, exit 1.</li>
     * <li>The receiver sees a reset, not an end of file.</li>
     * </ol>
     */
    @Test
    void givesUpAfterAShortenedTimeoutWhenTheReceiverNeverReads() throws Exception {
        givesUpWhenTheReceiverNeverReads(SHORT_TIMEOUT, SHORT, "1.5 s", Duration.ofSeconds(4));
    }

    private static void givesUpWhenTheReceiverNeverReads(Map<String, String> env, Duration timeout, String limit,
            Duration within) throws Exception {
        try (var receiver = FaultPeer.open();
             var client = Proc.client("127.0.0.1", receiver.port(), large, env)) {
            receiver.accept(Ferry.CLIENT_START);
            long acceptedAt = System.nanoTime();

            var result = client.awaitExit(timeout.plusSeconds(10));

            assertFailed(result, "ERROR: the server took no data for " + Pattern.quote(limit)
                    + " \\((\\d+) of " + LARGE + " bytes sent\\); giving up");
            Matcher sent = Pattern.compile("\\((\\d+) of").matcher(result.firstStderrLine());
            assertThat(sent.find()).isTrue();
            assertThat(Long.parseLong(sent.group(1))).as("bytes the network took").isPositive().isLessThan(LARGE);
            assertThat(Duration.ofNanos(client.exitedAt() - acceptedAt))
                    .as("time from accept to giving up")
                    .isGreaterThanOrEqualTo(timeout.minus(timeout.dividedBy(20)))
                    .isLessThan(within);
            assertThat(receiver.endsInReset(Duration.ofSeconds(10)))
                    .as("the partial upload ends in a reset, not a clean end of file").isTrue();
        }
    }

    /**
     * <ol>
     * <li>The real ./server accepts the client's upload of a 2 GiB (sparse) file.</li>
     * <li>Once the first bytes are saved, the server's JVM is stopped with SIGSTOP.</li>
     * <li>The client (FERRY_CLIENT_TIMEOUT_MS=1500) fills the socket buffers, then
     * gives up 1.5 s later (within 4 s of the stop): ERROR line, exit 1.</li>
     * <li>The server is continued: since the client aborted the connection, the
     * server sees a reset and 1.file reads ERROR.</li>
     * </ol>
     */
    @Test
    void givesUpWhenTheRealServerIsStoppedMidTransfer() throws Exception {
        Path huge = tmp.resolve("huge.bin");
        try (var sparse = new RandomAccessFile(huge.toFile(), "rw")) {
            sparse.setLength(2L << 30);
        }
        try (var server = Ferry.Server.start(tmp.resolve("uploads"));
             var client = Proc.client("127.0.0.1", server.port, huge, SHORT_TIMEOUT)) {
            assertThat(Ferry.await(Ferry.CLIENT_START, Duration.ofMillis(1), () -> Ferry.sizeOf(server.file(1)) > 0))
                    .as("the upload started").isTrue();
            try (var stalled = server.stall()) {
                long stoppedAt = System.nanoTime();
                assertThat(client.isAlive()).as("the transfer is still in flight when the server stops").isTrue();

                var result = client.awaitExit(Duration.ofSeconds(15));

                assertFailed(result, "ERROR: the server took no data for 1\\.5 s \\(\\d+ of " + (2L << 30)
                        + " bytes sent\\); giving up");
                assertThat(Duration.ofNanos(client.exitedAt() - stoppedAt))
                        .as("time from SIGSTOP to giving up")
                        .isGreaterThanOrEqualTo(SHORT.minusMillis(100)).isLessThan(SHORT.plusMillis(2500));
            }
            Ferry.awaitError(server.file(1), Duration.ofSeconds(10));
            assertThat(server.awaitLogLine(1, Duration.ofSeconds(5))).contains(" outcome=reset ");
            stop(server);
        }
    }

    /**
     * <ol>
     * <li>A raw receiver reads the whole 1 MiB file to end of stream.</li>
     * <li>It then resets the connection (SO_LINGER 0) instead of closing it.</li>
     * <li>The client, with the default 10 s timeout, reports the reset at once
     * (within 3 s): ERROR line saying the upload is unconfirmed, exit 1.</li>
     * </ol>
     */
    @Test
    void reportsAResetAfterTheLastByteAsAnError() throws Exception {
        try (var receiver = FaultPeer.open();
             var client = Proc.client("127.0.0.1", receiver.port(), medium, Map.of())) {
            receiver.accept(Ferry.CLIENT_START);
            var received = receiver.readToEnd(Duration.ofSeconds(10));
            assertThat(received.bytes()).isEqualTo(MEDIUM);
            assertThat(client.isAlive()).as("the client waits for the receiver's close").isTrue();
            receiver.reset();
            long resetAt = System.nanoTime();

            var result = client.awaitExit(Duration.ofSeconds(15));

            assertFailed(result, Pattern.quote("ERROR: all " + MEDIUM + " bytes sent, but the connection to 127.0.0.1:"
                    + receiver.port() + " then failed: the server reset the connection; the upload is unconfirmed"));
            assertThat(Duration.ofNanos(client.exitedAt() - resetAt)).as("time from reset to exit")
                    .isLessThan(Duration.ofSeconds(3));
        }
    }

    /**
     * <ol>
     * <li>A raw receiver reads the whole 1 MiB file to end of stream and then
     * keeps its side open, never closing.</li>
     * <li>The client, with FERRY_CLIENT_TIMEOUT_MS=1500, gives up 1.5 s after
     * its half-close (within 4 s of the receiver's end of stream): ERROR line
     * saying the upload is unconfirmed, exit 1.</li>
     * </ol>
     */
    @Test
    void givesUpWhenTheReceiverNeverCloses() throws Exception {
        try (var receiver = FaultPeer.open();
             var client = Proc.client("127.0.0.1", receiver.port(), medium, SHORT_TIMEOUT)) {
            receiver.accept(Ferry.CLIENT_START);
            var received = receiver.readToEnd(Duration.ofSeconds(10));
            assertThat(received.bytes()).isEqualTo(MEDIUM);

            var result = client.awaitExit(Duration.ofSeconds(15));

            assertFailed(result, Pattern.quote("ERROR: all " + MEDIUM + " bytes sent, but 127.0.0.1:" + receiver.port()
                    + " did not close the connection within 1.5 s; the upload is unconfirmed"));
            assertThat(Duration.ofNanos(client.exitedAt() - received.eofAt())).as("time from end of stream to exit")
                    .isGreaterThanOrEqualTo(SHORT.minusMillis(100)).isLessThan(SHORT.plusMillis(2500));
        }
    }

    /**
     * <ol>
     * <li>A python3 receiver reads the 100 MiB upload slowly (64 KiB every 20 ms),
     * so the client keeps waiting for buffer space.</li>
     * <li>Once 256 KiB have arrived, the receiver is killed with SIGKILL.</li>
     * <li>The client, with the default 10 s timeout, notices at once (within
     * 3 s): ERROR line, exit 1.</li>
     * </ol>
     */
    @Test
    void noticesAtOnceWhenTheReceiverIsKilledMidTransfer() throws Exception {
        assumeTool(Tool.PYTHON);
        Path out = tmp.resolve("received.bin");
        try (var receiver = ReceiverProcess.slowPython(out, 0.02);
             var client = Proc.client("127.0.0.1", receiver.port, large, Map.of())) {
            assertThat(Ferry.await(Ferry.CLIENT_START, () -> Ferry.sizeOf(out) >= 256 << 10))
                    .as("the upload reached the receiver; its stderr: %s", receiver.stderr()).isTrue();
            assertThat(client.isAlive()).as("the client is still sending").isTrue();
            Ferry.signal(receiver.pid(), "KILL");
            long killedAt = System.nanoTime();

            var result = client.awaitExit(Duration.ofSeconds(15));

            assertFailed(result, "ERROR: sending to 127\\.0\\.0\\.1:" + receiver.port + " failed after \\d+ of " + LARGE
                    + " bytes: .+");
            assertThat(Duration.ofNanos(client.exitedAt() - killedAt)).as("time from SIGKILL to exit")
                    .isLessThan(Duration.ofSeconds(3));
        }
    }

    // ---- helpers -------------------------------------------------------------------------------




    private static void assumeTool(Tool tool) {
        assumeTrue(Ferry.has(tool.command), tool.command + " is not installed (CI installs it)");
    }

    private static boolean ipv6Loopback() {
        try (var socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress(Ferry.loopback(true), 0));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
    /**
     * Issue 20: an upload to an IP address written out never reads the JDK's
     * java.security file (3-4 ms of an interpreted start): the launcher names
     * the one property the first InetAddress asks for
     * ({@code jdk.includeInExceptions}) as a system property. The class log
     * covers the start-up cache too: a class loaded when it was trained is
     * listed at every start.
     */
    @Test
    void anUploadToAnAddressReadsNoSecurityPropertiesFile() throws Exception {
        Path classLog = tmp.resolve("classes.log");
        try (var peer = FaultPeer.serve(FaultPeer.Policy.drain())) {
            var result = Ferry.client("127.0.0.1", peer.port(), small,
                    Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + classLog));
            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
        }
        assertThat(Files.readString(classLog)).contains("ferry.client.Sender ")
                .doesNotContain("java.security.Security ");
    }
}
