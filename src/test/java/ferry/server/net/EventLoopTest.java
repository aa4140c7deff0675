package ferry.server.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.server.report.Journal;
import ferry.server.report.Log;
import ferry.server.report.Outcome;
import ferry.server.report.ServerEvents;
import ferry.server.report.UploadRecord;
import ferry.server.store.SinkFactory;
import ferry.server.store.UploadSink;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The event loop's clocks, its stop, and its isolation of one slow sink: a
 * real {@link EventLoop} on its own thread, fed loopback connections, with
 * sinks in memory ({@link LoopFixture}).
 */
@Timeout(60)
class EventLoopTest {
    /** Every wait for an event has this deadline: generous, for a loaded two-core machine. */
    static final Duration DEADLINE = Duration.ofSeconds(20);

    /**
     * An upload that sends nothing for the idle timeout is aborted, and not before:
     * <ol>
     *   <li>a sender connects and sends 10 bytes, then nothing;</li>
     *   <li>no sooner than 200 ms later the loop ends it: the sink is aborted and the record says
     *       idle-timeout, with the 10 bytes;</li>
     *   <li>the sender then sees a reset, not a clean close.</li>
     * </ol>
     */
    @Test
    void anUploadIdleForTheTimeoutIsAbortedAndRecordedAsIdleTimeout() throws Exception {
        try (var loop = new LoopFixture(Duration.ofMillis(200), false)) {
            Socket sender = loop.connect();
            long sentAt = System.nanoTime(); // before: the loop may take the bytes before write() returns
            sender.getOutputStream().write(new byte[10]);

            UploadRecord record = loop.awaitRecord(1);
            long idleMillis = (System.nanoTime() - sentAt) / 1_000_000;

            assertThat(record.outcome()).isEqualTo(Outcome.IDLE_TIMEOUT);
            assertThat(record.reason()).isEqualTo("no data for 200 ms");
            assertThat(record.bytes()).isEqualTo(10);
            assertThat(idleMillis).as("ended after the idle timeout, not before").isGreaterThanOrEqualTo(200);
            assertThat(loop.sinks.of(1).ending()).isEqualTo("aborted");
            assertThatThrownBy(() -> sender.getInputStream().read()).isInstanceOf(SocketException.class);
            loop.awaitAllFinished();
        }
    }

