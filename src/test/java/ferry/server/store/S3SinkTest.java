package ferry.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/** One upload into an object ({@link S3Sink}), against an object store in memory. */
@Timeout(60)
class S3SinkTest {
    @TempDir
    Path spoolRoot;
    private static final int MIB = PartMemory.CHUNK;
    private static final String KEY = "uploads/7.file";
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    @Test
    void aSmallUploadIsOnePutObjectWhenItCompletes() throws Exception {
        var store = new MemoryStore();
        byte[] file = bytes(500);
        var sink = new S3Sink(store, KEY);
        sink.write(ByteBuffer.wrap(file, 0, 200));
        sink.write(ByteBuffer.wrap(file, 200, 300));
        assertThat(store.calls).as("nothing remote before the upload completes").isEmpty();

        sink.complete();

        assertThat(store.calls).containsExactly("put " + KEY + " 500");
        assertThat(store.objects.get(KEY)).isEqualTo(file);
        assertThat(store.memory.available()).as("its chunk given back").isEqualTo(MemoryStore.BUDGET_CHUNKS);
    }

    @Test
    void aLongUploadIsAMultipartUploadOfItsPartsInOrderThenCompleted() throws Exception {
        var store = new MemoryStore();
        byte[] file = bytes(3 * MIB + MIB / 2);
        var sink = new S3Sink(store, KEY);
        writeInChunks(sink, file, 300_000);
        sink.complete();

        assertThat(store.calls.getFirst()).isEqualTo("create " + KEY);
        assertThat(store.calls.subList(1, 5)).containsExactlyInAnyOrder(
                "part 1 " + MIB, "part 2 " + MIB, "part 3 " + MIB, "part 4 " + MIB / 2);
        assertThat(store.calls.getLast()).isEqualTo("complete " + KEY + " " + MemoryStore.UPLOAD_ID);
        assertThat(store.calls).hasSize(6);
        assertThat(store.completedWith).extracting(CompletedPart::partNumber).containsExactly(1, 2, 3, 4);
        assertThat(store.completedWith).extracting(CompletedPart::eTag)
                .containsExactly("etag-1", "etag-2", "etag-3", "etag-4");
        assertThat(store.objects.get(KEY)).as("the parts joined in order are the bytes sent").isEqualTo(file);
        assertThat(store.memory.available()).isEqualTo(MemoryStore.BUDGET_CHUNKS);
    }

    @Test
    void aFailedPartAbortsTheMultipartUploadAndTheObjectReadsError() throws Exception {
        var store = new MemoryStore();
        store.failingPart = 2;
        var sink = new S3Sink(store, KEY);

        assertThatThrownBy(() -> {
            writeInChunks(sink, bytes(3 * MIB + 10), 256 * 1024);
            sink.complete();
        }).isInstanceOf(IOException.class).hasMessage("cannot store part 2 of " + KEY + ": the store answered 500");
        sink.abort();

        assertThat(store.calls).contains("abort " + KEY + " " + MemoryStore.UPLOAD_ID);
        assertThat(store.calls).noneMatch(call -> call.startsWith("complete"));
        assertThat(store.calls).contains("put " + KEY + " 5");
        assertThat(new String(store.objects.get(KEY), StandardCharsets.US_ASCII)).isEqualTo("ERROR");
        assertThat(store.memory.available()).as("every chunk given back").isEqualTo(MemoryStore.BUDGET_CHUNKS);
    }

    @Test
    void aSmallUploadThatFailsLeavesTheErrorMarker() throws Exception {
        var store = new MemoryStore();
        var sink = new S3Sink(store, KEY);
        sink.write(ByteBuffer.wrap(bytes(100)));
        store.failingPuts.set(1);

        assertThatThrownBy(sink::complete).isInstanceOf(IOException.class);
        sink.abort();

        assertThat(store.calls).containsExactly("put " + KEY + " 100", "put " + KEY + " 5");
        assertThat(new String(store.objects.get(KEY), StandardCharsets.US_ASCII)).isEqualTo("ERROR");
        assertThat(store.memory.available()).isEqualTo(MemoryStore.BUDGET_CHUNKS);
    }

