package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ./client HOST PORT FILE FILE...}: many files from one run, against the real {@code ./server}. */
class ClientBatchIT {
    private static final Duration DEADLINE = Duration.ofSeconds(120);
    /** ./client --verbose's line for a confirmed file; the time and rate vary. */
    private static final Pattern SUMMARY = Pattern.compile("\"([^\"]+)\": sent (\\d+) bytes \\(([0-9.]+ KiB)\\)"
            + " to 127\\.0\\.0\\.1:(\\d+) in \\d+\\.\\d\\d s \\((?:\\d+ B|\\d+\\.\\d [KMG]iB)/s\\); confirmed");

    @TempDir
    Path tmp;

    /** A size between 1 KiB and 1 MiB as the summary gives it, in KiB with one decimal. */
    private static String kib(long bytes) {
        long tenths = Math.round(bytes * 10 / 1024.0);
        return tenths / 10 + "." + tenths % 10 + " KiB";
    }

    private List<String> files(int count, int size) throws Exception {
        var names = new ArrayList<String>();
        for (int i = 1; i <= count; i++) {
            names.add(Ferry.randomFile(tmp, "f" + i, size + i, i).toString());
        }
        return names;
    }

    /**
     * 60 files sent 8 at once: each over its own connection, numbered by the
     * server in the order given (N.file holds file N), every byte there; with
     * --verbose, one summary line per file, in the order they were confirmed:
     * {@code "FILE": sent N bytes (S KiB) to 127.0.0.1:PORT in T s (RATE/s); confirmed}.
     */
    @Test
    void filesAreSentInTheOrderGivenAlsoSeveralAtOnce() throws Exception {
        var names = files(60, 20_000);
        try (var server = Ferry.Server.start(tmp.resolve("out"), Map.of())) {
            var args = new ArrayList<>(List.of("--parallel", "8", "--verbose", "127.0.0.1",
                    Integer.toString(server.port)));
            args.addAll(names);
            var result = Ferry.run("client", args, Map.of(), DEADLINE);
            assertThat(result.exitCode()).as("stderr: %s", result.stderr()).isZero();
            var lines = result.stderr().lines().toList();
            assertThat(lines).as("one summary line per file").hasSize(60);
            var summarised = new ArrayList<String>();
            for (String line : lines) {
                Matcher m = SUMMARY.matcher(line);
                assertThat(m.matches()).as("a summary line: %s", line).isTrue();
                String name = m.group(1);
                assertThat(names).as("the file named in %s", line).contains(name);
                long size = Files.size(Path.of(name));
                assertThat(m.group(2)).as("bytes in %s", line).isEqualTo(Long.toString(size));
                assertThat(m.group(3)).as("size in %s", line).isEqualTo(kib(size));
                assertThat(m.group(4)).as("server in %s", line).isEqualTo(Integer.toString(server.port));
                summarised.add(name);
            }
            assertThat(summarised).as("each file summarised once").containsExactlyInAnyOrderElementsOf(names);
            for (int i = 1; i <= 60; i++) {
                assertThat(server.file(i)).as("%d.file", i).hasSameBinaryContentAs(Path.of(names.get(i - 1)));
            }
            Ferry.stop(server);
        }
    }

    /**
     * A receiver that resets the third connection: the batch (one at a time)
     * stops there; one ERROR line names the file that failed, the two sent and
     * the two not sent; exit 1; the receiver never sees a fourth connection.
     */
    @Test
    void theFirstFailureStopsTheBatchAndTheErrorNamesWhatWasAndWasNotSent() throws Exception {
        var names = files(5, 1000);
        var connections = new AtomicInteger();
        try (var listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                while (!listener.isClosed()) {
                    try (Socket socket = listener.accept()) {
                        socket.setSoTimeout((int) DEADLINE.toMillis());
                        int n = connections.incrementAndGet();
                        InputStream in = socket.getInputStream();
                        if (n == 3) {
                            in.read();
                            socket.setSoLinger(true, 0); // a reset, not the confirming close
                            continue;
                        }
                        in.transferTo(java.io.OutputStream.nullOutputStream());
                    } catch (Exception e) {
                        return;
                    }
                }
            });
            var args = new ArrayList<>(List.of("127.0.0.1", Integer.toString(listener.getLocalPort())));
            args.addAll(names);
            var result = Ferry.run("client", args, Map.of(), DEADLINE);
            assertThat(result.exitCode()).isEqualTo(1);
            assertThat(result.stderr().lines().toList()).singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                    .startsWith("ERROR: \"" + names.get(2) + "\": ")
                    .contains("; sent 2 (\"" + names.get(0) + "\", \"" + names.get(1) + "\")")
                    .endsWith("; not sent 2 (\"" + names.get(3) + "\", \"" + names.get(4) + "\")");
            assertThat(connections.get()).isEqualTo(3);
        }
    }

    /**
     * A file that does not exist anywhere in the list: exit 2 before anything
     * is sent. Then one upload of the test's own, confirmed, is 1.file: the
     * server numbered no connection before it.
     */
    @Test
    void aMissingFileAnywhereStopsTheBatchBeforeAnythingIsSent() throws Exception {
        var names = files(3, 100);
        names.add(1, tmp.resolve("missing").toString());
        try (var server = Ferry.Server.start(tmp.resolve("out"), Map.of())) {
            var args = new ArrayList<>(List.of("127.0.0.1", Integer.toString(server.port)));
            args.addAll(names);
            var result = Ferry.run("client", args, Map.of(), DEADLINE);
            assertThat(result.exitCode()).isEqualTo(2);
            assertThat(result.stderr()).startsWith("ERROR: file ").contains("missing").contains("does not exist");
            byte[] probe = "probe".getBytes(StandardCharsets.US_ASCII);
            FaultPeer.upload(server.port, probe);
            try (Stream<Path> saved = Files.list(tmp.resolve("out"))) {
                assertThat(saved.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".file")))
                        .containsExactly("1.file");
            }
            assertThat(server.file(1)).hasBinaryContent(probe);
            Ferry.stop(server);
        }
    }

}
