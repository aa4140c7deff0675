package ferry.server.net;

import ferry.common.Arguments;
import ferry.server.report.Log;
import ferry.server.report.Outcome;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One selector thread that waits for its share of the connections to have
 * data, and keeps their clocks. It never reads a socket nor calls a sink:
 * when a connection is readable, it hands the upload to the upload's worker
 * (see {@link Upload}, whose comment says who owns which of its fields),
 * which reads and saves until the socket is empty and then gives it back
 * through this loop's event queue.
 *
 * <p>Uploads the loop holds are kept in order of last activity, least recent
 * first, so the next idle deadline is always the head's, and the selector
 * sleeps exactly until then: the timeout is exact to the millisecond, with no
 * periodic sweep. An upload its worker holds is out of that order: either
 * data is arriving, or the server (a slow sink, no free buffer) is holding
 * the sender back; its clock starts afresh when the worker gives it back.
 * When uploads have a duration limit, a second list in order of acceptance
 * gives the next duration deadline the same way.
 *
 * <p>Threads: everything here (the selector and its keys, {@code byActivity},
 * {@code byAge}, {@code live}, and each upload's state, key and clock) is
 * confined to the loop's own thread, which runs {@link #run} and then the
 * drain of a stop. Other threads only queue and wake it up:
 * <ul>
 *   <li>the accept thread calls {@link #reserve} then {@link #add} (the
 *       {@code arriving} queue), and reads {@link #load()} to pick a loop;</li>
 *   <li>an upload's worker calls the {@link Upload.Loop} events, which queue
 *       a {@code Runnable} on {@code events} for the loop to run (only
 *       {@link #note} runs on the caller's thread: it just logs);</li>
 *   <li>whoever stops the server calls {@link #stop} (two volatile fields).</li>
 * </ul>
 * For each upload the loop releases one of the accept thread's
 * {@code slots}, and decrements {@code load}, exactly once: when it closes
 * the socket and makes the upload {@code DONE}.
 */
final class EventLoop implements Runnable, Upload.Loop {
    /** How long a stop waits in all for uploads to end and their sinks to finish: 3 s. */
    static final long STOP_GRACE_NANOS = 3_000_000_000L;
    /**
     * How long, after the grace period, the markers of uploads whose sinks are still busy may take, written by
     * name: 300 ms, within the half second the server waits for a loop past the grace.
     */
    static final long MARKER_GRACE_NANOS = 300_000_000L;

    private final String name;
    private final Selector selector;
    private final Queue<Upload> arriving = new ConcurrentLinkedQueue<>();
    /** Results from the uploads' workers, run on this thread. */
    private final Queue<Runnable> events = new ConcurrentLinkedQueue<>();
    /** Uploads waiting for data, in access order: the head has been idle longest. */
    private final LinkedHashMap<Upload, Boolean> byActivity = new LinkedHashMap<>(64, 0.75f, true);
    /** Uploads not yet ending, in the order they were accepted, when uploads have a duration limit. */
    private final LinkedHashSet<Upload> byAge = new LinkedHashSet<>();
    /** Every upload this loop holds whose socket is not closed yet. */
    private final Set<Upload> live = new HashSet<>();
    /** Uploads handed to this loop and not finished: the listener gives new ones to the least loaded loop. */
    private final AtomicInteger load = new AtomicInteger();
    private final long idleNanos;
    private final String idleReason;
    /** The duration limit of an upload, or 0 for none. */
    private final long maxDurationNanos;
    private final String tooLongReason;
    /** Released for every upload this loop finishes: the listener takes one per accept. */
    private final Semaphore slots;
    private final Log log;
    /** Told when this loop cannot go on (its selector failed): the server stops. */
    private final Consumer<String> fatal;
    private volatile boolean stopping;
    private volatile long stopDeadline;
    /** Written by the loop's thread only. */
    private volatile long passes;

    EventLoop(String name, Duration idleTimeout, Duration maxDuration, Semaphore slots, Log log, Consumer<String> fatal)
            throws IOException {
        this.name = name;
        this.idleNanos = idleTimeout.toNanos();
        this.idleReason = "no data for " + Arguments.seconds(idleTimeout);
        this.maxDurationNanos = maxDuration.toNanos();
        this.tooLongReason = "still running after " + Arguments.seconds(maxDuration);
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

    /** The loop's passes so far (one per return from its selector): a loop that spins makes many. */
    long passes() {
        return passes;
    }

    /** Runs {@code event} on this loop's thread; callable from any thread. */
    void post(Runnable event) {
        events.add(event);
        selector.wakeup();
    }

    @Override
    public void note(String text) {
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
                passes++;
                runEvents();
                registerArrivals();
                expireOverdue();
            }
        } catch (Throwable e) {
            // Any Throwable, an Error too: a loop that ended silently would leave its uploads unserved while
            // the listener went on handing it new ones. The server stops instead, and exits non-zero.
            failed = true;
            try {
                log.line(name + " failed, aborting its uploads: " + e);
            } finally {
                fatal.accept(name + " failed: " + e);
            }
        }
        drain(failed);
    }

    private long millisUntilNextDeadline() {
        long deadline = 0;
        boolean any = false;
        if (!byActivity.isEmpty()) {
            deadline = byActivity.firstEntry().getKey().lastActivityNanos + idleNanos;
            any = true;
        }
        if (!byAge.isEmpty()) {
            long ageDeadline = byAge.getFirst().startNanos + maxDurationNanos;
            deadline = !any || ageDeadline - deadline < 0 ? ageDeadline : deadline;
            any = true;
        }
        return any ? millisUntil(deadline) : Long.MAX_VALUE / 2;
    }

    private static long millisUntil(long deadline) {
        long until = deadline - System.nanoTime();
        // Round up: waking a little late is harmless, waking early only loops again.
        return until <= 0 ? 0 : (until + 999_999) / 1_000_000;
    }

    /** Data (or an end) arrived: the worker takes the upload until the socket is empty. */
    private void onReady(SelectionKey key) {
        Upload upload = (Upload) key.attachment();
        if (upload.state != Upload.State.WAITING) {
            return; // selected before its interest was cleared
        }
        try {
            key.interestOps(0);
            byActivity.remove(upload);
            upload.state = Upload.State.WORKING;
            upload.work();
        } catch (RuntimeException e) {
            end(upload, Outcome.INTERNAL_ERROR, "unexpected failure: " + e);
        }
    }

    private void runEvents() {
        Runnable event;
        while ((event = events.poll()) != null) {
            event.run();
        }
    }

    // ---- events from the workers: each is queued, then run on this loop's thread ----

    @Override
    public void opened(Upload upload) {
        post(() -> onOpened(upload));
    }

    @Override
    public void yielded(Upload upload) {
        post(() -> onYielded(upload));
    }

    @Override
    public void concluded(Upload upload, boolean reset) {
        post(() -> onConcluded(upload, reset));
    }

    private void onOpened(Upload upload) {
        if (upload.state == Upload.State.OPENING) {
            handBack(upload);
        }
    }

    /** The worker emptied the socket: wait for more data, with a fresh idle clock. */
    private void onYielded(Upload upload) {
        if (upload.state == Upload.State.WORKING) {
            handBack(upload);
        }
    }

    private void handBack(Upload upload) {
        Upload.EndRequest request = upload.endRequest;
        if (request != null) {
            upload.state = Upload.State.ENDING;
            upload.end(request);
            return;
        }
        try {
            upload.state = Upload.State.WAITING;
            upload.lastActivityNanos = System.nanoTime();
            upload.key.interestOps(SelectionKey.OP_READ);
            byActivity.put(upload, Boolean.TRUE);
        } catch (RuntimeException e) {
            end(upload, Outcome.INTERNAL_ERROR, "unexpected failure: " + e);
        }
    }

    /** The upload's sink is done and its record written: the socket closes, and the slot is free. */
    private void onConcluded(Upload upload, boolean reset) {
        close(upload, reset);
        finish(upload);
    }

    // ---- arrivals, deadlines, endings ----

    private void registerArrivals() {
        Upload upload;
        while ((upload = arriving.poll()) != null) {
            live.add(upload);
            try {
                upload.key = upload.channel.register(selector, 0, upload);
            } catch (ClosedChannelException | RuntimeException e) {
                upload.endRequest = new Upload.EndRequest(Outcome.RESET, "the connection closed before it was served");
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
        expired.forEach(upload -> end(upload, Outcome.IDLE_TIMEOUT, idleReason));
        expired.clear();
        for (Upload upload : byAge) {
            if (now - upload.startNanos < maxDurationNanos) {
                break;
            }
            expired.add(upload);
        }
        expired.forEach(upload -> end(upload, Outcome.TOO_LONG, tooLongReason));
    }

    /**
     * Ends an upload as failed. One the loop holds goes to its worker at once
     * to abort the sink; one its worker holds is told to stop, and ends at its
     * next chunk. Either way the socket is reset only after the file reads
     * {@code ERROR}, so a sender never learns of a failure before it is true.
     */
    private void end(Upload upload, Outcome outcome, String reason) {
        byActivity.remove(upload);
        byAge.remove(upload);
        var request = new Upload.EndRequest(outcome, reason);
        switch (upload.state) {
            case WAITING -> {
                upload.state = Upload.State.ENDING;
                if (upload.key != null && upload.key.isValid()) {
                    upload.key.interestOps(0);
                }
                upload.end(request);
            }
            case OPENING, WORKING -> {
                if (upload.endRequest == null) {
                    upload.endRequest = request;
                }
            }
            case ENDING, DONE -> {
                // Already on its way out.
            }
        }
    }

    /**
     * Closes the socket. Every accepted socket lingers 0 (any close is a
     * reset) until the server confirms a complete upload: only then is
     * lingering turned off, for the graceful close the sender waits for.
     */
    private static void close(Upload upload, boolean reset) {
        if (upload.key != null) {
            upload.key.cancel();
        }
        try (var channel = upload.channel) {
            if (!reset && channel.isOpen()) {
                channel.setOption(StandardSocketOptions.SO_LINGER, -1);
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
        byActivity.remove(upload);
        byAge.remove(upload);
        live.remove(upload);
        load.decrementAndGet();
        slots.release();
    }

    // ---- stopping ----

    /**
     * The grace period ran out with these uploads' workers still busy: each
     * that has no record yet gets its {@code ERROR} marker written by its name
     * (past its sink, whose call may never return), then its record. The
     * markers are written side by side, each on a thread of its own, and
     * awaited for at most {@link #MARKER_GRACE_NANOS}: a storage that hangs
     * must not keep the loop from resetting the sockets.
     */
    private void markUnfinished(Outcome outcome, String reason) {
        var claimed = new ArrayList<Upload>();
        for (Upload upload : live) {
            if (upload.claimRecord()) {
                claimed.add(upload);
            }
        }
        if (claimed.isEmpty()) {
            return;
        }
        var failures = new ConcurrentHashMap<Upload, String>();
        var writers = new ArrayList<Thread>();
        for (Upload upload : claimed) {
            failures.put(upload, "the marker was not written in time");
            writers.add(Thread.ofVirtual().name("marker-" + upload.number).start(() -> {
                String failed = upload.markByName();
                if (failed == null) {
                    failures.remove(upload);
                } else {
                    failures.put(upload, failed);
                }
            }));
        }
        long deadline = System.nanoTime() + MARKER_GRACE_NANOS;
        for (Thread writer : writers) {
            try {
                writer.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (Upload upload : claimed) {
            try {
                upload.recordUnfinished(outcome, reason, failures.get(upload));
            } catch (RuntimeException e) {
                log.line("cannot write the record of conn=" + upload.number + ": " + e);
            }
        }
    }

    /**
     * Ends every upload still being received as {@code shutdown} (or, after a
     * failure of the loop, as {@code internal-error}), interrupting sink calls
     * in flight, then runs the workers' events until every upload is closed or
     * the stop deadline passes. Uploads whose sinks are still busy then are
     * logged as they stand, their marker unconfirmed, and reset.
     */
    private void drain(boolean failed) {
        if (!stopping) {
            stopDeadline = System.nanoTime() + STOP_GRACE_NANOS;
        }
        Outcome outcome = failed ? Outcome.INTERNAL_ERROR : Outcome.SHUTDOWN;
        String reason = failed ? "the server's event loop failed" : "the server was stopped";
        boolean selectorUsable = !failed;
        while (true) {
            try {
                runEvents();
                registerArrivals();
                // Every pass, so that an upload that arrives late is ended too; end() is idempotent. The
                // interrupt is repeated at every pass as well: a sink call may swallow one, and an upload
                // told to end before the stop (too long), or waiting for a buffer, must be woken all the same.
                for (Upload upload : new ArrayList<>(live)) {
                    if (upload.state == Upload.State.DONE) {
                        continue;
                    }
                    if (upload.endRequest == null && upload.state != Upload.State.ENDING) {
                        end(upload, outcome, reason);
                    }
                    upload.interruptSinkCall();
                }
            } catch (Throwable e) {
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
        markUnfinished(outcome, reason);
        for (Upload upload : new ArrayList<>(live)) {
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
