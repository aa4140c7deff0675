package ferry.server;

import ferry.common.Arguments;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One selector thread that reads its share of the connections. It never
 * calls a sink: each chunk it reads goes, in a buffer from the loop's
 * {@link BufferPool}, to the upload's worker (see {@link Upload}), which
 * reports back through this loop's event queue. An upload with
 * {@link #MAX_IN_FLIGHT} chunks not yet written, or for which no buffer is
 * free, is <em>paused</em>: its socket is not read, so TCP flow control slows
 * its sender down, and every other upload goes on at full speed.
 *
 * <p>Uploads being read are kept in order of last activity, least recent
 * first, so the next idle deadline is always the head's, and the selector
 * sleeps exactly until then: the timeout is exact to the millisecond, with no
 * periodic sweep. A paused upload is out of that order, since the server, not
 * the sender, is holding it back; its clock restarts when reading resumes.
 * When uploads have a duration limit, a second list in order of acceptance
 * gives the next duration deadline the same way.
 */
final class EventLoop implements Runnable {
    /**
     * Chunks of one upload that may wait for its sink at once: two, so that
     * the loop reads the next chunk while the worker writes the last one.
     */
    static final int MAX_IN_FLIGHT = 2;
    /** Reads per readiness event before serving the other connections. */
    private static final int READS_PER_EVENT = 4;

    private final String name;
    private final Selector selector;
    private final BufferPool pool;
    private final Queue<Upload> arriving = new ConcurrentLinkedQueue<>();
    /** Results from the uploads' workers, run on this thread. */
    private final Queue<Runnable> events = new ConcurrentLinkedQueue<>();
    /** Uploads being read, in access order: the head has been idle longest. */
    private final LinkedHashMap<Upload, Boolean> byActivity = new LinkedHashMap<>(64, 0.75f, true);
    /** Uploads not yet ending, in the order they were accepted, when uploads have a duration limit. */
    private final LinkedHashSet<Upload> byAge = new LinkedHashSet<>();
    /** Uploads paused for want of a buffer, first come first served. */
    private final ArrayDeque<Upload> waitingForBuffer = new ArrayDeque<>();
    /** Every upload this loop holds whose record is not written yet. */
    private final Set<Upload> live = new HashSet<>();
    /** Uploads handed to this loop and not finished: the listener gives new ones to the least loaded loop. */
    private final AtomicInteger load = new AtomicInteger();
    private final long idleNanos;
    private final long maxBytes;
    /** The duration limit of an upload, or 0 for none. */
    private final long maxDurationNanos;
    /** Released for every upload this loop finishes: the listener takes one per accept. */
    private final Semaphore slots;
    private final Log log;
    /** Told when this loop cannot go on (its selector failed): the server stops. */
    private final Consumer<String> fatal;
    private volatile boolean stopping;
    private volatile long stopDeadline;

    EventLoop(String name, ServerConfig config, BufferPool pool, Semaphore slots, Log log,
              Consumer<String> fatal) throws IOException {
        this.name = name;
        this.pool = pool;
        this.idleNanos = config.idleTimeout().toNanos();
        this.maxBytes = config.maxBytes();
        this.maxDurationNanos = config.maxDuration().toNanos();
        this.slots = slots;
        this.log = log;
        this.fatal = fatal;
        this.selector = Selector.open();
    }

    /** Hands an upload to this loop; callable from any thread. */
    void add(Upload upload) {
        arriving.add(upload);
        selector.wakeup();
    }

    /** Counts an upload about to be handed to this loop. */
    void reserve() {
        load.incrementAndGet();
    }

    int load() {
        return load.get();
    }

    /** Read by tests from another thread: a stale value is fine. */
    int buffersAllocated() {
        return pool.allocated();
    }

    /** Runs {@code event} on this loop's thread; callable from any thread. */
    void post(Runnable event) {
        events.add(event);
        selector.wakeup();
    }

    /** A log line that is not one upload's record (from a worker). */
    void note(String text) {
        log.line(text);
    }

    /**
     * Asks the loop to end every upload still being received as
     * {@code shutdown}, wait until {@code deadline} (a {@link System#nanoTime}
     * value) for their sinks to finish, and end.
     */
    void stop(long deadline) {
        stopDeadline = deadline;
        stopping = true;
        selector.wakeup();
    }

    @Override
    public void run() {
        boolean failed = false;
        try {
            while (!stopping) {
                long waitMillis = millisUntilNextDeadline();
                if (waitMillis <= 0) {
                    selector.selectNow(this::onReady);
                } else {
                    selector.select(this::onReady, waitMillis);
                }
                runEvents();
                registerArrivals();
                expireOverdue();
            }
        } catch (IOException | RuntimeException e) {
            failed = true;
            log.line(name + " failed, aborting its uploads: " + e);
            fatal.accept(name + " failed: " + e);
        }
        drain(failed);
    }

    private long millisUntilNextDeadline() {
        if (byActivity.isEmpty() && byAge.isEmpty()) {
            return Long.MAX_VALUE / 2;
        }
        long deadline = Long.MAX_VALUE;
        boolean any = false;
        if (!byActivity.isEmpty()) {
            deadline = byActivity.firstEntry().getKey().lastActivityNanos + idleNanos;
            any = true;
        }
        if (!byAge.isEmpty()) {
            long ageDeadline = byAge.getFirst().startNanos + maxDurationNanos;
            deadline = !any || ageDeadline - deadline < 0 ? ageDeadline : deadline;
        }
        return millisUntil(deadline);
    }

    private static long millisUntil(long deadline) {
        long until = deadline - System.nanoTime();
        // Round up: waking a little late is harmless, waking early only loops again.
        return until <= 0 ? 0 : (until + 999_999) / 1_000_000;
    }

    private void onReady(SelectionKey key) {
        Upload upload = (Upload) key.attachment();
        try {
            read(upload);
        } catch (RuntimeException e) {
            fail(upload, Outcome.INTERNAL_ERROR, "unexpected failure while reading: " + e);
        }
    }

    private void read(Upload upload) {
        if (upload.state != Upload.State.READING || upload.paused) {
            return; // selected before its interest was cleared
        }
        long now = System.nanoTime();
        for (int i = 0; i < READS_PER_EVENT; i++) {
            if (upload.inFlight >= MAX_IN_FLIGHT) {
                pause(upload);
                return;
            }
            ByteBuffer buffer = pool.take();
            if (buffer == null) {
                pause(upload);
                upload.waitingForBuffer = true;
                waitingForBuffer.add(upload);
                return;
            }
            int n;
            try {
                n = upload.channel.read(buffer);
            } catch (IOException e) {
                pool.give(buffer);
                fail(upload, Outcome.RESET, Arguments.describe(e).toLowerCase());
                return;
            }
            if (n <= 0) {
                pool.give(buffer);
                if (n < 0) {
                    endComplete(upload);
                }
                return;
            }
            upload.bytes += n;
            upload.lastActivityNanos = now;
            byActivity.get(upload); // moves it to the tail: most recently active
            if (maxBytes > 0 && upload.bytes > maxBytes) {
                pool.give(buffer);
                fail(upload, Outcome.TOO_LARGE, "more than " + maxBytes + " bytes");
                return;
            }
            buffer.flip();
            upload.inFlight++;
            upload.write(buffer);
            if (n < buffer.capacity()) {
                return; // the socket is very likely empty: spare the read that would say so
            }
        }
    }

    private void pause(Upload upload) {
        if (!upload.paused) {
            upload.paused = true;
            upload.key.interestOps(0);
            byActivity.remove(upload);
        }
    }

    /** Reads the upload again; its idle clock starts afresh, as the wait was the server's. */
    private void resume(Upload upload) {
        if (upload.paused && upload.state == Upload.State.READING && !upload.waitingForBuffer
                && upload.inFlight < MAX_IN_FLIGHT) {
            upload.paused = false;
            upload.lastActivityNanos = System.nanoTime();
            upload.key.interestOps(SelectionKey.OP_READ);
            byActivity.put(upload, Boolean.TRUE);
        }
    }

    private void runEvents() {
        Runnable event;
        while ((event = events.poll()) != null) {
            event.run();
        }
    }

    // ---- events from the workers ----

    void opened(Upload upload) {
        if (upload.state == Upload.State.OPENING) {
            upload.state = Upload.State.READING;
            resume(upload);
        }
    }

    void openFailed(Upload upload, String reason) {
        fail(upload, Outcome.WRITE_FAILED, reason);
    }

    void written(Upload upload, ByteBuffer chunk, Throwable failure) {
        pool.give(chunk);
        upload.inFlight--;
        if (failure != null) {
            fail(upload, Outcome.WRITE_FAILED, Upload.describe(failure));
        } else {
            resume(upload);
        }
        serveWaiting();
    }

    /** The upload's sink is done and its record written: the socket closes, and the slot is free. */
    void concluded(Upload upload, boolean reset) {
        close(upload, reset);
        finish(upload);
    }

    /** Gives freed buffers to the uploads that wait for one, in the order they began to wait. */
    private void serveWaiting() {
        Upload upload;
        while (pool.available() && (upload = waitingForBuffer.poll()) != null) {
            upload.waitingForBuffer = false;
            resume(upload);
        }
    }

    // ---- arrivals, deadlines, endings ----

    private void registerArrivals() {
        Upload upload;
        while ((upload = arriving.poll()) != null) {
            live.add(upload);
            try {
                upload.key = upload.channel.register(selector, 0, upload);
            } catch (ClosedChannelException | RuntimeException e) {
                fail(upload, Outcome.RESET, "the connection closed before it was served");
                continue;
            }
            if (maxDurationNanos > 0) {
                byAge.add(upload);
            }
            upload.open();
        }
    }

    private void expireOverdue() {
        long now = System.nanoTime();
        var expired = new ArrayList<Upload>();
        for (Upload upload : byActivity.keySet()) {
            if (now - upload.lastActivityNanos < idleNanos) {
                break;
            }
            expired.add(upload);
        }
        String idle = "no data for " + Arguments.seconds(java.time.Duration.ofNanos(idleNanos));
        expired.forEach(upload -> fail(upload, Outcome.IDLE_TIMEOUT, idle));
        expired.clear();
        for (Upload upload : byAge) {
            if (now - upload.startNanos < maxDurationNanos) {
                break;
            }
            expired.add(upload);
        }
        String tooLong = "still running after " + Arguments.seconds(java.time.Duration.ofNanos(maxDurationNanos));
        expired.forEach(upload -> fail(upload, Outcome.TOO_LONG, tooLong));
    }

    /** The sender half-closed: the sink completes after its queued chunks, then the socket closes. */
    private void endComplete(Upload upload) {
        upload.state = Upload.State.ENDING;
        upload.outcome = Outcome.COMPLETE;
        leaveOrders(upload);
        upload.key.interestOps(0);
        upload.complete();
    }

    /**
     * Ends an upload as failed: its socket is no longer read, the sink is
     * aborted after whatever it is still doing, and then the socket is reset,
     * so that the sender learns of the failure when the file already reads
     * {@code ERROR}.
     */
    private void fail(Upload upload, Outcome outcome, String reason) {
        if (upload.state == Upload.State.ENDING || upload.state == Upload.State.DONE) {
            return;
        }
        upload.state = Upload.State.ENDING;
        upload.outcome = outcome;
        upload.reason = reason;
        leaveOrders(upload);
        if (upload.key != null && upload.key.isValid()) {
            upload.key.interestOps(0);
        }
        upload.abort();
    }

    private void leaveOrders(Upload upload) {
        upload.paused = true;
        byActivity.remove(upload);
        byAge.remove(upload);
    }

    /** Closes the socket: gracefully (the sender's confirmation), or with a reset (RST). */
    private static void close(Upload upload, boolean reset) {
        if (upload.key != null) {
            upload.key.cancel();
        }
        try (var channel = upload.channel) {
            if (reset && channel.isOpen()) {
                channel.setOption(StandardSocketOptions.SO_LINGER, 0);
            }
        } catch (IOException | RuntimeException e) {
            // Already closed or reset by the peer: released either way.
        }
    }

    private void finish(Upload upload) {
        if (upload.state == Upload.State.DONE) {
            return;
        }
        upload.state = Upload.State.DONE;
        live.remove(upload);
        load.decrementAndGet();
        slots.release();
    }

    // ---- stopping ----

    /**
     * Ends every upload still being received as {@code shutdown} (or, after a
     * failure of the loop, as {@code internal-error}), interrupting sink calls
     * in flight, then runs the workers' events until every record is written
     * or the stop deadline passes. Uploads whose sinks are still busy then are
     * logged as they stand, with their marker unconfirmed.
     */
    private void drain(boolean failed) {
        if (!stopping) {
            stopDeadline = System.nanoTime() + FerryServer.STOP_GRACE_NANOS;
        }
        Outcome outcome = failed ? Outcome.INTERNAL_ERROR : Outcome.SHUTDOWN;
        String reason = failed ? "the server's event loop failed" : "the server was stopped";
        boolean selectorUsable = !failed;
        while (true) {
            try {
                runEvents();
                registerArrivals();
                for (Upload upload : new ArrayList<>(live)) {
                    if (upload.state == Upload.State.OPENING || upload.state == Upload.State.READING) {
                        fail(upload, outcome, reason);
                        upload.interruptWorker();
                    }
                }
            } catch (RuntimeException e) {
                log.line(name + ": unexpected failure while stopping: " + e);
            }
            long millis = millisUntil(stopDeadline);
            if (live.isEmpty() || millis <= 0) {
                break;
            }
            try {
                if (selectorUsable) {
                    selector.select(Math.min(millis, 50));
                } else {
                    Thread.sleep(Math.min(millis, 10));
                }
            } catch (IOException e) {
                selectorUsable = false;
            } catch (InterruptedException e) {
                break;
            }
        }
        for (Upload upload : new ArrayList<>(live)) {
            if (upload.outcome == null || upload.outcome == Outcome.COMPLETE) {
                // Not confirmed to the sender: a complete upload whose sink did not finish is not complete.
                upload.outcome = outcome;
                upload.reason = reason;
            }
            upload.markerFailure = "its storage did not finish within the stop's grace period";
            upload.writeRecord();
            close(upload, true);
            finish(upload);
        }
        try {
            selector.close();
        } catch (IOException e) {
            // Nothing is left registered with it.
        }
    }
}