    /**
     * Stopping the loop ends every upload in flight as shutdown:
     * <ol>
     *   <li>upload 1 has sent 5 bytes, all written to its sink, and waits for more;</li>
     *   <li>upload 2's sink is inside a write that would block for ever;</li>
     *   <li>stop(): both are recorded as shutdown, both sinks aborted (the blocked write interrupted,
     *       well within the grace period), both senders reset, and the loop's thread ends.</li>
     * </ol>
     */
    @Test
    void stopEndsTheUploadsInFlightAsShutdown() throws Exception {
        try (var loop = new LoopFixture(Duration.ofSeconds(30), false)) {
            var blocked = new CountDownLatch(1);
            loop.sinks.beforeWrite(2, chunk -> {
                blocked.countDown();
                LoopFixture.blockUntilInterrupted();
            });
            Socket waiting = loop.connect();
            waiting.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
            loop.await("upload 1's bytes in its sink", () -> loop.sinks.has(1) && loop.sinks.of(1).size() == 5);
            Socket stuck = loop.connect();
            stuck.getOutputStream().write(new byte[100]);
            assertThat(blocked.await(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).as("upload 2 in its sink").isTrue();

            loop.stop();

            for (long number : new long[] {1, 2}) {
                UploadRecord record = loop.awaitRecord(number);
                assertThat(record.outcome()).as("conn %d", number).isEqualTo(Outcome.SHUTDOWN);
                assertThat(record.reason()).isEqualTo("the server was stopped");
                assertThat(record.markerFailure()).as("its sink finished within the grace").isNull();
                assertThat(loop.sinks.of(number).ending()).isEqualTo("aborted");
            }
            assertThat(loop.thread.join(DEADLINE)).as("the loop's thread ended").isTrue();
            assertThatThrownBy(() -> waiting.getInputStream().read()).isInstanceOf(SocketException.class);
            assertThatThrownBy(() -> stuck.getInputStream().read()).isInstanceOf(SocketException.class);
            assertThat(loop.slots.availablePermits()).isEqualTo(LoopFixture.SLOTS);
        }
    }

    /**
     * A sink that blocks holds up its own upload only:
     * <ol>
     *   <li>upload 1's sink blocks in its first write;</li>
     *   <li>meanwhile upload 2, on the same loop, sends its bytes and half-closes: it completes,
     *       is recorded and confirmed to its sender while upload 1 still waits;</li>
     *   <li>upload 1's write is let go: it completes too, with all its bytes.</li>
     * </ol>
     */
    @Test
    void aSlowSinkHoldsUpOnlyItsOwnUpload() throws Exception {
        try (var loop = new LoopFixture(Duration.ofSeconds(30), false)) {
            var inWrite = new CountDownLatch(1);
            var release = new CountDownLatch(1);
            blockFirstWrite(loop, inWrite, release);
            Socket slow = loop.connect();
            slow.getOutputStream().write(new byte[1000]);
            assertThat(inWrite.await(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).as("upload 1 in its sink").isTrue();

            Socket fast = loop.connect();
            fast.getOutputStream().write(new byte[2000]);
            fast.shutdownOutput();
            UploadRecord second = loop.awaitRecord(2);
            assertThat(second.outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(second.bytes()).isEqualTo(2000);
            assertThat(fast.getInputStream().read()).as("upload 2 confirmed by a clean close").isEqualTo(-1);
            assertThat(loop.recordOf(1)).as("upload 1 still in its sink").isEmpty();

            release.countDown();
            slow.shutdownOutput();
            UploadRecord first = loop.awaitRecord(1);
            assertThat(first.outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(first.bytes()).isEqualTo(1000);
            assertThat(loop.sinks.of(1).size()).isEqualTo(1000);
            loop.awaitAllFinished();
        }
    }

    /**
     * The key keeps {@code OP_READ} while a worker holds its upload, yet a socket that stays readable then
     * does not make the selector spin:
     * <ol>
     *   <li>upload 1's sink blocks in its first write; the sender sends more, so the socket is readable
     *       while nobody may read it;</li>
     *   <li>over half a second the loop returns from its selector a few times at most (spinning, it
     *       would thousands of times);</li>
     *   <li>once the sink is released, the bytes sent meanwhile and the sender's end are read: the
     *       interest cleared for the busy worker is set again when the upload comes back.</li>
     * </ol>
     */
    @Test
    void aReadableSocketWhoseWorkerIsBusyDoesNotMakeTheLoopSpin() throws Exception {
        try (var loop = new LoopFixture(Duration.ofSeconds(30), false)) {
            var inWrite = new CountDownLatch(1);
            var release = new CountDownLatch(1);
            blockFirstWrite(loop, inWrite, release);
            Socket sender = loop.connect();
            sender.getOutputStream().write(new byte[1000]);
            assertThat(inWrite.await(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).as("upload 1 in its sink").isTrue();
            sender.getOutputStream().write(new byte[3000]);
            // The loop wakes for the new bytes (a pass or two), then must sleep: it has no deadline for 30 s.
            loop.await("the loop's wake-up for the new bytes", () -> loop.loop.passes() >= 1);
            long before = loop.loop.passes();
            Thread.sleep(500); // the window measured, not a wait for an event
            long passes = loop.loop.passes() - before;
            assertThat(passes).as("the loop's passes in 500 ms with a readable socket it must not read")
                    .isLessThanOrEqualTo(5);

            release.countDown();
            sender.shutdownOutput();
            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(record.bytes()).isEqualTo(4000);
            assertThat(sender.getInputStream().read()).as("confirmed by a clean close").isEqualTo(-1);
            loop.awaitAllFinished();
        }
    }

    /**
     * A stop interrupts a sink call again at every pass, until it gives up:
     * <ol>
     *   <li>upload 1's sink blocks in a write that swallows the first interrupt and gives up
     *       only at the second;</li>
     *   <li>stop(): the sink is aborted by its own worker well within the grace period, and
     *       the record says shutdown, its marker written (not left to the grace's end).</li>
     * </ol>
     */
    @Test
    void aStopInterruptsASinkCallThatSwallowedTheFirstInterrupt() throws Exception {
        try (var loop = new LoopFixture(Duration.ofSeconds(30), false)) {
            var inWrite = new CountDownLatch(1);
            var interrupts = new java.util.concurrent.atomic.AtomicInteger();
            loop.sinks.beforeWrite(1, chunk -> {
                inWrite.countDown();
                while (true) {
                    try {
                        new CountDownLatch(1).await();
                    } catch (InterruptedException e) {
                        if (interrupts.incrementAndGet() >= 2) {
                            throw new InterruptedIOException("interrupted twice");
                        }
                    }
                }
            });
            Socket sender = loop.connect();
            sender.getOutputStream().write(new byte[100]);
            assertThat(inWrite.await(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).as("upload 1 in its sink").isTrue();

            long stopping = System.nanoTime();
            loop.stop();
            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.SHUTDOWN);
            assertThat(record.markerFailure()).isNull();
            assertThat(loop.sinks.of(1).ending()).as("aborted by its worker").isEqualTo("aborted");
            assertThat(loop.sinks.markedByName).as("no marker by name needed").isEmpty();
            assertThat(Duration.ofNanos(System.nanoTime() - stopping))
                    .as("ended by the worker, not at the grace's end")
                    .isLessThan(Duration.ofNanos(EventLoop.STOP_GRACE_NANOS));
            assertThat(interrupts.get()).isGreaterThanOrEqualTo(2);
        }
    }

    /**
     * An upload already told to end before the stop is interrupted by the stop all the same:
     * <ol>
     *   <li>uploads may last 300 ms; upload 1's sink blocks in a write until interrupted;</li>
     *   <li>the 300 ms pass: the loop asks the upload to end (too long), but its worker is stuck;</li>
     *   <li>stop(): the write is interrupted, and the worker aborts the sink and records
     *       too-long, well within the grace period.</li>
     * </ol>
     */
    @Test
    void aStopInterruptsAnUploadAlreadyToldToEnd() throws Exception {
        try (var loop = new LoopFixture(Duration.ofSeconds(30), Duration.ofMillis(300), false, 4)) {
            var inWrite = new CountDownLatch(1);
            loop.sinks.beforeWrite(1, chunk -> {
                inWrite.countDown();
                LoopFixture.blockUntilInterrupted();
            });
            Socket sender = loop.connect();
            sender.getOutputStream().write(new byte[100]);
            assertThat(inWrite.await(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).as("upload 1 in its sink").isTrue();
            loop.await("upload 1 told to end", () -> loop.uploads.get(1L).endRequest != null);

            long stopping = System.nanoTime();
            loop.stop();
            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.TOO_LONG);
            assertThat(record.markerFailure()).isNull();
            assertThat(loop.sinks.of(1).ending()).isEqualTo("aborted");
            assertThat(Duration.ofNanos(System.nanoTime() - stopping))
                    .as("ended by the worker, not at the grace's end")
                    .isLessThan(Duration.ofNanos(EventLoop.STOP_GRACE_NANOS));
        }
    }

    /**
     * A stop wakes an upload waiting for a buffer, and when the grace runs out writes the
     * marker by name for an upload whose sink never returns:
     * <ol>
     *   <li>a pool of one buffer; upload 1 holds it in a write deaf to interrupts;</li>
     *   <li>upload 2 has bytes to save and waits for the buffer;</li>
     *   <li>stop(): upload 2 is woken, its sink aborted by its worker, recorded as shutdown;</li>
     *   <li>at the grace's end, upload 1's marker is written by its name and it is recorded as
     *       shutdown with no marker failure; its sender is reset.</li>
     * </ol>
     */
    @Test
    void aStopWakesAnUploadWaitingForABufferAndMarksAStuckOneByName() throws Exception {
        var release = new CountDownLatch(1);
        try (var loop = new LoopFixture(Duration.ofSeconds(30), Duration.ZERO, false, 1)) {
            var inWrite = new CountDownLatch(1);
            loop.sinks.beforeWrite(1, chunk -> {
                inWrite.countDown();
                UploadTest.awaitQuietly(release);
            });
            Socket stuck = loop.connect();
            stuck.getOutputStream().write(new byte[100]);
            assertThat(inWrite.await(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).as("upload 1 in its sink").isTrue();
            Socket waiting = loop.connect();
            waiting.getOutputStream().write(new byte[100]);
            loop.await("upload 2 waiting for the buffer", () -> loop.sinks.has(2)
                    && loop.uploads.get(2L).state == Upload.State.WORKING);

            long stopping = System.nanoTime();
            loop.stop();
            UploadRecord second = loop.awaitRecord(2);
            long woken = System.nanoTime() - stopping;
            assertThat(second.outcome()).isEqualTo(Outcome.SHUTDOWN);
            assertThat(loop.sinks.of(2).ending()).as("aborted by its worker").isEqualTo("aborted");
            assertThat(Duration.ofNanos(woken)).as("woken, not left to the grace's end")
                    .isLessThan(Duration.ofNanos(EventLoop.STOP_GRACE_NANOS));

            UploadRecord first = loop.awaitRecord(1);
            assertThat(first.outcome()).isEqualTo(Outcome.SHUTDOWN);
            assertThat(first.markerFailure()).as("the marker written by name").isNull();
            assertThat(loop.sinks.markedByName).containsExactly(1L);
            assertThat(loop.thread.join(DEADLINE)).isTrue();
            assertThatThrownBy(() -> stuck.getInputStream().read()).isInstanceOf(SocketException.class);
        } finally {
            release.countDown();
        }
    }

    /**
     * An Error on the loop's thread does not end it silently:
     * <ol>
     *   <li>upload 1 has sent 5 bytes and waits for more;</li>
     *   <li>an event on the loop's thread throws a StackOverflowError;</li>
     *   <li>the loop tells the server it cannot go on (which stops it, exit 1), ends upload 1 as
     *       internal-error with its marker, resets its sender, gives back its slot and ends.</li>
     * </ol>
     */
    @Test
    void anErrorOnTheLoopsThreadStopsTheServer() throws Exception {
        try (var loop = new LoopFixture(Duration.ofSeconds(30), false)) {
            Socket sender = loop.connect();
            sender.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
            loop.await("upload 1's bytes in its sink", () -> loop.sinks.has(1) && loop.sinks.of(1).size() == 5);

            loop.fatalExpected = true;
            loop.loop.post(() -> {
                throw new StackOverflowError("injected");
            });

            loop.await("the server told", () -> !loop.fatal().isEmpty());
            assertThat(loop.fatal()).containsExactly("test loop failed: java.lang.StackOverflowError: injected");
            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.INTERNAL_ERROR);
            assertThat(loop.sinks.of(1).ending()).isEqualTo("aborted");
            assertThat(loop.thread.join(DEADLINE)).as("the loop's thread ended").isTrue();
            assertThatThrownBy(() -> sender.getInputStream().read()).isInstanceOf(SocketException.class);
            loop.awaitAllFinished();
            assertThat(loop.log()).contains("test loop failed, aborting its uploads: java.lang.StackOverflowError");
        }
    }

    /**
     * One real event loop on a thread of its own, as the server runs it, and
     * what the accept thread does for it: a loopback listening socket whose
     * connections become uploads 1, 2, 3 ... of this loop. Sinks are in
     * memory ({@link MemorySinks}), and every record is kept.
     */
    static final class LoopFixture implements AutoCloseable {
        static final int SLOTS = 16;

        final MemorySinks sinks = new MemorySinks();
        final Semaphore slots = new Semaphore(SLOTS);
        final EventLoop loop;
        final Thread thread;
        private final Map<Long, UploadRecord> records = new ConcurrentHashMap<>();
        private final List<String> fatal = new CopyOnWriteArrayList<>();
        private final ByteArrayOutputStream logText = new ByteArrayOutputStream();
        private final ServerSocketChannel server;
        private final OpenBackoff backoff = new OpenBackoff();
        private final UploadContext context;
        private final List<Socket> senders = new CopyOnWriteArrayList<>();
        /** The uploads handed to the loop, by number. */
        final Map<Long, Upload> uploads = new ConcurrentHashMap<>();
        /** True once a test expects the loop to have failed: close() then accepts a fatal failure. */
        volatile boolean fatalExpected;
        private long next = 1;

        /** A loop with this idle timeout, no duration limit, and SHA-256s if {@code checksum}. */
        LoopFixture(Duration idleTimeout, boolean checksum) throws IOException {
            this(idleTimeout, Duration.ZERO, checksum, 4);
        }

        /** A loop with these limits (a zero duration for none) and a pool of {@code buffers} buffers. */
        LoopFixture(Duration idleTimeout, Duration maxDuration, boolean checksum, int buffers) throws IOException {
            var log = new Log(new PrintStream(logText, true, StandardCharsets.UTF_8));
            var journal = new Journal(log, List.of(new ServerEvents() {
                @Override
                public void uploadEnded(UploadRecord record) {
                    records.put(record.number(), record);
                }
            }));
            context = new UploadContext(sinks, new BufferPool(buffers), journal, backoff, 0, checksum, null);
            server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            loop = new EventLoop("test loop", idleTimeout, maxDuration, slots, log, fatal::add);
            thread = Thread.ofPlatform().name("test-loop").daemon().start(loop);
        }

        /**
         * Connects a sender, and hands the accepted socket to the loop as the
         * next upload, as the accept thread does; returns the sender's socket
         * (reads time out after the deadline).
         */
        Socket connect() throws IOException {
            var sender = new Socket();
            senders.add(sender);
            sender.connect(server.getLocalAddress(), (int) DEADLINE.toMillis());
            sender.setSoTimeout((int) DEADLINE.toMillis());
            SocketChannel accepted = server.accept();
            accepted.configureBlocking(false);
            accepted.setOption(StandardSocketOptions.SO_LINGER, 0);
            if (!slots.tryAcquire()) {
                throw new IllegalStateException("more uploads than the fixture's slots");
            }
            var upload = new Upload(next++, accepted, Upload.peerOf(accepted), System.nanoTime(), loop, context);
            uploads.put(upload.number, upload);
            loop.reserve();
            loop.add(upload);
            return sender;
        }

        Optional<UploadRecord> recordOf(long number) {
            return Optional.ofNullable(records.get(number));
        }

        /** Upload {@code number}'s record, once its worker has written it. */
        UploadRecord awaitRecord(long number) throws InterruptedException {
            await("the record of conn=" + number, () -> records.containsKey(number));
            return records.get(number);
        }

        /** Waits until every upload's socket is closed and its slot given back. */
        void awaitAllFinished() throws InterruptedException {
            await("every slot given back", () -> slots.availablePermits() == SLOTS && loop.load() == 0);
        }

        /** Polls {@code condition} until it holds; fails at the deadline, with the loop's log. */
        void await(String what, BooleanSupplier condition) throws InterruptedException {
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (!condition.getAsBoolean()) {
                if (System.nanoTime() - deadline > 0) {
                    throw new AssertionError("waited " + DEADLINE + " in vain for " + what
                            + "; the loop's log:\n" + log());
                }
                Thread.sleep(5);
            }
        }

        /** Stops the loop with the server's grace period. */
        void stop() {
            loop.stop(System.nanoTime() + EventLoop.STOP_GRACE_NANOS);
        }

        String log() {
            return logText.toString(StandardCharsets.UTF_8);
        }

        /** What the loop told the server when it could not go on. */
        List<String> fatal() {
            return fatal;
        }

        /** Blocks as a hung store would, until a stop interrupts it. */
        static void blockUntilInterrupted() throws InterruptedIOException {
            try {
                new CountDownLatch(1).await();
            } catch (InterruptedException e) {
                throw new InterruptedIOException("interrupted");
            }
            throw new AssertionError("unreachable");
        }

        @Override
        public void close() throws Exception {
            stop();
            boolean ended = thread.join(DEADLINE);
            for (Socket sender : senders) {
                sender.close();
            }
            server.close();
            backoff.close();
            assertThat(ended).as("the loop's thread ended").isTrue();
            if (!fatalExpected) {
                assertThat(fatal).as("fatal failures of the loop").isEmpty();
            }
        }
    }

    /** Sinks in memory: each keeps its bytes and how it ended; a test may script a write. */
    static final class MemorySinks implements SinkFactory {
        /** What a sink does before it takes a chunk: block, or throw. */
        interface Write {
            void before(ByteBuffer chunk) throws IOException;
        }

        /** What a sink does before it completes or aborts: block, or throw. */
        interface Ending {
            void before() throws IOException;
        }

        private final Map<Long, MemorySink> opened = new ConcurrentHashMap<>();
        private final Map<Long, Write> scripts = new ConcurrentHashMap<>();
        private final Map<Long, Ending> completions = new ConcurrentHashMap<>();
        private final Map<Long, Ending> aborts = new ConcurrentHashMap<>();
        private final Map<Long, IOException> openFailures = new ConcurrentHashMap<>();
        private final Map<Long, RuntimeException> locateFailures = new ConcurrentHashMap<>();
        /** The uploads whose marker was written by name (a stop's grace ran out). */
        final Set<Long> markedByName = ConcurrentHashMap.newKeySet();

        /** Upload {@code number}'s sink runs {@code script} before it completes. */
        void beforeComplete(long number, Ending script) {
            completions.put(number, script);
        }

        /** Upload {@code number}'s sink runs {@code script} before it aborts. */
        void beforeAbort(long number, Ending script) {
            aborts.put(number, script);
        }

        /** Locating upload {@code number} (for its record) throws {@code failure}, once. */
        void failLocateOnce(long number, RuntimeException failure) {
            locateFailures.put(number, failure);
        }

        /** Upload {@code number}'s sink runs {@code script} before each write. */
        void beforeWrite(long number, Write script) {
            scripts.put(number, script);
        }

        /** Upload {@code number}'s sink cannot be opened: {@code failure} is thrown instead. */
        void failOpen(long number, IOException failure) {
            openFailures.put(number, failure);
        }

        boolean has(long number) {
            return opened.containsKey(number);
        }

        MemorySink of(long number) {
            MemorySink sink = opened.get(number);
            assertThat(sink).as("the sink of conn=%d", number).isNotNull();
            return sink;
        }

        @Override
        public UploadSink open(long number) throws IOException {
            IOException failure = openFailures.get(number);
            if (failure != null) {
                throw failure;
            }
            var sink = new MemorySink(scripts.getOrDefault(number, chunk -> { }),
                    completions.getOrDefault(number, () -> { }), aborts.getOrDefault(number, () -> { }));
            if (opened.putIfAbsent(number, sink) != null) {
                throw new AssertionError("conn=" + number + " opened twice");
            }
            return sink;
        }

        @Override
        public String locate(long number) {
            RuntimeException failure = locateFailures.remove(number);
            if (failure != null) {
                throw failure;
            }
            return "memory:" + number;
        }

        @Override
        public void markError(long number) {
            markedByName.add(number);
        }
    }

    /** One upload's bytes in memory, and how it ended: null while open, then "complete" or "aborted". */
    static final class MemorySink implements UploadSink {
        private final MemorySinks.Write script;
        private final MemorySinks.Ending beforeComplete;
        private final MemorySinks.Ending beforeAbort;
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private volatile String ending;

        private MemorySink(MemorySinks.Write script, MemorySinks.Ending beforeComplete, MemorySinks.Ending beforeAbort) {
            this.script = script;
            this.beforeComplete = beforeComplete;
            this.beforeAbort = beforeAbort;
        }

        @Override
        public void write(ByteBuffer chunk) throws IOException {
            assertOpen("write");
            script.before(chunk);
            var copy = new byte[chunk.remaining()];
            chunk.get(copy);
            synchronized (bytes) {
                bytes.write(copy);
            }
        }

        @Override
        public void complete() throws IOException {
            assertOpen("complete");
            beforeComplete.before();
            ending = "complete";
        }

        @Override
        public void abort() throws IOException {
            assertOpen("abort");
            beforeAbort.before();
            ending = "aborted";
        }

        private void assertOpen(String call) {
            if (ending != null) {
                throw new AssertionError(call + " after " + ending);
            }
        }

        String ending() {
            return ending;
        }

        int size() {
            synchronized (bytes) {
                return bytes.size();
            }
        }

        byte[] content() {
            synchronized (bytes) {
                return bytes.toByteArray();
            }
        }
    }

    /** Upload 1's sink counts {@code inWrite} down in its first write, then blocks until {@code release}. */
    private static void blockFirstWrite(LoopFixture loop, CountDownLatch inWrite, CountDownLatch release) {
        loop.sinks.beforeWrite(1, chunk -> {
            inWrite.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new InterruptedIOException("interrupted");
            }
        });
    }
}
