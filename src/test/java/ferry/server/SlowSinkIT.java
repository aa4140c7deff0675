package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.it.FaultPeer;
import ferry.server.numbering.LocalCounter;
import ferry.server.store.FileSink;
import java.io.IOException;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A slow sink throttles only its own sender: the server stops reading that
 * one socket (TCP pushes back on the sender), every other upload runs at full
 * speed, the time the server held back is not the sender's idleness, and a
 * stop still ends a busy upload as {@code ERROR} within the grace period.
 */
class SlowSinkIT {
    @TempDir
    Path dir;

    private InProcessServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private ScriptedSinks start(Duration idle, long bufferMemory) throws Exception {
        var sinks = new ScriptedSinks(FileSink.in(dir));
        server = new InProcessServer(new ServerConfig(0, dir, idle, 10_000, 0, Duration.ZERO, bufferMemory),
                new LocalCounter(), sinks);
        return sinks;
    }

    private static byte[] random(int size, long seed) {
        var bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    /** Streams {@code data} on a connection of its own, on a thread of its own; completes with how it ended. */
    private CompletableFuture<Uploads.End> sendInBackground(byte[] data) throws IOException {
        var socket = new Socket("127.0.0.1", server.port());
        var end = new CompletableFuture<Uploads.End>();
        Thread.ofPlatform().daemon().start(() -> {
            try (socket) {
                end.complete(Uploads.send(socket, data, Duration.ofSeconds(60)));
            } catch (IOException | RuntimeException e) {
                end.complete(Uploads.End.RESET);
            }
        });
        return end;
    }

    /**
     * <ol>
     * <li>Connection 1's sink takes 200 ms for every write; its sender streams 4 MiB.</li>
     * <li>Meanwhile, with idle connections keeping every loop's load level, twelve uploads of
     * 100 B run one after another: new uploads go to the least loaded loop, ties in turn, so
     * several share connection 1's loop.</li>
     * <li>Each is confirmed fast: the median under 50 ms, none near 200 ms.</li>
     * <li>Connection 1 is throttled (it takes at least 200 ms per write) and is saved intact.</li>
     * </ol>
     */
    @Test
    void aSlowSinkHoldsBackOnlyItsOwnSender() throws Exception {
        var writes = new AtomicInteger();
        start(Duration.ofSeconds(30), ServerConfig.DEFAULT_BUFFER_MEMORY).script(1, new ScriptedSinks.Script() {
            @Override
            public void beforeWrite(ByteBuffer chunk) throws IOException {
                writes.incrementAndGet();
                ScriptedSinks.pause(200);
            }
        });
        byte[] big = random(4 << 20, 1);
        long bigStart = System.nanoTime();
        var slow = sendInBackground(big);
        assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> writes.get() > 0)).isTrue();
        // Idle connections on every loop, so that the loads stay level and new uploads go to every
        // loop in turn, the slow one's included (uploads go to the least loaded loop, ties rotating).
        int cores = Runtime.getRuntime().availableProcessors();
        var millis = new ArrayList<Long>();
        byte[] small = random(100, 2);
        try (var idle = new FaultPeer.Connections()) {
            for (int i = 0; i < 2 * cores - 1; i++) {
                idle.add(new Socket("127.0.0.1", server.port()));
            }
            for (int i = 0; i < 12; i++) {
                long start = System.nanoTime();
                assertThat(Uploads.upload(server.port(), small)).isEqualTo(Uploads.End.CONFIRMED);
                millis.add((System.nanoTime() - start) / 1_000_000);
            }
        }
        millis.sort(null);
        assertThat(millis.get(millis.size() / 2)).as("median of %s ms", millis).isLessThan(50);
        assertThat(millis.get(millis.size() - 1)).as("slowest of %s ms", millis).isLessThan(150);
        assertThat(slow).as("the slow upload is still being received").isNotDone();
        int first = 2 + 2 * cores - 1;
        for (int n = first; n < first + 12; n++) {
            assertThat(dir.resolve(n + ".file")).hasBinaryContent(small);
        }
        assertThat(slow.get(60, TimeUnit.SECONDS)).isEqualTo(Uploads.End.CONFIRMED);
        assertThat(Duration.ofNanos(System.nanoTime() - bigStart)).as("throttled to the sink's pace")
                .isGreaterThanOrEqualTo(Duration.ofMillis(200L * writes.get()));
        assertThat(dir.resolve("1.file")).hasBinaryContent(big);
    }

    /**
     * <ol>
     * <li>The idle limit is 400 ms; connection 1's sink takes 900 ms for every write.</li>
     * <li>The sender sends 256 KiB, 64 KiB at a time, 50 ms apart, and half-closes: it is never
     * silent for long, but the server holds it back for far longer than the idle limit.</li>
     * <li>The upload is complete: only the sender's silence counts.</li>
     * </ol>
     */
    @Test
    void timeTheServerHoldsASenderBackIsNotIdleTime() throws Exception {
        start(Duration.ofMillis(400), ServerConfig.DEFAULT_BUFFER_MEMORY).script(1, new ScriptedSinks.Script() {
            @Override
            public void beforeWrite(ByteBuffer chunk) throws IOException {
                ScriptedSinks.pause(900);
            }
        });
        byte[] data = random(256 << 10, 3);
        try (var socket = new Socket("127.0.0.1", server.port())) {
            for (int offset = 0; offset < data.length; offset += 64 << 10) {
                socket.getOutputStream().write(data, offset, 64 << 10);
                Thread.sleep(50);
            }
            socket.shutdownOutput();
            assertThat(Uploads.awaitEnd(socket, Duration.ofSeconds(20))).isEqualTo(Uploads.End.CONFIRMED);
        }
        assertThat(dir.resolve("1.file")).hasBinaryContent(data);
        assertThat(server.log()).contains("conn=1 ").contains("outcome=complete");
    }

    /**
     * <ol>
     * <li>Opening connection 1's sink takes 1.5 s (a remote store's round trip).</li>
     * <li>Connection 2, accepted after it, is saved and confirmed meanwhile, fast.</li>
     * <li>Connection 1 is then saved too: numbers follow accept order, and its bytes waited in the kernel.</li>
     * </ol>
     */
    @Test
    void aSlowOpenHoldsUpNoOtherConnection() throws Exception {
        start(Duration.ofSeconds(30), ServerConfig.DEFAULT_BUFFER_MEMORY).script(1, new ScriptedSinks.Script() {
            @Override
            public void beforeOpen() throws IOException {
                ScriptedSinks.pause(1500);
            }
        });
        byte[] first = "first accepted".getBytes(StandardCharsets.US_ASCII);
        byte[] second = "second accepted".getBytes(StandardCharsets.US_ASCII);
        try (var one = new Socket("127.0.0.1", server.port())) {
            one.getOutputStream().write(first);
            one.shutdownOutput();
            // The kernel's accept queue is in connect order: this one is accepted, and numbered, first.
            long start = System.nanoTime();
            assertThat(Uploads.upload(server.port(), second)).isEqualTo(Uploads.End.CONFIRMED);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(500));
            assertThat(dir.resolve("2.file")).hasBinaryContent(second);
            assertThat(dir.resolve("1.file")).as("still opening").doesNotExist();
            assertThat(Uploads.awaitEnd(one, Duration.ofSeconds(10))).isEqualTo(Uploads.End.CONFIRMED);
        }
        assertThat(dir.resolve("1.file")).hasBinaryContent(first);
    }

    /**
     * <ol>
     * <li>Connection 1's sink blocks for a minute in its first write; connection 2's
     * ignores interrupts and never returns (until the test's end).</li>
     * <li>The server is stopped: it returns within the 3 s grace period (plus a margin).</li>
     * <li>1.file reads ERROR (the write was interrupted, the marker written); 2.file reads ERROR
     * too, its marker written by its name when the grace ran out; the log says shutdown for both,
     * with no marker failure.</li>
     * </ol>
     */
    @Test
    void stoppingEndsUploadsWhoseSinkIsBusyWithinTheGracePeriod() throws Exception {
        var busy = new AtomicInteger();
        var sinks = start(Duration.ofSeconds(30), ServerConfig.DEFAULT_BUFFER_MEMORY);
        sinks.script(1, new ScriptedSinks.Script() {
            @Override
            public void beforeWrite(ByteBuffer chunk) throws IOException {
                busy.incrementAndGet();
                ScriptedSinks.pause(60_000);
            }
        });
        var release = new CountDownLatch(1);
        sinks.script(2, new ScriptedSinks.Script() {
            @Override
            public void beforeWrite(ByteBuffer chunk) {
                busy.incrementAndGet();
                while (true) {
                    try {
                        release.await();
                        return;
                    } catch (InterruptedException e) {
                        // deaf to the stop
                    }
                }
            }
        });
        try (var one = new Socket("127.0.0.1", server.port()); var two = new Socket("127.0.0.1", server.port())) {
            one.getOutputStream().write(new byte[1000]);
            two.getOutputStream().write(new byte[1000]);
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> busy.get() == 2)).isTrue();
            long stopping = System.nanoTime();
            server.close();
            assertThat(Duration.ofNanos(System.nanoTime() - stopping)).isLessThan(Duration.ofMillis(4000));
            assertThat(Uploads.awaitEnd(one, Duration.ofSeconds(1))).isEqualTo(Uploads.End.RESET);
            assertThat(Uploads.awaitEnd(two, Duration.ofSeconds(1))).isEqualTo(Uploads.End.RESET);
            assertThat(dir.resolve("1.file")).hasContent("ERROR");
            assertThat(dir.resolve("2.file")).as("marked by its name, its sink still stuck").hasContent("ERROR");
            assertThat(server.log()).containsPattern("conn=1 .*outcome=shutdown")
                    .containsPattern("conn=2 .*outcome=shutdown").doesNotContain("marker-failed");
        } finally {
            release.countDown();
        }
    }

    /**
     * <ol>
     * <li>Buffers for the whole server: 4 MiB (four chunks); every sink takes 20 ms per write.</li>
     * <li>Sixteen uploads of 2 MiB run at once: most wait for a buffer at some point.</li>
     * <li>All are saved intact: waiting for memory slows uploads down but loses and cuts none
     * (the idle limit, 1 s, is shorter than the whole run).</li>
     * </ol>
     */
    @Test
    void uploadsShareABoundedBufferBudgetWithoutLosingAny() throws Exception {
        var sinks = start(Duration.ofSeconds(1), 4L << 20);
        for (long n = 1; n <= 16; n++) {
            sinks.script(n, new ScriptedSinks.Script() {
                @Override
                public void beforeWrite(ByteBuffer chunk) throws IOException {
                    ScriptedSinks.pause(20);
                }
            });
        }
        var uploads = new ArrayList<CompletableFuture<Uploads.End>>();
        var data = new ArrayList<byte[]>();
        for (int i = 1; i <= 16; i++) {
            data.add(random(2 << 20, 10 + i));
            uploads.add(sendInBackground(data.get(i - 1)));
            int n = i;
            assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> Files.exists(dir.resolve(n + ".file"))))
                    .isTrue();
        }
        for (int i = 1; i <= 16; i++) {
            assertThat(uploads.get(i - 1).get(60, TimeUnit.SECONDS)).as("upload %d; log:%n%s", i, server.log())
                    .isEqualTo(Uploads.End.CONFIRMED);
            assertThat(dir.resolve(i + ".file")).hasBinaryContent(data.get(i - 1));
        }
        assertThat(server.server.buffersAllocated()).as("buffers allocated").isLessThanOrEqualTo(4);
    }

    /**
     * <ol>
     * <li>Buffers for the whole server: one chunk. A sender streams 256 MiB without pause, so
     * its socket is never empty.</li>
     * <li>A second sender uploads 1 MiB meanwhile.</li>
     * <li>It is confirmed while the first still streams: a burst gives its buffer back to a
     * waiting upload every few chunks, instead of keeping it until its socket empties.</li>
     * </ol>
     */
    @Test
    void aSenderThatNeverLetsItsSocketEmptyStillSharesTheBuffers() throws Exception {
        start(Duration.ofSeconds(30), 1L << 20);
        byte[] big = random(256 << 20, 21);
        var first = sendInBackground(big);
        assertThat(InProcessServer.await(Duration.ofSeconds(5), () -> {
            try {
                return Files.size(dir.resolve("1.file")) > (8 << 20);
            } catch (IOException e) {
                return false;
            }
        })).as("the first upload is streaming").isTrue();
        byte[] small = random(1 << 20, 22);
        assertThat(Uploads.upload(server.port(), small)).isEqualTo(Uploads.End.CONFIRMED);
        assertThat(first).as("the first upload is still streaming").isNotDone();
        assertThat(dir.resolve("2.file")).hasBinaryContent(small);
        assertThat(first.get(60, TimeUnit.SECONDS)).isEqualTo(Uploads.End.CONFIRMED);
        assertThat(Files.mismatch(dir.resolve("1.file"), writeTemp(big))).isEqualTo(-1L);
    }

    private Path writeTemp(byte[] data) throws IOException {
        return Files.write(Files.createTempFile("ferry-expected-", ".bin"), data);
    }
}
