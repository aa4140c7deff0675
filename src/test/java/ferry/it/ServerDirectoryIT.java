package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code <FILE-DIR>} through the real launcher: uploads of an earlier run are
 * kept (moved aside), a directory in use by another server is refused, a
 * failed start leaves no trace, and the log says what happened, with times.
 */
class ServerDirectoryIT {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final Pattern STAMPED =
            Pattern.compile("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ferry: .*");

    @TempDir
    Path tmp;

    private static void upload(int port, String text) throws IOException {
        FaultPeer.upload(port, text.getBytes(StandardCharsets.US_ASCII));
    }

    private static List<Path> earlierFolders(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.filter(p -> p.getFileName().toString().startsWith("earlier-")).sorted().toList();
        }
    }

    /**
     * <ol>
     * <li>A server saves two uploads, and the directory holds a file of the user's.</li>
     * <li>It is stopped and started again on the same directory.</li>
     * <li>Both uploads are moved, intact, into one new earlier-&lt;UTC time&gt; folder, and one log line says so;
     * the user's file stays where it was.</li>
     * <li>The next upload is 1.file again (S5), and the earlier 1.file is unchanged.</li>
     * <li>A third start moves that one aside into a second folder.</li>
     * </ol>
     */
    @Test
    void aRestartKeepsTheEarlierUploadsAside() throws Exception {
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(dir)) {
            upload(server.port, "first run, one");
            upload(server.port, "first run, two");
        }
        Files.writeString(dir.resolve("notes.txt"), "mine");
        // A link named like an upload, planted to make the server overwrite another file: moved aside too.
        Path victim = Files.writeString(tmp.resolve("precious.txt"), "precious");
        Files.createSymbolicLink(dir.resolve("3.file"), victim);
        try (var server = Ferry.Server.start(dir)) {
            List<Path> earlier = earlierFolders(dir);
            assertThat(earlier).hasSize(1);
            assertThat(earlier.get(0).getFileName().toString()).matches("earlier-\\d{8}T\\d{6}Z");
            assertThat(earlier.get(0).resolve("1.file")).hasContent("first run, one");
            assertThat(earlier.get(0).resolve("2.file")).hasContent("first run, two");
            assertThat(server.stdout()).contains("ferry: moved 3 earlier uploads (N.file) aside to " + earlier.get(0));
            assertThat(Files.isSymbolicLink(earlier.get(0).resolve("3.file"))).isTrue();
            assertThat(dir.resolve("notes.txt")).hasContent("mine");
            assertThat(dir.resolve("1.file")).doesNotExist();
            upload(server.port, "second run");
            upload(server.port, "second run, two");
            upload(server.port, "second run, three");
            assertThat(dir.resolve("1.file")).hasContent("second run");
            assertThat(victim).hasContent("precious");
            assertThat(earlier.get(0).resolve("1.file")).hasContent("first run, one");
        }
        try (var server = Ferry.Server.start(dir)) {
            List<Path> earlier = earlierFolders(dir);
            assertThat(earlier).hasSize(2);
            assertThat(earlier).anySatisfy(folder -> assertThat(folder.resolve("1.file")).hasContent("second run"));
            assertThat(server.stdout()).contains("ferry: moved 3 earlier uploads (N.file) aside to ");
        }
    }

    /**
     * <ol>
     * <li>A server runs on a directory and has saved an upload.</li>
     * <li>A second server on the same directory (another port) refuses to start: exit 1, one ERROR: line
     * naming the first server's process, nothing on standard output, nothing moved or written.</li>
     * <li>The first is killed with SIGKILL: the lock dies with it, and a new server starts on the directory.</li>
     * </ol>
     */
    @Test
    void aSecondServerOnADirectoryInUseRefusesToStartAndNoLockOutlivesItsServer() throws Exception {
        Path dir = tmp.resolve("shared");
        try (var first = Ferry.Server.start(dir)) {
            upload(first.port, "owned by the first");
            var second = Ferry.run("server", List.of(Integer.toString(Ports.unused()), dir.toString()), Map.of(),
                    DEADLINE);
            assertThat(second.exitCode()).isEqualTo(1);
            assertThat(second.stderr()).matches("ERROR: directory \"" + Pattern.quote(dir.toString())
                    + "\" is in use by another ferry server \\(process \\d+\\); give each server a directory of its own\n");
            assertThat(second.stdout()).isEmpty();
            assertThat(dir.resolve("1.file")).hasContent("owned by the first");
            assertThat(earlierFolders(dir)).isEmpty();
            upload(first.port, "still served");
            assertThat(dir.resolve("2.file")).hasContent("still served");

            Ferry.signal(first.pid(), "KILL");
            assertThat(Ferry.await(Duration.ofSeconds(10), () -> !Ferry.listening(first.port))).isTrue();
        }
        try (var next = Ferry.Server.start(dir)) {
            assertThat(next.stderr()).isEmpty();
            assertThat(earlierFolders(dir)).hasSize(1);
        }
    }

    /**
     * <ol>
     * <li>A symbolic link named {@code .ferry.lock} is planted in FILE-DIR, pointing at a file of the user's
     * (and, in a second directory, at a file that does not exist).</li>
     * <li>./server refuses to start: exit 1, one ERROR: line naming the link, nothing on standard output.</li>
     * <li>The link's target is untouched (not truncated, no pid written; the missing one not created).</li>
     * </ol>
     */
    @Test
    void aLinkPlantedAsTheLockFileIsNeverFollowed() throws Exception {
        Path victim = Files.writeString(tmp.resolve("precious.txt"), "precious");
        Path missing = tmp.resolve("not-there.txt");
        for (Path target : List.of(victim, missing)) {
            Path dir = Files.createDirectories(tmp.resolve("files-" + target.getFileName()));
            Path link = Files.createSymbolicLink(dir.resolve(".ferry.lock"), target);
            var result = Ferry.run("server", List.of(Integer.toString(Ports.unused()), dir.toString()), Map.of(),
                    DEADLINE);
            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(1);
            assertThat(result.stderr()).isEqualTo("ERROR: directory \"" + dir + "\" has a symbolic link as its lock file \""
                    + link + "\", which the server never follows; remove it\n");
            assertThat(result.stdout()).isEmpty();
            assertThat(Files.isSymbolicLink(link)).isTrue();
        }
        assertThat(victim).hasContent("precious");
        assertThat(missing).doesNotExist();
    }

    @Test
    void aPortInUseLeavesNoTrace() throws Exception {
        Path dir = tmp.resolve("a/b");
        try (var taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            var result = Ferry.run("server", List.of(Integer.toString(taken.getLocalPort()), dir.toString()), Map.of(),
                    DEADLINE);
            assertThat(result.exitCode()).isEqualTo(1);
            assertThat(result.stderr()).startsWith("ERROR: cannot listen on port ");
        }
        assertThat(tmp.resolve("a")).as("nothing is created when the server cannot run").doesNotExist();
    }

    /**
     * Every line of the log starts with an RFC 3339 UTC time, and every failed upload's line says why:
     * an idle one, one reset by its sender, one too large, and one cut by the stop.
     */
    @Test
    void everyLogLineIsStampedAndEveryFailedUploadSaysWhy() throws Exception {
        var env = Map.of("FERRY_IDLE_TIMEOUT_MS", "500", "FERRY_MAX_BYTES", "1000");
        Ferry.Server server = Ferry.Server.start(tmp.resolve("files"), env);
        try (server) {
            upload(server.port, "fine");
            try (var idle = FaultPeer.connect(server.port)) {
                server.awaitLogLine(2, Duration.ofSeconds(5));
            }
            try (var reset = FaultPeer.connect(server.port)) {
                reset.getOutputStream().write(1);
                reset.setSoLinger(true, 0);
            }
            server.awaitLogLine(3, Duration.ofSeconds(5));
            try (var large = FaultPeer.connect(server.port)) {
                large.getOutputStream().write(new byte[2000]);
                server.awaitLogLine(4, Duration.ofSeconds(5));
            }
            var inFlight = FaultPeer.connect(server.port);
            inFlight.getOutputStream().write(1);
            assertThat(Ferry.await(Duration.ofSeconds(5), () -> Files.exists(server.file(5)))).isTrue();
            server.signal("TERM");
            assertThat(server.awaitExit(Duration.ofSeconds(10))).isZero();
            inFlight.close();
        }
        List<String> lines = server.stdout().lines().toList();
        assertThat(lines).allSatisfy(line -> assertThat(line).matches(STAMPED));
        assertThat(server.stdout())
                .containsPattern("conn=1 .* outcome=complete file=\\S+\n")
                .containsPattern("conn=2 .* outcome=idle-timeout file=\\S+ reason=\"no data for 500 ms\"")
                .containsPattern("conn=3 .* outcome=reset file=\\S+ reason=\"connection reset")
                .containsPattern("conn=4 .* outcome=too-large file=\\S+ reason=\"more than 1000 bytes\"")
                .containsPattern("conn=5 .* outcome=shutdown file=\\S+ reason=\"the server was stopped\"");
    }

    /**
     * <ol>
     * <li>./server runs with 128 descriptors and no connection limit of its own; 200 connections arrive,
     * so some are accepted but cannot get their file yet (they wait, retrying).</li>
     * <li>It is stopped: those are logged as shutdown (the stop cut them), not as write-failed.</li>
     * </ol>
     */
    @Test
    void aConnectionWaitingForADescriptorWhenTheServerStopsIsLoggedAsShutdown() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Ferry.has("prlimit"), "prlimit (util-linux) is not installed");
        var env = Map.of("FERRY_MAX_CONNECTIONS", "1000", "FERRY_IDLE_TIMEOUT_MS", "60000");
        // Each upload takes two descriptors, a socket then a file: whether the last free one goes to an accept
        // (which then backs off) or to a file (whose upload then waits) depends on how many the JVM holds at
        // start (its jars, say). One of two limits of different parity makes an upload wait for its file.
        for (int limit : new int[] {128, 129}) {
            var sockets = new java.util.ArrayList<Socket>();
            Ferry.Server server = Ferry.Server.start(tmp.resolve("files-" + limit), env,
                    List.of("prlimit", "--nofile=" + limit + ":" + limit));
            boolean waited;
            try (server) {
                for (int i = 0; i < 200; i++) {
                    sockets.add(FaultPeer.connect(server.port));
                }
                waited = Ferry.await(Duration.ofSeconds(10),
                        () -> server.stdout().contains("cannot create the file of conn="));
                server.signal("TERM");
                assertThat(server.awaitExit(Duration.ofSeconds(10))).isZero();
            } finally {
                for (Socket socket : sockets) {
                    socket.close();
                }
            }
            if (waited) {
                assertThat(server.stdout()).contains("outcome=shutdown").doesNotContain("outcome=write-failed");
                return;
            }
        }
        org.assertj.core.api.Assertions.fail("no upload waited for a descriptor under 128 or 129 of them");
    }
}
