package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * S1, S4, S5, S7 through the real {@code ./server}: uploads of the grading
 * list's sizes from independent senders ({@code nc}, {@code socat}, a raw
 * socket), in large chunks and in small chunks with delays, numbered in
 * accept order, alone, in sequence and at once.
 */
class ServerUploadsIT {
    private static final int SMALL = 500;
    private static final int MEDIUM = 1 << 20;
    private static final int LARGE = 100 << 20;
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    /** Source files, made once for the class: the 100 MiB one takes a moment. */
    @TempDir
    static Path sources;

    @TempDir
    Path tmp;

    /** An independent program that uploads a file and then half-closes. */
    enum Sender {
        NC("nc") {
            @Override
            List<String> command(int port, Path file) {
                return List.of("nc", "-N", "127.0.0.1", Integer.toString(port));
            }
        },
        SOCAT("socat") {
            @Override
            List<String> command(int port, Path file) {
                return List.of("socat", "-u", "FILE:" + file, "TCP:127.0.0.1:" + port);
            }
        };

        final String program;

        Sender(String program) {
            this.program = program;
        }

        abstract List<String> command(int port, Path file);

        Ferry.Result send(int port, Path file) throws Exception {
            assumeTrue(Ferry.has(program), program + " is not installed (CI installs it)");
            return Ferry.exec(command(port, file), Map.of(), file, DEADLINE);
        }
    }

    private static Path source(int size) throws IOException {
        Path file = sources.resolve(size + ".bin");
        if (!Files.exists(file)) {
            Ferry.randomFile(sources, size + ".bin", size, size);
        }
        return file;
    }

    static Stream<Arguments> sizesAndSenders() {
        var cases = new ArrayList<Arguments>();
        for (int size : new int[] {SMALL, MEDIUM, LARGE}) {
            for (Sender sender : Sender.values()) {
                cases.add(Arguments.of(size, sender));
            }
        }
        return cases.stream();
    }

    /** Asserts that connection {@code n} ended complete and its file equals {@code source}. */
    private static void assertSaved(Ferry.Server server, long n, Path source) throws IOException {
        String line = server.awaitLogLine(n, DEADLINE);
        assertThat(line).contains(" bytes=" + Files.size(source) + " ").contains(" outcome=complete ");
        assertThat(Files.mismatch(server.file(n), source)).as("%s equals %s", server.file(n), source).isEqualTo(-1L);
    }

    @ParameterizedTest(name = "{0} bytes from {1}")
    @MethodSource("sizesAndSenders")
    void savesAFileFromAnIndependentSenderInLargeChunks(int size, Sender sender) throws Exception {
        Path source = source(size);
        try (var server = Ferry.Server.start(tmp.resolve("files"))) {
            var result = sender.send(server.port, source);
            assertThat(result.exitCode()).as("%s: %s", sender, result.stderr()).isZero();
            assertSaved(server, 1, source);
        }
    }

    /**
     * The grader's "small chunks with delays": each size is written in chunks
     * far smaller than a socket buffer, with a pause after each.
     */
    @ParameterizedTest(name = "{0} bytes in {1}-byte chunks every {2} ms")
    @org.junit.jupiter.params.provider.CsvSource({"500, 10, 20", "1048576, 4096, 2", "104857600, 65536, 1"})
    void savesAFileSentInSmallChunksWithDelays(int size, int chunk, int delayMillis) throws Exception {
        Path source = source(size);
        try (var server = Ferry.Server.start(tmp.resolve("files"));
             var socket = FaultPeer.connect(server.port);
             InputStream in = Files.newInputStream(source)) {
            OutputStream out = socket.getOutputStream();
            byte[] buffer = new byte[chunk];
            int n;
            while ((n = in.readNBytes(buffer, 0, chunk)) > 0) {
                out.write(buffer, 0, n);
                out.flush();
                TimeUnit.MILLISECONDS.sleep(delayMillis);
            }
            FaultPeer.finish(socket);
            assertSaved(server, 1, source);
        }
    }

    /** The grader's "a file starting to be saved": N.file exists at accept and fills as bytes arrive. */
    @Test
    void theFileExistsAtAcceptAndFillsWhileTheUploadIsInFlight() throws Exception {
        byte[] first = Ferry.randomBytes(64 * 1024, 1);
        byte[] rest = Ferry.randomBytes(1000, 2);
        try (var server = Ferry.Server.start(tmp.resolve("files"));
             var socket = FaultPeer.connect(server.port)) {
            assertThat(Ferry.await(Duration.ofSeconds(5), () -> Files.exists(server.file(1))))
                    .as("1.file exists before any byte is sent").isTrue();
            socket.getOutputStream().write(first);
            Ferry.awaitContent(server.file(1), first, Duration.ofSeconds(5));
            assertThat(server.stdout()).as("the upload is still in flight").doesNotContain("conn=1 ");
            socket.getOutputStream().write(rest);
            FaultPeer.finish(socket);
            byte[] whole = new byte[first.length + rest.length];
            System.arraycopy(first, 0, whole, 0, first.length);
            System.arraycopy(rest, 0, whole, first.length, rest.length);
            assertThat(server.file(1)).hasBinaryContent(whole);
        }
    }

