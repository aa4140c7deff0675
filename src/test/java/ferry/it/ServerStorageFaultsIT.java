package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A write that fails ends the upload as ERROR, and the server keeps serving.
 * The disk-full case mounts a small tmpfs, so it needs root.
 */
class ServerStorageFaultsIT {
    @TempDir
    Path tmp;

    private static boolean sendAll(int port, byte[] data) {
        try (var socket = FaultPeer.connect(port)) {
            OutputStream out = socket.getOutputStream();
            out.write(data);
            socket.shutdownOutput();
            return socket.getInputStream().read() == -1;
        } catch (IOException e) {
            return false; // reset by the server: the upload failed
        }
    }

    /**
     * <ol>
     * <li>FILE-DIR is a 1 MiB tmpfs.</li>
     * <li>A 3 MiB upload fills it: the sender sees a reset, 1.file reads ERROR, the log says write-failed.</li>
     * <li>A 10 KiB upload right after is saved intact in 2.file: the server is still up.</li>
     * </ol>
     */
    @Test
    void aFullDiskEndsThatUploadAsErrorAndTheNextOneSucceeds() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("small"));
        try (var mount = Mount.tmpfs(dir, "1m"); var server = Ferry.Server.start(dir)) {
            assertThat(sendAll(server.port, Ferry.randomBytes(3 << 20, 1))).as("the full upload is confirmed").isFalse();
            assertThat(server.awaitRecord(1).outcome()).isEqualTo("write-failed");
            Ferry.awaitError(server.file(1), Duration.ofSeconds(5));

            byte[] small = Ferry.randomBytes(10_000, 2);
            assertThat(sendAll(server.port, small)).isTrue();
            Ferry.awaitContent(server.file(2), small, Duration.ofSeconds(5));
            assertThat(server.process.isAlive()).isTrue();
        }
    }

    /**
     * <ol>
     * <li>An upload is in flight when FILE-DIR is removed.</li>
     * <li>It finishes: the sender sees a reset instead of a confirmation, and the log says write-failed.</li>
     * <li>The next connection cannot get a file: it is reset and logged, and the server stays up.</li>
     * </ol>
     */
    @Test
    void aRemovedDirectoryFailsTheUploadsAndTheServerStaysUp() throws Exception {
        Path dir = tmp.resolve("files");
        try (var server = Ferry.Server.start(dir)) {
            try (var socket = FaultPeer.connect(server.port)) {
                socket.getOutputStream().write(new byte[1000]);
                assertThat(Ferry.await(Duration.ofSeconds(5), () -> Files.exists(server.file(1)))).isTrue();
                deleteTree(dir);
                socket.getOutputStream().write(new byte[1000]);
                socket.shutdownOutput();
                boolean confirmed;
                try {
                    confirmed = socket.getInputStream().read() == -1;
                } catch (IOException e) {
                    confirmed = false;
                }
                assertThat(confirmed).as("an upload into a removed directory is not confirmed").isFalse();
            }
            assertThat(sendAll(server.port, new byte[10])).isFalse();
            server.awaitRecord(2);
            assertThat(server.awaitRecord(1).outcome()).isEqualTo("write-failed");
            assertThat(server.process.isAlive()).isTrue();
            assertThat(server.stderr()).doesNotContain("Exception");
        }
    }

    /**
     * <ol>
     * <li>An upload is in flight when FILE-DIR becomes read-only (a read-only bind mount over it).</li>
     * <li>A new connection cannot get a file: it is reset, and the log says why.</li>
     * <li>The upload in flight keeps its open file and completes intact.</li>
     * <li>Once the directory is writable again, the next upload is saved: the server stayed up.</li>
     * </ol>
     */
    @Test
    void aDirectoryMadeReadOnlyFailsNewUploadsUntilItIsWritableAgain() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("files"));
        try (var server = Ferry.Server.start(dir);
             var inFlight = FaultPeer.connect(server.port)) {
            byte[] first = Ferry.randomBytes(5000, 1);
            byte[] rest = Ferry.randomBytes(5000, 2);
            inFlight.getOutputStream().write(first);
            assertThat(Ferry.await(Duration.ofSeconds(5), () -> Ferry.sizeOf(server.file(1)) == first.length)).isTrue();

            try (var mount = Mount.bind(dir)) {
                mount.readOnly();

                assertThat(sendAll(server.port, new byte[10])).as("an upload into a read-only directory").isFalse();
                assertThat(server.awaitLogLine(2, Duration.ofSeconds(5))).contains("outcome=write-failed")
                        .contains("cannot create the file");

                inFlight.getOutputStream().write(rest);
                FaultPeer.finish(inFlight);
                byte[] whole = new byte[first.length + rest.length];
                System.arraycopy(first, 0, whole, 0, first.length);
                System.arraycopy(rest, 0, whole, first.length, rest.length);
                assertThat(server.file(1)).hasBinaryContent(whole);
                mount.unmount();
            }
            byte[] after = Ferry.randomBytes(777, 3);
            assertThat(sendAll(server.port, after)).isTrue();
            assertThat(server.file(3)).hasBinaryContent(after);
            assertThat(server.process.isAlive()).isTrue();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }
}
