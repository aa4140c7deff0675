package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's options through the real {@code ./server}: {@code --listen},
 * {@code --allow}/{@code --deny}, {@code --checksum sha256},
 * {@code --log-format json}, {@code --fsync}, {@code --min-free}, and flags
 * winning over their variables.
 */
class OperatorOptionsIT {
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    /** Connects from {@code from} and expects the server to reset the connection at once, without data sent. */
    private static void expectReset(InetAddress from, InetAddress to, int port) throws IOException {
        try (var socket = new Socket()) {
            if (from != null) {
                socket.bind(new InetSocketAddress(from, 0));
            }
            // The reset may come before any of these calls returns, even connect: each of them then reports it.
            assertThatThrownBy(() -> {
                socket.connect(new InetSocketAddress(to, port), 5_000);
                socket.setSoTimeout(5_000);
                InputStream in = socket.getInputStream();
                in.read();
            }).as("the refused connection is reset").isInstanceOf(SocketException.class).hasMessageContaining("reset");
        }
    }

    private static InetAddress address(String text) throws IOException {
        return InetAddress.getByName(text);
    }


    /**
     * <ol>
     * <li>The server listens on 127.0.0.1 only ({@code --listen}).</li>
     * <li>An upload to 127.0.0.1 is saved as 1.file.</li>
     * <li>A connection to ::1, the same host's other family, is refused by the kernel: nothing listens there.</li>
     * </ol>
     */
    @Test
    void listenBindsTheOneAddressGiven() throws Exception {
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), List.of("--listen", "127.0.0.1"), dir, Map.of())) {
            assertThat(server.stdout()).contains("listening on port " + server.port + " (127.0.0.1)");
            FaultPeer.upload(null, address("127.0.0.1"), server.port, "v4".getBytes());
            Ferry.awaitContent(server.file(1), "v4".getBytes(), DEADLINE);
            assertThatThrownBy(() -> FaultPeer.upload(null, address("::1"), server.port, "v6".getBytes()))
                    .isInstanceOf(ConnectException.class);
        }
    }

    /**
     * <ol>
     * <li>The server allows 127.0.0.2 only ({@code --allow 127.0.0.2/32}); the variable FERRY_ALLOW, which
     * would allow everyone, is overridden by the flag.</li>
     * <li>A connection from 127.0.0.1 is reset at once; it gets no number and no file, and one log line says why.</li>
     * <li>An upload from 127.0.0.2 then is 1.file: the refused one used no number.</li>
     * </ol>
     */
    @Test
    void aPeerOutsideTheAllowedRangesIsResetUnnumbered() throws Exception {
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), List.of("--allow", "127.0.0.2/32"), dir,
                Map.of("FERRY_ALLOW", "0.0.0.0/0,::/0"))) {
            expectReset(address("127.0.0.1"), address("127.0.0.1"), server.port);
            assertThat(Ferry.await(DEADLINE, () -> server.stdout().contains("refused peer=127.0.0.1:"))).isTrue();
            assertThat(server.stdout()).contains("by=rule reason=\"not in any allowed range\"");
            FaultPeer.upload(address("127.0.0.2"), address("127.0.0.1"), server.port, "allowed".getBytes());
            Ferry.awaitContent(server.file(1), "allowed".getBytes(), DEADLINE);
            assertThat(server.awaitLogLine(1, DEADLINE)).contains("peer=127.0.0.2:").contains("outcome=complete");
            try (var files = Files.list(dir)) {
                assertThat(files.filter(p -> p.toString().endsWith(".file")).count()).as("N.file count").isEqualTo(1);
            }
        }
    }

    /**
     * <ol>
     * <li>The server denies IPv4 loopback written as an IPv4-mapped IPv6 range
     * ({@code --deny ::ffff:127.0.0.0/104}), on its dual-stack socket.</li>
     * <li>An IPv4 connection from 127.0.0.1 is reset, unnumbered.</li>
     * <li>An IPv6 upload from ::1 is 1.file.</li>
     * </ol>
     */
    @Test
    void anIpv4MappedDenyRangeMatchesIpv4Peers() throws Exception {
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), List.of("--deny", "::ffff:127.0.0.0/104"), dir, Map.of())) {
            expectReset(null, address("127.0.0.1"), server.port);
            FaultPeer.upload(null, address("::1"), server.port, "v6".getBytes());
            Ferry.awaitContent(server.file(1), "v6".getBytes(), DEADLINE);
            assertThat(server.stdout()).contains("refused peer=127.0.0.1:")
                    .contains("reason=\"denied by ::ffff:127.0.0.0/104\"");
        }
    }

    /**
     * <ol>
     * <li>The server computes SHA-256 checksums (FERRY_CHECKSUM=sha256).</li>
     * <li>A 3 MiB random upload from {@code nc -N}: its log line's sha256 is the file's.</li>
     * <li>An empty upload: the SHA-256 of nothing.</li>
     * <li>A reset upload: no sha256 in its line (its bytes are not the file).</li>
     * </ol>
     */
    @Test
    void theChecksumOfEachCompleteUploadIsInItsRecord() throws Exception {
        Assumptions.assumeTrue(Ferry.has("nc"), "nc (netcat-openbsd) is not installed");
        Path dir = tmp.resolve("files");
        Path source = Ferry.randomFile(tmp, "source.bin", 3 << 20, 9);
        byte[] data = Files.readAllBytes(source);
        try (var server = Ferry.Server.start(dir, Map.of("FERRY_CHECKSUM", "sha256"))) {
            var nc = Ferry.exec(List.of("nc", "-N", "127.0.0.1", Integer.toString(server.port)), Map.of(), source,
                    DEADLINE);
            assertThat(nc.exitCode()).isZero();
            assertThat(server.awaitLogLine(1, DEADLINE)).contains(" sha256=" + Checksums.sha256(data))
                    .contains("outcome=complete");
            FaultPeer.upload(null, address("127.0.0.1"), server.port, new byte[0]);
            assertThat(server.awaitLogLine(2, DEADLINE)).contains(" sha256=" + Checksums.sha256(new byte[0]));
            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write("cut short".getBytes());
                socket.setSoLinger(true, 0);
            }
            assertThat(server.awaitLogLine(3, DEADLINE)).contains("outcome=reset").doesNotContain("sha256");
        }
        assertThat(Files.readAllBytes(dir.resolve("1.file"))).isEqualTo(data);
    }

    /**
     * <ol>
     * <li>The server logs JSON ({@code --log-format json}) with checksums, an idle limit of 300 ms and a deny rule
     * for 127.0.0.2.</li>
     * <li>A complete upload, a silent connection (idle timeout) and a refused peer.</li>
     * <li>After a stop, {@code jq} reads every line as one object with time and event, and the upload records
     * carry conn, peer, bytes, ms, outcome, file, and sha256 or reason.</li>
     * </ol>
     */
    @Test
    void theJsonLogIsOneObjectPerLineForJq() throws Exception {
        Assumptions.assumeTrue(Ferry.has("jq"), "jq is not installed");
        Path dir = tmp.resolve("files");
        Path log;
        try (var server = Ferry.Server.start(List.of(), List.of("--log-format", "json", "--checksum", "sha256",
                "--deny", "127.0.0.2"), dir, Map.of("FERRY_IDLE_TIMEOUT_MS", "300"))) {
            FaultPeer.upload(null, address("127.0.0.1"), server.port, "hello \"json\"\n".getBytes());
            try (var silent = FaultPeer.connect(server.port)) {
                silent.setSoTimeout(5_000);
                assertThatThrownBy(() -> silent.getInputStream().read()).isInstanceOf(SocketException.class);
            }
            expectReset(address("127.0.0.2"), address("127.0.0.1"), server.port);
            assertThat(Ferry.await(DEADLINE, () -> server.stdout().contains("\"event\":\"refused\""))).isTrue();
            server.signal("TERM");
            assertThat(server.awaitExit(DEADLINE)).isZero();
            log = Files.writeString(tmp.resolve("log.json"), server.stdout());
        }
        var all = Ferry.exec(List.of("jq", "-e", "-r", "select(.time and .event) | .event"), Map.of(), log, DEADLINE);
        assertThat(all.exitCode()).as("jq reads every line: %s", all.stderr()).isZero();
        assertThat(all.stdout().lines().toList()).containsExactly("listening", "upload", "upload", "refused", "stopped");
        var uploads = Ferry.exec(List.of("jq", "-r", "select(.event == \"upload\") | [.conn, .bytes, .outcome, .file,"
                + " (.sha256 // \"-\"), (.reason // \"-\"), (.ms | type), (.peer | test(\"^127\\\\.0\\\\.0\\\\.1:[0-9]+$\"))]"
                + " | @tsv"), Map.of(), log, DEADLINE);
        assertThat(uploads.stdout().lines().toList()).containsExactly(
                "1\t13\tcomplete\t" + dir.resolve("1.file") + "\t" + Checksums.sha256("hello \"json\"\n".getBytes())
                        + "\t-\tnumber\ttrue",
                "2\t0\tidle-timeout\t" + dir.resolve("2.file") + "\t-\tno data for 300 ms\tnumber\ttrue");
        var time = Ferry.exec(List.of("jq", "-r", ".time"), Map.of(), log, DEADLINE);
        assertThat(time.stdout().lines()).allMatch(t -> t.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"));
    }

    /**
     * <ol>
     * <li>The server runs under {@code strace -f -y} with {@code --fsync}.</li>
     * <li>An upload is confirmed.</li>
     * <li>The trace shows fsync of 1.file and of its directory, both before the socket's shutdown that confirmed
     * it.</li>
     * <li>Without {@code --fsync}, the same upload is never fsync'ed.</li>
     * </ol>
     */
    @Test
    void fsyncPutsTheFileAndItsDirectoryOnDiskBeforeTheConfirmingClose() throws Exception {
        Assumptions.assumeTrue(Ferry.has("strace"), "strace is not installed");
        for (boolean fsync : new boolean[] {true, false}) {
            Path dir = tmp.resolve("files-" + fsync);
            Path trace = tmp.resolve("trace-" + fsync);
            var wrapper = List.of("strace", "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync,shutdown",
                    "-o", trace.toString());
            try (var server = Ferry.Server.start(wrapper, fsync ? List.of("--fsync") : List.of(), dir, Map.of())) {
                FaultPeer.upload(null, address("127.0.0.1"), server.port, "durable".getBytes());
                server.awaitLogLine(1, DEADLINE);
                // Killing strace would only detach it: the launcher below it is stopped as a user would.
                var tree = server.process.descendants().toList();
                tree.stream().filter(p -> p.info().commandLine().orElse("").contains("/server ")).forEach(ProcessHandle::destroy);
                assertThat(Ferry.await(DEADLINE, () -> tree.stream().noneMatch(ProcessHandle::isAlive)))
                        .as("the traced launcher and its JVM stop").isTrue();
            }
            List<String> lines = Files.readAllLines(trace);
            String file = dir.resolve("1.file").toString();
            int fileSync = indexOf(lines, "fsync(", "<" + file + ">");
            int dirSync = indexOf(lines, "fsync(", "<" + dir + ">");
            // The confirmation: the server's FIN (shutdown SHUT_WR), then its close.
            int confirm = indexOf(lines, "shutdown(", "SHUT_WR");
            if (fsync) {
                assertThat(fileSync).as("fsync of 1.file").isNotNegative();
                assertThat(dirSync).as("fsync of its directory").isNotNegative();
                assertThat(confirm).as("the confirming close").isGreaterThan(Math.max(fileSync, dirSync));
            } else {
                assertThat(fileSync).as("no fsync without --fsync").isNegative();
                assertThat(dirSync).as("no fsync without --fsync").isNegative();
            }
        }
    }

    private static int indexOf(List<String> lines, String call, String argument) {
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.contains(call) && line.contains(argument)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * <ol>
     * <li>FILE-DIR is an 8 MiB tmpfs; the server keeps 4 MiB free ({@code --min-free 4M}).</li>
     * <li>A 5 MiB file of the operator's fills it below that: two connections are reset at once, unnumbered,
     * and the log says why once.</li>
     * <li>The file is removed: the next upload is 1.file, and the log says serving resumed.</li>
     * </ol>
     */
    @Test
    void belowTheMinimumFreeSpaceNewConnectionsAreResetUntilSpaceIsBack() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("small"));
        try (var mount = Mount.tmpfs(dir, "8m");
             var server = Ferry.Server.start(List.of(), List.of("--min-free", "4M"), dir, Map.of())) {
            Path filler = Files.write(dir.resolve("filler"), new byte[5 << 20]);
            expectReset(null, address("127.0.0.1"), server.port);
            expectReset(null, address("127.0.0.1"), server.port);
            assertThat(Ferry.await(DEADLINE, () -> server.stdout().contains("free space is short"))).isTrue();
            assertThat(server.stdout().lines().filter(l -> l.contains("free space is short")).count())
                    .as("said once per stretch").isEqualTo(1);
            assertThat(server.file(1)).doesNotExist();
            Files.delete(filler);
            FaultPeer.upload(null, address("127.0.0.1"), server.port, "room again".getBytes());
            Ferry.awaitContent(server.file(1), "room again".getBytes(), DEADLINE);
            assertThat(server.stdout()).contains("free space is back: serving again");
        }
    }
}