    @Test
    void aConnectionClosedWithoutDataGetsAnEmptyFile() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("files"))) {
            FaultPeer.upload(server.port, new byte[0]);
            assertThat(server.awaitLogLine(1, DEADLINE)).contains(" bytes=0 ").contains(" outcome=complete ");
            assertThat(server.file(1)).exists().isEmptyFile();
        }
    }

    /** S1: the listening socket is the wildcard address, and both address families reach it. */
    @Test
    void listensOnTheWildcardAddressForIpv4AndIpv6() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("files"))) {
            assertThat(TcpTable.wildcardListening(server.port)).as("a listening socket on :: or 0.0.0.0, port %d", server.port)
                    .isTrue();
            byte[] v4 = Ferry.randomBytes(700, 4);
            byte[] v6 = Ferry.randomBytes(600, 6);
            FaultPeer.upload(null, Ferry.loopback(false), server.port, v4);
            assertThat(server.awaitLogLine(1, DEADLINE)).contains("peer=127.0.0.1:");
            assertThat(server.file(1)).hasBinaryContent(v4);
            assumeTrue(Files.exists(Path.of("/proc/net/tcp6")), "IPv6 is disabled on this machine");
            FaultPeer.upload(null, Ferry.loopback(true), server.port, v6);
            assertThat(server.awaitLogLine(2, DEADLINE)).contains("peer=[0:0:0:0:0:0:0:1]:");
            assertThat(server.file(2)).hasBinaryContent(v6);
        }
    }

    /** The grader's "10 files from one client in sequence", with the real client. */
    @Test
    void tenUploadsInSequenceFromTheClientAreNumberedOneToTen() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("files"))) {
            for (int i = 1; i <= 10; i++) {
                Path source = Ferry.randomFile(tmp, "seq-" + i, 1000L * i, i);
                var result = Ferry.client("127.0.0.1", server.port, source, Map.of());
                assertThat(result.exitCode()).as(result.stderr()).isZero();
                assertSaved(server, i, source);
            }
        }
    }

    /**
     * The grader's "10 clients at once": ten {@code nc} processes started
     * together; files 1 to 10 hold the ten uploads, each intact.
     */
    @Test
    void tenSimultaneousUploadsFillOneToTenWithEveryUploadIntact() throws Exception {
        assumeTrue(Ferry.has("nc"), "nc is not installed (CI installs it)");
        var sources = new ArrayList<Path>();
        for (int i = 1; i <= 10; i++) {
            sources.add(Ferry.randomFile(tmp, "par-" + i, MEDIUM + i, 100 + i));
        }
        try (var server = Ferry.Server.start(tmp.resolve("files"))) {
            var senders = new ArrayList<Proc>();
            try {
                for (Path source : sources) {
                    senders.add(Proc.start(Sender.NC.command(server.port, source), Map.of(), Proc.from(source)));
                }
                for (Proc sender : senders) {
                    assertThat(sender.awaitExit(DEADLINE).exitCode()).isZero();
                }
            } finally {
                senders.forEach(Proc::close);
            }
            // The sizes differ, so each file names the upload it must equal.
            var bySize = new java.util.HashMap<Long, Path>();
            for (Path source : sources) {
                bySize.put(Files.size(source), source);
            }
            for (int n = 1; n <= 10; n++) {
                assertThat(server.awaitLogLine(n, DEADLINE)).contains(" outcome=complete ");
                Path source = bySize.remove(Files.size(server.file(n)));
                assertThat(source).as("%s has the size of an upload not yet matched", server.file(n)).isNotNull();
                assertThat(Files.mismatch(server.file(n), source)).as("%s equals %s", server.file(n), source)
                        .isEqualTo(-1L);
            }
            assertThat(bySize).as("every upload has its file").isEmpty();
            assertThat(server.file(11)).doesNotExist();
        }
    }

    /** An upload that ends in a reset is unfinished: its partial bytes are replaced by ERROR. */
    @Test
    void anUploadResetByTheSenderEndsAsError() throws Exception {
        try (var server = Ferry.Server.start(tmp.resolve("files"))) {
            var socket = FaultPeer.connect(server.port);
            socket.getOutputStream().write(Ferry.randomBytes(10_000, 3));
            assertThat(Ferry.await(Duration.ofSeconds(5), () -> Ferry.sizeOf(server.file(1)) == 10_000)).isTrue();
            FaultPeer.reset(socket);
            assertThat(server.awaitLogLine(1, DEADLINE)).contains(" outcome=reset ");
            Ferry.awaitError(server.file(1), Duration.ofSeconds(5));
        }
    }
}
