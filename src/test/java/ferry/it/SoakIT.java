package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bounded soak of the real {@code ./server}: many concurrent senders, each
 * upload with a randomly chosen fault or none, and at the end an account of
 * every connection. The invariant: an upload the server confirmed (closed
 * gracefully after the sender's half-close) is saved byte for byte; any other
 * upload's file reads exactly {@code ERROR}; no bytes are lost or corrupted;
 * and an upload without an injected fault (all at once, or slow but steady)
 * is always confirmed, never ended as {@code ERROR}.
 *
 * <p>The receiver's idle timeout is {@link #IDLE}; a slow sender pauses at
 * most a tenth of it, so that a sender thread held up by a loaded machine
 * still has seconds to spare before it would count as silent.
 *
 * <p>Runs for {@code ferry.soak.seconds} (default 20, the short form in CI);
 * for a longer soak on demand: {@code ./run-tests verify -Dit.test=SoakIT
 * -Dferry.soak.seconds=300 -Dtest=NoSuch -Dsurefire.failIfNoSpecifiedTests=false}.
 */
class SoakIT {
    private static final Duration IDLE = Duration.ofSeconds(3);
    private static final int SENDERS = 24;
    private static final long SEED = Long.getLong("ferry.soak.seed", System.nanoTime());
    /**
     * Each upload comes from a loopback address of its own (all of 127.0.0.0/8 is local), so that
     * its log line is found by the peer address even when the kernel reuses a port at once (after a reset).
     */
    private static final AtomicInteger SOURCES = new AtomicInteger();

    @TempDir
    Path tmp;

    /** What a sender does to its upload. */
    enum Fault {
        /** Sends everything in large writes and half-closes. */
        NONE,
        /** Sends in small chunks with pauses shorter than the idle limit: slow but steady. */
        SLOW,
        /** Sends part, then resets the connection. */
        RESET,
        /** Sends part, then goes silent past the idle limit. */
        STALL,
        /** Sends everything, then resets instead of waiting for the server's close. */
        RESET_AFTER_LAST_BYTE
    }

    /** One upload as its sender saw it; {@code source} is its address and port as the server logs them. */
    record Upload(String source, Fault fault, String sha256, long size, boolean confirmed) {
    }

    @Test
    void everyConfirmedUploadIsIntactAndEveryOtherReadsError() throws Exception {
        long seconds = Long.getLong("ferry.soak.seconds", 20);
        System.out.printf("soak: %d s, %d senders, seed %d (-Dferry.soak.seed to repeat)%n", seconds, SENDERS, SEED);
        var uploads = new ConcurrentLinkedQueue<Upload>();
        try (var server = Ferry.Server.start(tmp.resolve("files"), Map.of("FERRY_IDLE_TIMEOUT_MS", Long.toString(IDLE.toMillis())))) {
            long end = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
            ExecutorService senders = Executors.newFixedThreadPool(SENDERS);
            try {
                var running = new ArrayList<Future<?>>();
                for (int s = 0; s < SENDERS; s++) {
                    var random = new Random(SEED + s);
                    running.add(senders.submit(() -> {
                        while (System.nanoTime() - end < 0) {
                            uploads.add(upload(server.port, random));
                        }
                        return null;
                    }));
                }
                for (Future<?> sender : running) {
                    // Each upload ends within its socket timeout; the last one starts before the soak's end.
                    sender.get(seconds + IDLE.multipliedBy(20).toSeconds(), TimeUnit.SECONDS);
                }
            } finally {
                senders.shutdownNow();
            }
            // Every connection is logged once it ends; the last ones end within the idle limit.
            assertThat(Ferry.await(IDLE.multipliedBy(4), () -> server.records().size() >= uploads.size()))
                    .as("all %d uploads are logged", uploads.size()).isTrue();
            account(server, List.copyOf(uploads));
        }
    }

    /** Matches each upload to its connection by the sender's port, and checks its file. */
    private static void account(Ferry.Server server, List<Upload> uploads) throws Exception {
        var bySource = new HashMap<String, Ferry.Server.Record>();
        List<Ferry.Server.Record> records = server.records();
        long connections = records.size();
        for (var record : records) {
            assertThat(bySource.put(record.peer(), record)).as("one connection from %s", record.peer()).isNull();
        }
        int intact = 0;
        int error = 0;
        var errorUnasked = new ArrayList<String>();
        long lost = 0;
        var tally = new java.util.EnumMap<Fault, int[]>(Fault.class);
        for (Upload upload : uploads) {
            var m = bySource.get(upload.source());
            assertThat(m).as("a log line for the upload from %s", upload.source()).isNotNull();
            Path file = server.file(m.conn());
            tally.computeIfAbsent(upload.fault(), f -> new int[2])[upload.confirmed() ? 0 : 1]++;
            if (upload.confirmed()) {
                if (Checksums.sha256(file).equals(upload.sha256()) && Files.size(file) == upload.size()) {
                    intact++;
                } else {
                    lost += upload.size();
                    System.out.printf("soak: LOST %s: %s, file holds %d bytes%n", upload, m.line(), Files.size(file));
                }
            } else if (Arrays.equals(Files.readAllBytes(file), "ERROR".getBytes())) {
                error++;
                if (upload.fault() == Fault.NONE || upload.fault() == Fault.SLOW) {
                    errorUnasked.add(upload.fault() + " " + upload.size() + " bytes: " + m.line());
                }
            } else {
                lost += upload.size();
                System.out.printf("soak: NOT ERROR %s: %s, file holds %d bytes%n", upload, m.line(), Files.size(file));
            }
        }
        System.out.printf("soak: uploads tried %d, completed intact %d, ended as ERROR %d (of them without an"
                        + " injected fault %d), bytes lost or corrupted %d; server connections %d%n",
                uploads.size(), intact, error, errorUnasked.size(), lost, connections);
        tally.forEach((fault, counts) -> System.out.printf("soak:   %-22s confirmed %5d, not confirmed %5d%n",
                fault, counts[0], counts[1]));
        assertThat(lost).as("bytes lost or corrupted").isZero();
        assertThat(errorUnasked).as("uploads without an injected fault that ended as ERROR").isEmpty();
        assertThat(intact + error).isEqualTo(uploads.size());
        assertThat(connections).as("one connection per upload, nothing else").isEqualTo(uploads.size());
        assertThat(uploads).as("the soak ran").hasSizeGreaterThan(SENDERS);
        assertThat(tally.get(Fault.NONE)[0]).as("uploads without faults complete").isPositive();
        for (long n = 1; n <= connections; n++) {
            assertThat(server.file(n)).as("numbering has no gaps").exists();
        }
    }

    /** Runs one upload with a random fault; never throws for what the network does. */
    private static Upload upload(int port, Random random) throws Exception {
        Fault fault = Fault.values()[random.nextInt(Fault.values().length)];
        // Now and then a large upload, but not a slow one: the soak must end soon after its time is up.
        int size = random.nextInt(10) == 0 && fault != Fault.SLOW ? random.nextInt(8 << 20) : random.nextInt(256 << 10);
        byte[] data = new byte[size];
        random.nextBytes(data);
        int n = SOURCES.incrementAndGet();
        var address = InetAddress.getByAddress(new byte[] {127, (byte) (1 + n / 62_500), (byte) (n / 250 % 250 + 1),
            (byte) (n % 250 + 1)});
        String source = null;
        boolean confirmed = false;
        try (var socket = new Socket()) {
            socket.bind(new InetSocketAddress(address, 0));
            socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
            source = address.getHostAddress() + ":" + socket.getLocalPort();
            socket.setSoTimeout((int) IDLE.multipliedBy(10).toMillis());
            OutputStream out = socket.getOutputStream();
            int cut = size == 0 ? 0 : random.nextInt(size);
            switch (fault) {
                case NONE -> out.write(data);
                case SLOW -> {
                    for (int at = 0; at < size; ) {
                        int chunk = Math.min(size - at, 1 + random.nextInt(64 << 10));
                        out.write(data, at, chunk);
                        at += chunk;
                        Thread.sleep(random.nextInt((int) IDLE.toMillis() / 10));
                    }
                }
                case RESET -> {
                    out.write(data, 0, cut);
                    socket.setSoLinger(true, 0);
                    return new Upload(source, fault, null, size, false);
                }
                case STALL -> {
                    out.write(data, 0, cut);
                    Thread.sleep(IDLE.toMillis() + 500);
                    out.write(data, cut, size - cut);
                }
                case RESET_AFTER_LAST_BYTE -> {
                    out.write(data);
                    socket.setSoLinger(true, 0);
                    return new Upload(source, fault, null, size, false);
                }
            }
            socket.shutdownOutput();
            InputStream in = socket.getInputStream();
            confirmed = in.read() == -1;
        } catch (IOException e) {
            confirmed = false; // reset or cut by the server: the upload failed, and the sender knows it
        }
        assertThat(source).as("connected").isNotNull();
        return new Upload(source, fault, Checksums.sha256(data), size, confirmed);
    }
}
