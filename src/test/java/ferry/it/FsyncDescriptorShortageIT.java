package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --fsync} while descriptors are short: completing an upload needs no
 * descriptor of its own (the directory is opened once, at start), so an
 * upload the server received whole is never lost to the shortage.
 */
class FsyncDescriptorShortageIT {
    private static final int UPLOADS = 200;
    private static final int SIZE = 16 * 1024;

    @TempDir
    Path tmp;

    /**
     * <ol>
     * <li>./server runs with {@code --fsync}, 96 descriptors and no connection limit of its own.</li>
     * <li>200 senders connect at once: the server runs out of descriptors (uploads wait for their files,
     * accepts back off). Then each sends 16 KiB that name it, and half-closes.</li>
     * <li>All 200 are recorded. Every upload the server confirmed holds exactly its sender's bytes; every
     * other file reads ERROR; and none was lost for want of a descriptor: all 200 are confirmed, none
     * logged as write-failed.</li>
     * </ol>
     */
    @Test
    void everyUploadReceivedWholeIsSavedWhileDescriptorsAreShort() throws Exception {
        assumeTrue(Ferry.has("prlimit"), "prlimit (util-linux) is not installed");
        var env = Map.of("FERRY_MAX_CONNECTIONS", "1000", "FERRY_IDLE_TIMEOUT_MS", "60000");
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of("prlimit", "--nofile=96:96"), List.of("--fsync"), dir, env);
             var sockets = new FaultPeer.Connections()) {
            var sent = new ArrayList<byte[]>();
            var senders = new ArrayList<Socket>();
            for (int i = 0; i < UPLOADS; i++) {
                Socket socket = FaultPeer.connect(server.port);
                sockets.add(socket);
                senders.add(socket);
                sent.add(payload(i));
            }
            // Every descriptor taken (sockets, files): uploads wait for their files, accepts back off.
            server.awaitLine(Duration.ofSeconds(30), "Too many open files");
            for (int i = 0; i < UPLOADS; i++) {
                // 16 KiB fit in the kernel's buffers even before the server accepts: no thread per sender.
                senders.get(i).getOutputStream().write(sent.get(i));
                senders.get(i).shutdownOutput();
            }
            var confirmed = new ArrayList<Integer>();
            for (int i = 0; i < UPLOADS; i++) {
                if (!FaultPeer.endsInReset(senders.get(i), Duration.ofSeconds(90))) {
                    confirmed.add(i);
                }
            }
            assertThat(Ferry.await(Duration.ofSeconds(90), Duration.ofMillis(100),
                    () -> server.records().size() >= UPLOADS))
                    .as("all %d uploads recorded:%n%s", UPLOADS, server.stdout()).isTrue();

            var files = new HashMap<String, byte[]>();
            for (var record : server.records()) {
                byte[] content = Files.readAllBytes(Path.of(record.file()));
                if (Arrays.equals(content, "ERROR".getBytes(StandardCharsets.US_ASCII))) {
                    continue;
                }
                files.put(new String(content, 0, Math.min(content.length, header(0).length()), StandardCharsets.US_ASCII),
                        content);
            }
            for (int i : confirmed) {
                assertThat(files.get(header(i))).as("sender %d, confirmed, saved intact", i).isEqualTo(sent.get(i));
            }
            assertThat(files.keySet()).as("every file not confirmed reads ERROR")
                    .isSubsetOf(confirmed.stream().map(FsyncDescriptorShortageIT::header).toList());
            assertThat(server.stdout()).as("no upload received whole was lost to the shortage")
                    .doesNotContain("outcome=write-failed");
            assertThat(confirmed).as("every upload confirmed").hasSize(UPLOADS);
        }
    }

    /**
     * The same, made certain: the moment of a shortage at which the directory would be opened.
     * <ol>
     * <li>./server runs with {@code --fsync}; once it listens, strace attaches to its JVM and makes every
     * open of FILE-DIR itself fail with EMFILE (its files' opens are untouched).</li>
     * <li>Three uploads are sent: each is confirmed, intact, and logged complete; none is write-failed.</li>
     * </ol>
     */
    @Test
    void aCompletionWithFsyncOpensNoDescriptor() throws Exception {
        assumeTrue(Ferry.has("strace"), "strace is not installed");
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(List.of(), List.of("--fsync"), dir, Map.of())) {
            var strace = Proc.start(List.of("strace", "-f", "-p", Long.toString(server.jvm().pid()), "-o", "/dev/null",
                    "-P", dir.toString(), "-e", "trace=openat,open", "-e", "inject=openat,open:error=EMFILE"),
                    Map.of(), null);
            try {
                assertThat(Ferry.await(Duration.ofSeconds(30), () -> strace.stderr().contains("attached")))
                        .as("strace attached: %s", strace.stderr()).isTrue();
                for (int i = 0; i < 3; i++) {
                    byte[] data = payload(i);
                    FaultPeer.upload(server.port, data);
                    assertThat(server.file(i + 1)).as("upload %d", i + 1).hasBinaryContent(data);
                }
                assertThat(server.records()).hasSize(3).allMatch(Ferry.Server.Record::complete);
            } finally {
                strace.signal("INT"); // detaches from the server, which runs on
                strace.process().waitFor(10, TimeUnit.SECONDS);
                strace.close();
            }
        }
    }

    private static String header(int i) {
        return String.format("sender-%03d\n", i);
    }

    private static byte[] payload(int i) {
        byte[] data = Ferry.randomBytes(SIZE, i);
        byte[] header = header(i).getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(header, 0, data, 0, header.length);
        return data;
    }
}
