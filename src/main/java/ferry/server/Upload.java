package ferry.server;

import ferry.common.Arguments;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One accepted connection and its upload.
 *
 * <p>Two threads share it, each with its own part. The {@link EventLoop}
 * that holds it owns the socket and the fields marked "loop": it reads,
 * keeps the clocks, and is the only one to close the socket. The upload's
 * <em>worker</em>, a virtual thread that exists only while there is sink work
 * queued, makes every {@link UploadSink} call, in order, and reports each
 * result back to the loop as an event. So a sink that blocks holds up this
 * upload alone: the loop stops reading its socket until the sink has caught up.
 */
final class Upload {
    /** Where an upload is in its life; changed by the loop only. */
    enum State {
        /** Accepted; its sink is being opened. Not read yet. */
        OPENING,
        /** Its socket is read (unless paused) and its chunks go to the sink. */
        READING,
        /** Its outcome is decided; the sink is completing or aborting. */
        ENDING,
        /** Its record is written; nothing refers to it any more. */
        DONE
    }

    /** First pause when a sink cannot be opened for want of file descriptors; doubles up to the maximum. */
    private static final long MIN_OPEN_BACKOFF_MILLIS = 10;
    private static final long MAX_OPEN_BACKOFF_MILLIS = 1000;

    final long number;
    final SocketChannel channel;
    final String peer;
    final long startNanos;
    final Instant start;
    final String savedAs;
    private final SinkFactory sinks;
    private final EventLoop loop;
    private final Journal journal;
    /** Set by whichever thread writes the record: the worker, or the loop when a stop's grace runs out. */
    private final AtomicBoolean recorded = new AtomicBoolean();

    // loop: the socket's side; outcome, reason and bytes are final once the upload is ENDING,
    // and from then on the worker reads them (and may change a complete outcome to a failed one)
    SelectionKey key;
    State state = State.OPENING;
    /** True while the socket is not read: the sink is opening or behind, or no buffer is free. */
    boolean paused = true;
    /** True while queued for a free buffer. */
    boolean waitingForBuffer;
    long lastActivityNanos;
    long bytes;
    /** Chunks handed to the worker and not yet given back. */
    int inFlight;
    Outcome outcome;
    String reason;
    String markerFailure;

    // worker: the sink's side
    private final Queue<Runnable> jobs = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean working = new AtomicBoolean();
    private volatile Thread worker;
    /** Set by the loop once the upload has failed: chunks still queued are not written. */
    private volatile boolean abandoned;
    private UploadSink sink;
    private Throwable sinkFailure;

    Upload(long number, SocketChannel channel, String peer, long startNanos, SinkFactory sinks, EventLoop loop,
           Journal journal) {
        this.number = number;
        this.channel = channel;
        this.peer = peer;
        this.startNanos = startNanos;
        this.start = Instant.now();
        this.sinks = sinks;
        this.savedAs = sinks.locate(number);
        this.loop = loop;
        this.journal = journal;
        this.lastActivityNanos = startNanos;
    }