    /**
     * At most {@link S3Sink#PARTS_IN_FLIGHT} parts are stored at once, and the
     * writer waits for the oldest before it hands over another:
     * <ol>
     *   <li>the store holds every part until it is let go;</li>
     *   <li>the writer writes eight full parts, one write each: the fifth write waits
     *       for part 1, with exactly four parts in the store's hands;</li>
     *   <li>the store is let go: the upload completes with all eight parts, in order.</li>
     * </ol>
     */
    @Test
    void atMostPartsInFlightAreStoredAtOnceAndTheWriterWaitsForTheOldest() throws Exception {
        var store = new MemoryStore();
        store.gate = new CountDownLatch(1);
        byte[] file = bytes(8 * MIB);
        var sink = new S3Sink(store, KEY);
        var written = new AtomicInteger();
        var failure = new AtomicReference<Throwable>();
        Thread writer = Thread.ofPlatform().name("writer").start(() -> {
            try {
                for (int part = 0; part < 8; part++) {
                    sink.write(ByteBuffer.wrap(file, part * MIB, MIB));
                    written.incrementAndGet();
                }
                sink.complete();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        try {
            await("the writer waiting for a part to be stored", () -> waitsIn(writer, "sendPart"));
            assertThat(written.get()).as("writes done when the writer waits").isEqualTo(S3Sink.PARTS_IN_FLIGHT);
            await("the parts in flight in the store", () -> store.inFlight.get() == S3Sink.PARTS_IN_FLIGHT);
            assertThat(store.started.get()).isEqualTo(S3Sink.PARTS_IN_FLIGHT);
        } finally {
            store.gate.countDown();
        }
        assertThat(writer.join(DEADLINE)).as("the writer finished").isTrue();
        assertThat(failure.get()).isNull();
        assertThat(store.maxInFlight.get()).isEqualTo(S3Sink.PARTS_IN_FLIGHT);
        assertThat(store.completedWith).extracting(CompletedPart::partNumber).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        assertThat(store.objects.get(KEY)).isEqualTo(file);
        assertThat(store.memory.available()).isEqualTo(MemoryStore.BUDGET_CHUNKS);
    }

    /**
     * A stop aborts without waiting for parts one by one (issue 18, item 11):
     * <ol>
     *   <li>four parts are in the store's hands, and the store does not hear of
     *       interrupts (its parts go on until it is let go);</li>
     *   <li>abort: the multipart upload's abort and the ERROR marker's put
     *       each wait until the other has begun (so they run at once), and both
     *       are made while the parts are still held;</li>
     *   <li>the store is let go: the parts it then stores came after the abort,
     *       so the abort is made once more; the object reads ERROR and every
     *       chunk is back.</li>
     * </ol>
     */
    @Test
    void anAbortWaitsForNoPartAndMakesItsAbortAndItsMarkerAtOnce() throws Exception {
        var store = new MemoryStore();
        store.gate = new CountDownLatch(1);
        store.deaf = true;
        store.meeting = new CyclicBarrier(2);
        var sink = new S3Sink(store, KEY);
        var aborted = new CountDownLatch(1);
        var failure = new AtomicReference<Throwable>();
        try {
            for (int part = 0; part < S3Sink.PARTS_IN_FLIGHT; part++) {
                sink.write(ByteBuffer.wrap(bytes(MIB)));
            }
            await("the parts in flight in the store", () -> store.inFlight.get() == S3Sink.PARTS_IN_FLIGHT);
            Thread.ofPlatform().name("aborter").start(() -> {
                try {
                    sink.abort();
                } catch (Throwable e) {
                    failure.set(e);
                }
                aborted.countDown();
            });
            await("the abort and the marker, with the parts still held",
                    () -> store.calls.contains("abort " + KEY + " " + MemoryStore.UPLOAD_ID)
                            && store.calls.contains("put " + KEY + " 5") && store.objects.containsKey(KEY));
            assertThat(store.inFlight.get()).as("parts still in the store's hands").isEqualTo(S3Sink.PARTS_IN_FLIGHT);
            assertThat(new String(store.objects.get(KEY), StandardCharsets.US_ASCII)).isEqualTo("ERROR");
        } finally {
            store.meeting = null;
            store.gate.countDown();
        }
        assertThat(aborted.await(DEADLINE.toSeconds(), TimeUnit.SECONDS)).as("the abort returned").isTrue();
        assertThat(failure.get()).isNull();
        assertThat(store.calls.stream().filter(call -> call.startsWith("abort")).count())
                .as("aborted again after parts landed late").isEqualTo(2);
        await("every chunk back as its part ends", () -> store.memory.available() == MemoryStore.BUDGET_CHUNKS);
    }

    /**
     * A writer that cannot have a chunk does not wait for one (issue 18, item
     * 7): the part it fills moves to a spool file, its chunk given back, and the
     * rest of the part goes there; the next part begins in memory again.
     * <ol>
     *   <li>parts of 2 MiB, 4 MiB of memory, 3 chunks held elsewhere;</li>
     *   <li>1.5 MiB written: the first chunk came from memory, the second could not,
     *       so the part is one spool file of 1.5 MiB and the one chunk it had is
     *       back;</li>
     *   <li>the upload completes: its object is intact, and no spool file is left.</li>
     * </ol>
     */
    @Test
    void aWriterWithoutMemorySpoolsItsPartAndTheObjectIsIntact() throws Exception {
        var memory = new PartMemory(4L * MIB, 2 * MIB, new Spool(spoolRoot));
        var store = new MemoryStore(memory);
        var held = List.of(memory.tryChunk(), memory.tryChunk(), memory.tryChunk());
        byte[] file = bytes(5 * MIB + 10);
        var sink = new S3Sink(store, KEY);

        writeInChunks(sink, Arrays.copyOf(file, MIB + MIB / 2), 300_000);
        assertThat(spoolFiles(memory)).as("the first part, spooled when its second chunk was short")
                .singleElement().satisfies(part -> assertThat(Files.size(part)).isEqualTo(MIB + MIB / 2));
        assertThat(memory.available()).as("its chunk given back").isEqualTo(1);
        var rest = ByteBuffer.wrap(file, MIB + MIB / 2, file.length - (MIB + MIB / 2));
        sink.write(rest);
        sink.complete();

        assertThat(store.objects.get(KEY)).as("the parts joined in order are the bytes sent").isEqualTo(file);
        assertThat(store.calls.stream().filter(call -> call.startsWith("part"))).hasSize(3);
        assertThat(spoolFiles(memory)).as("every spool file deleted once its part was stored").isEmpty();
        memory.release(held);
        assertThat(memory.available()).isEqualTo(4);
    }

    /** A small upload without a chunk spools too, and is one PutObject from its file. */
    @Test
    void aSmallUploadWithoutMemorySpoolsAndIsOnePut() throws Exception {
        var memory = new PartMemory(2L * MIB, MIB, new Spool(spoolRoot));
        var store = new MemoryStore(memory);
        var held = List.of(memory.tryChunk(), memory.tryChunk());
        byte[] file = bytes(10);
        var sink = new S3Sink(store, KEY);
        sink.write(ByteBuffer.wrap(file));
        assertThat(spoolFiles(memory)).hasSize(1);

        sink.complete();

        assertThat(store.calls).containsExactly("put " + KEY + " 10");
        assertThat(store.objects.get(KEY)).isEqualTo(file);
        assertThat(spoolFiles(memory)).isEmpty();
        memory.release(held);
    }

    /**
     * An upload that ends in an abort leaves no spool file: neither the part it
     * was filling nor one in flight (held by the store until interrupted).
     */
    @Test
    void anAbortLeavesNoSpoolFile() throws Exception {
        var memory = new PartMemory(2L * MIB, MIB, new Spool(spoolRoot));
        var store = new MemoryStore(memory);
        store.gate = new CountDownLatch(1);
        var held = List.of(memory.tryChunk(), memory.tryChunk());
        var sink = new S3Sink(store, KEY);
        writeInChunks(sink, bytes(MIB + 1000), 64 * 1024);
        await("part 1 in the store's hands", () -> store.inFlight.get() == 1);
        assertThat(spoolFiles(memory)).as("part 1 in flight and part 2 filling, both spooled").hasSize(2);

        sink.abort();

        await("every spool file deleted", () -> spoolFiles(memory).isEmpty());
        assertThat(new String(store.objects.get(KEY), StandardCharsets.US_ASCII)).isEqualTo("ERROR");
        memory.release(held);
        assertThat(memory.available()).isEqualTo(2);
    }

    private static List<Path> spoolFiles(PartMemory memory) {
        Path dir = memory.spool().directory();
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean waitsIn(Thread thread, String method) {
        return thread.getState() == Thread.State.WAITING
                && Arrays.stream(thread.getStackTrace()).anyMatch(frame -> frame.getMethodName().equals(method));
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("waited " + DEADLINE + " in vain for " + what);
            }
            Thread.sleep(5);
        }
    }

    private static byte[] bytes(int size) {
        var bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        return bytes;
    }

    /** Writes as the server does: chunk by chunk, from a direct buffer that is reused. */
    private static void writeInChunks(S3Sink sink, byte[] file, int chunk) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect(chunk);
        for (int at = 0; at < file.length; at += chunk) {
            buffer.clear();
            buffer.put(file, at, Math.min(chunk, file.length - at)).flip();
            sink.write(buffer);
            assertThat(buffer.hasRemaining()).as("every byte taken").isFalse();
        }
    }

    /**
     * An object store in memory, for one upload at a time: it logs each call
     * (in the order they began, parts running side by side), keeps the
     * objects, and may hold parts back or fail one.
     */
    /**
     * The store sees at most as many parts at once as the budget holds, whatever
     * the spool takes in: here 3 (3 MiB of 1 MiB parts), while two uploads each
     * want two parts stored. The writer of the fourth waits for a turn, and every
     * turn comes back once the store lets the parts go.
     */
    @Test
    void theStoreSeesAtMostAsManyPartsAtOnceAsTheBudgetHolds() throws Exception {
        var store = new MemoryStore(new PartMemory(3L * MIB, MIB, new Spool(spoolRoot)));
        store.gate = new CountDownLatch(1);
        var failure = new AtomicReference<Throwable>();
        var writers = new ArrayList<Thread>();
        for (String key : List.of("uploads/1.file", "uploads/2.file")) {
            var sink = new S3Sink(store, key);
            writers.add(Thread.ofPlatform().name("writer-" + key).start(() -> {
                try {
                    byte[] part = bytes(MIB);
                    sink.write(ByteBuffer.wrap(part));
                    sink.write(ByteBuffer.wrap(part));
                    sink.write(ByteBuffer.wrap(part, 0, 1)); // the second part is full: it goes to the store
                } catch (Throwable e) {
                    failure.set(e);
                }
            }));
        }
        try {
            await("three parts in the store's hands", () -> store.inFlight.get() == 3);
            await("the fourth part's writer waiting for a turn",
                    () -> writers.stream().anyMatch(w -> waitsIn(w, "awaitStoreTurn")));
            assertThat(store.memory.storeTurns()).isZero();
        } finally {
            store.gate.countDown();
        }
        for (Thread writer : writers) {
            assertThat(writer.join(DEADLINE)).as("%s finished", writer.getName()).isTrue();
        }
        assertThat(failure.get()).isNull();
        assertThat(store.maxInFlight.get()).isEqualTo(3);
        await("every turn back", () -> store.memory.storeTurns() == 3);
    }

    static final class MemoryStore implements ObjectStore {
        static final int BUDGET_CHUNKS = 16;
        static final String UPLOAD_ID = "upload-1";

        final PartMemory memory;

        MemoryStore() {
            this(new PartMemory((long) BUDGET_CHUNKS * MIB, MIB));
        }

        MemoryStore(PartMemory memory) {
            this.memory = memory;
        }
        final List<String> calls = new CopyOnWriteArrayList<>();
        final Map<String, byte[]> objects = new ConcurrentHashMap<>();
        private final Map<Integer, byte[]> parts = new ConcurrentHashMap<>();
        volatile List<CompletedPart> completedWith;
        final AtomicInteger started = new AtomicInteger();
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger maxInFlight = new AtomicInteger();
        /** When set, every part waits for it to open. */
        volatile CountDownLatch gate;
        /** Parts waiting for {@link #gate} wait on when interrupted (a store that does not hear of it). */
        volatile boolean deaf;
        /** When set, the abort and the ERROR marker's put each wait (at most 10 s) until the other has begun. */
        volatile CyclicBarrier meeting;
        /** This part's upload fails (0: none). */
        volatile int failingPart;
        /** The next so many putObject calls fail. */
        final AtomicInteger failingPuts = new AtomicInteger();

        @Override
        public PartMemory memory() {
            return memory;
        }

        @Override
        public String createMultipartUpload(String key, String token) {
            calls.add("create " + key);
            return UPLOAD_ID;
        }

        @Override
        public String uploadPart(String key, String uploadId, int part, RequestBody body) throws IOException {
            assertThat(uploadId).isEqualTo(UPLOAD_ID);
            started.incrementAndGet();
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                CountDownLatch holding = gate;
                if (holding != null) {
                    boolean interrupted = false;
                    while (true) {
                        try {
                            holding.await();
                            break;
                        } catch (InterruptedException e) {
                            if (!deaf) {
                                throw new InterruptedIOException("interrupted");
                            }
                            interrupted = true;
                        }
                    }
                    if (interrupted) {
                        Thread.currentThread().interrupt();
                    }
                }
                if (part == failingPart) {
                    throw new IOException("cannot store part " + part + " of " + key + ": the store answered 500");
                }
                byte[] content = read(body);
                parts.put(part, content);
                calls.add("part " + part + " " + content.length);
                return "etag-" + part;
            } finally {
                inFlight.decrementAndGet();
            }
        }

        @Override
        public void completeMultipartUpload(String key, String uploadId, List<CompletedPart> completed, String token)
                throws IOException {
            calls.add("complete " + key + " " + uploadId);
            completedWith = List.copyOf(completed);
            var object = new ByteArrayOutputStream();
            for (CompletedPart part : completed) {
                object.write(parts.get(part.partNumber()));
            }
            objects.put(key, object.toByteArray());
        }

        @Override
        public void abortMultipartUpload(String key, String uploadId) throws IOException {
            calls.add("abort " + key + " " + uploadId);
            meet();
            parts.clear();
        }

        private void meet() throws IOException {
            CyclicBarrier barrier = meeting;
            if (barrier != null) {
                try {
                    barrier.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException | BrokenBarrierException | TimeoutException e) {
                    throw new IOException("the abort and the marker did not run at once: " + e);
                }
            }
        }

        @Override
        public void putObject(String key, RequestBody body, String token) throws IOException {
            byte[] content = read(body);
            calls.add("put " + key + " " + content.length);
            meet();
            if (failingPuts.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                throw new IOException("cannot store " + key + ": the store answered 503");
            }
            objects.put(key, content);
        }

        private static byte[] read(RequestBody body) throws IOException {
            try (InputStream in = body.contentStreamProvider().newStream()) {
                byte[] content = in.readAllBytes();
                assertThat((long) content.length).as("the declared length")
                        .isEqualTo(body.optionalContentLength().orElseThrow());
                return content;
            }
        }
    }
}
