package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * C4 and S6 when the network goes away in the middle of an upload: the
 * client gives up within its limit with an ERROR line, and the server's file
 * ends as exactly {@code ERROR} after its idle timeout (shortened to 2 s here;
 * other tests keep the server's real 10 s).
 */
class LinkCutNetworkIT {
    private static final Map<String, String> SERVER_ENV = Map.of("FERRY_IDLE_TIMEOUT_MS", "2000");
    /** Enough for the cut to fall well inside the transfer at 40 Mbit/s (about 7 s in all). */
    private static final long SIZE = 32L << 20;

    @TempDir
    Path tmp;

    /**
     * <ol>
     * <li>The link runs at 40 Mbit/s; the client host uploads 32 MiB with the real 10 s limit.</li>
     * <li>Once 2 MiB have arrived, the router drops every packet both ways (no reset, no ICMP).</li>
     * <li>The client exits 1 with an {@code ERROR:} line no sooner than 9.5 s and within 12 s of the cut.</li>
     * <li>The server's 1.file is exactly {@code ERROR} within 5 s of the cut, by its idle timeout.</li>
     * </ol>
     */
    @Test
    void whenEveryPacketIsDroppedTheClientGivesUpAfterTenSecondsAndTheServerWritesError() throws Exception {
        cutMidUpload("cut (drop all), real client limit", TestNet::dropAll, Map.of(), 3,
                Duration.ofMillis(9_500), Duration.ofSeconds(12));
    }

    /**
     * <ol>
     * <li>The link runs at 40 Mbit/s; the client host uploads 32 MiB with its limit shortened to 3 s.</li>
     * <li>Once 2 MiB have arrived, the router takes its link toward the server down.</li>
     * <li>The client exits 1 with an {@code ERROR:} line no sooner than 2.5 s and within 5 s of the cut.</li>
     * <li>The server's 1.file is exactly {@code ERROR} within 5 s of the cut, by its idle timeout.</li>
     * </ol>
     */
    @Test
    void whenTheLinkGoesDownTheClientGivesUpWithinItsLimitAndTheServerWritesError() throws Exception {
        cutMidUpload("cut (link down), 3 s client limit", TestNet::serverLinkDown,
                Map.of("FERRY_CLIENT_TIMEOUT_MS", "3000"), 4, Duration.ofMillis(2_500), Duration.ofSeconds(5));
    }

    /** How a test cuts the network. */
    @FunctionalInterface
    private interface Cut {
        void apply(TestNet net) throws IOException, InterruptedException;
    }

    /**
     * Uploads {@link #SIZE} at 40 Mbit/s, applies {@code cut} once 2 MiB have
     * arrived, and asserts that the client gives up between {@code earliest} and
     * {@code latest} after the cut with an ERROR line, and that the server's
     * 1.file reads {@code ERROR} by its idle timeout.
     */
    private void cutMidUpload(String label, Cut cut, Map<String, String> clientEnv, long seed, Duration earliest,
            Duration latest) throws Exception {
        Path file = Ferry.randomFile(tmp, "upload", SIZE, seed);
        try (var net = TestNet.create()) {
            net.shape("40mbit", 256 << 10);
            try (var server = net.startServer(tmp.resolve("files"), SERVER_ENV);
                    var client = net.startClient(TestNet.SERVER_IP, file, clientEnv)) {
                awaitArrived(server.file(1), 2 << 20, client);
                long cutAt = System.nanoTime();
                cut.apply(net);

                Ferry.awaitError(server.file(1), Duration.ofSeconds(5));
                Ferry.Result result = client.awaitExit(Duration.ofSeconds(30));
                Duration afterCut = Duration.ofNanos(System.nanoTime() - cutAt);

                assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(1);
                assertThat(result.firstStderrLine()).startsWith("ERROR:");
                assertThat(afterCut).isBetween(earliest, latest);
                assertThat(server.stdout()).contains("conn=1 ").contains("outcome=idle-timeout");
                System.out.printf("%s: client gave up %d ms after the cut: %s%n", label, afterCut.toMillis(),
                        result.firstStderrLine());
            }
        }
    }

    /** Waits until {@code file} holds at least {@code bytes}, failing early if the client already ended. */
    private static void awaitArrived(Path file, long bytes, Proc client) {
        boolean arrived = Ferry.await(Ferry.START_DEADLINE,
                () -> Ferry.sizeOf(file) >= bytes || !client.isAlive());
        assertThat(arrived && client.isAlive())
                .as("the upload is under way (%s has %d bytes); client stderr: %s", file, bytes, client.stderr())
                .isTrue();
    }
}