    /** The peer's address for log lines, or "unknown" once the socket is gone. */
    static String peerOf(SocketChannel channel) {
        try {
            SocketAddress address = channel.getRemoteAddress();
            return address == null ? "unknown" : address.toString().replaceFirst("^[^/]*/", "");
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Writes this upload's record, unless it is written already; true if this call wrote it. */
    boolean writeRecord() {
        if (!recorded.compareAndSet(false, true)) {
            return false;
        }
        journal.record(new UploadRecord(number, peer, bytes, start, Instant.now(), outcome, reason, savedAs,
                markerFailure));
        return true;
    }

    // ---- called by the loop: queue sink work ----

    void open() {
        submit(this::openSink);
    }

    /** Queues a filled buffer (flipped); it comes back to the loop in a written event. */
    void write(ByteBuffer chunk) {
        submit(() -> writeChunk(chunk));
    }

    /** The sender half-closed: the sink completes after the queued chunks, then the loop closes the socket. */
    void complete() {
        submit(this::completeSink);
    }

    /**
     * Marks the upload failed: queued chunks are skipped, the sink is aborted
     * after them, then the loop resets the socket.
     */
    void abort() {
        abandoned = true;
        submit(this::abortSink);
    }

    /** Interrupts a sink call in flight (the server is stopping). */
    void interruptWorker() {
        Thread thread = worker;
        if (thread != null) {
            thread.interrupt();
        }
    }

    // ---- the worker ----

    private void submit(Runnable job) {
        jobs.add(job);
        if (working.compareAndSet(false, true)) {
            Thread.ofVirtual().name("conn-" + number).start(this::work);
        }
    }

    /** Runs queued jobs until none is left; at most one worker runs at a time. */
    private void work() {
        worker = Thread.currentThread();
        do {
            Runnable job;
            while ((job = jobs.poll()) != null) {
                job.run();
            }
            working.set(false);
        } while (!jobs.isEmpty() && working.compareAndSet(false, true));
    }

    private void openSink() {
        long backoff = 0;
        boolean reported = false;
        while (!abandoned) {
            try {
                sink = sinks.open(number);
                loop.post(() -> loop.opened(this));
                return;
            } catch (Throwable e) {
                rethrowIfFatal(e);
                String why = describe(e);
                if (!why.startsWith("Too many open files")) {
                    loop.post(() -> loop.openFailed(this, "cannot create the file: " + why));
                    return;
                }
                // Out of descriptors: the connection waits (its bytes wait in the kernel) until one is free.
                backoff = Math.min(MAX_OPEN_BACKOFF_MILLIS, Math.max(MIN_OPEN_BACKOFF_MILLIS, backoff * 2));
                if (!reported) {
                    loop.note("cannot create the file of conn=" + number + " (" + why + "), retrying in "
                            + backoff + " ms, backing off up to " + MAX_OPEN_BACKOFF_MILLIS + " ms");
                    reported = true;
                }
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException interrupted) {
                    return; // stopping: the abort queued behind this job reports the upload
                }
            }
        }
    }

    private void writeChunk(ByteBuffer chunk) {
        Throwable failure = null;
        if (sinkFailure == null && !abandoned) {
            try {
                sink.write(chunk);
            } catch (Throwable e) {
                rethrowIfFatal(e);
                failure = e;
                sinkFailure = e;
            }
        }
        Throwable reported = failure;
        loop.post(() -> loop.written(this, chunk, reported));
    }

    private void completeSink() {
        if (sinkFailure == null && !abandoned) {
            try {
                sink.complete();
                sink = null;
                conclude(false);
                return;
            } catch (Throwable e) {
                rethrowIfFatal(e);
                sinkFailure = e;
            }
        }
        outcome = Outcome.WRITE_FAILED;
        reason = describe(sinkFailure);
        markerFailure = abortQuietly();
        conclude(true);
    }

    private void abortSink() {
        Thread.interrupted(); // an interrupt meant for a write must not stop the marker
        markerFailure = abortQuietly();
        conclude(true);
    }

    /** The sink is done: the record is written, then the loop closes the socket (with a reset if failed). */
    private void conclude(boolean reset) {
        writeRecord();
        loop.post(() -> loop.concluded(this, reset));
    }

    /** Aborts the sink if one is open; returns why the marker could not be written, or null. */
    private String abortQuietly() {
        UploadSink open = sink;
        sink = null;
        if (open == null) {
            return null;
        }
        try {
            open.abort();
            return null;
        } catch (Throwable e) {
            rethrowIfFatal(e);
            return describe(e);
        }
    }

    /** A sink's failure in plain words: its message, or for an unexpected exception its type too. */
    static String describe(Throwable e) {
        if (e instanceof IOException io) {
            return Arguments.describe(io);
        }
        return "unexpected failure: " + e;
    }

    /** Errors of the JVM itself (out of memory, say) are not one upload's failure. */
    private static void rethrowIfFatal(Throwable e) {
        if (e instanceof VirtualMachineError error) {
            throw error;
        }
    }
}
