package ferry.server.net;

import ferry.common.Arguments;
import ferry.server.report.Journal;
import ferry.server.report.Log;
import ferry.server.report.Outcome;
import ferry.server.report.UploadRecord;
import ferry.server.store.SinkFactory;
import ferry.server.store.UploadSink;
import ferry.server.tls.ServerTls;
import ferry.server.tls.TlsConnection;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One accepted connection and its upload.
 *
 * <p>Three kinds of thread touch it, and at any time exactly one of the
 * first two owns the socket's reading. The event loop that holds it
 * ({@link Loop}) waits, with every other idle connection, for the socket to
 * become readable, and keeps the idle clock. Then it hands the upload to its
 * <em>worker</em>, a virtual thread that exists only while there is work: the
 * worker reads what the socket has and saves it through the
 * {@link UploadSink}, chunk by chunk, in one buffer from the
 * {@link BufferPool}, until the socket is empty, and gives the upload back. A
 * sink that blocks therefore holds up this upload alone: while its worker
 * waits, nobody reads its socket, and TCP flow control slows its sender down.
 *
 * <p>Ownership, field by field:
 * <ul>
 *   <li>The <b>accept thread</b> constructs the upload and configures its
 *       socket (resets it if that fails), then hands it to the loop
 *       ({@code EventLoop.add}, a concurrent queue: the hand-over publishes
 *       it) and touches it no more.</li>
 *   <li>The <b>loop thread</b> alone writes {@link #state}, {@link #key},
 *       {@link #lastActivityNanos} and {@link #endRequest}, alone changes the
 *       key's interest, and alone closes the socket. It gives the worker work
 *       only through {@link #open}, {@link #work} and {@link #end}, which queue
 *       a job; jobs run in order, one worker at a time (a new virtual thread
 *       whenever the last one found no job left).</li>
 *   <li>The <b>worker</b> alone reads the socket (in {@link State#WORKING}
 *       only), makes every sink call (open, write, complete, abort), and owns
 *       {@code sink}, {@code bytes}, {@code outcome}, {@code reason},
 *       {@code markerFailure} and the digest. It never touches the key or the
 *       state: it reports to the loop through the {@link Loop} events, which
 *       the loop runs on its own thread.</li>
 * </ul>
 *
 * <p>How ownership passes, by {@link State}: {@code OPENING} (the worker
 * opens the sink) until {@link Loop#opened}; then {@code WAITING} (the loop
 * watches the socket with {@code OP_READ}) until it is readable; then
 * {@code WORKING} (interest cleared, the worker reads and saves) until
 * {@link Loop#yielded} makes it {@code WAITING} again. The worker decides
 * an outcome itself (end of stream, a reset, a sink failure, too many bytes)
 * and reports it with {@link Loop#concluded}; the loop decides one (idle,
 * too long, stopping) by setting {@link #endRequest}, which the worker checks
 * between chunks, or, when the loop holds the upload, by {@code ENDING} and
 * an {@link #end} job. Either way the worker finishes the sink and writes
 * the record first, then the loop closes the socket and makes it
 * {@code DONE}: a sender never sees its connection end before its file is
 * final.
 *
 * <p>The only fields both sides read are volatile or atomic:
 * {@link #endRequest}; {@code worker} and {@code interruptible}, which a stop
 * reads to interrupt a sink call or a wait (for a buffer, for a descriptor)
 * at every pass until the upload ends ({@link #interruptSinkCall}); and
 * {@code bytes} and {@code recorded}, for when a stop's grace runs out with
 * the worker still in the sink: then the loop claims the record, writes the
 * marker by the upload's name ({@link #markByName}) and writes the record
 * ({@link #recordUnfinished}), and {@code recorded} keeps it to one.
 */
final class Upload {
    /**
     * The event loop that holds an upload, as the upload's worker sees it. {@code opened}, {@code yielded} and
     * {@code concluded} only queue an event and wake the loop, which then runs it on its own thread; {@code note}
     * writes its line at once, on the caller's thread.
     */
    interface Loop {
        /** The sink is open: wait for data. */
        void opened(Upload upload);

        /** The worker emptied the socket: wait for more data, with a fresh idle clock. */
        void yielded(Upload upload);

        /** The sink is done and the record written: close the socket (with a reset if asked) and free the slot. */
        void concluded(Upload upload, boolean reset);

        /** A log line that is not one upload's record. */
        void note(String text);
    }

    /** Where an upload is in its life, and so who holds it (see the class comment); changed by the loop only. */
    enum State {
        /** Accepted; its worker is opening the sink. */
        OPENING,
        /** The loop waits for data (and keeps the idle clock). */
        WAITING,
        /** The worker reads and saves. */
        WORKING,
        /** The loop has decided the outcome and handed the end to the worker, which aborts the sink. */
        ENDING,
        /** The socket is closed and the slot free. */
        DONE
    }

    /** Why the loop wants an upload ended while its worker holds it. */
    record EndRequest(Outcome outcome, String reason) {
    }

    /**
     * A read of fewer bytes than this is taken as the socket drained: a sender that slow (a trickle) has sent
     * nothing more by the next read, which would only return 0.
     */
    private static final int SMALL_READ = 16 << 10;
    /** Chunks a worker saves before letting other workers run on its carrier thread. */
    private static final int CHUNKS_BEFORE_YIELD = 4;
    /**
     * Chunks a burst saves before it gives its buffer back when other uploads
     * wait for one: a sender that never lets its socket empty must not keep a
     * buffer from the others for the whole upload.
     */
    private static final int CHUNKS_BEFORE_SHARING = 16;
    /**
     * Over TLS, the part of a burst's buffer that holds the socket's encrypted bytes; the rest takes the
     * decrypted ones, which are never more.
     */
    private static final int TLS_NET_AREA = 256 << 10;

    final long number;
    final SocketChannel channel;
    final String peer;
    final long startNanos;
    /** When it was accepted, in milliseconds since the epoch (the record's start). */
    private final long startMillis;
    private final Loop loop;
    private final SinkFactory sinks;
    private final BufferPool buffers;
    private final Journal journal;
    private final OpenBackoff backoff;
    private final long maxBytes;
    /** The SHA-256 of the bytes so far, with {@code --checksum sha256}; null otherwise. */
    private final MessageDigest digest;
    /** The server's TLS, or null for plain TCP. */
    private final ServerTls tls;

    // the loop thread's
    SelectionKey key;
    State state = State.OPENING;
    /** When the sender last sent a byte, or the server last stopped holding it back. */
    long lastActivityNanos;

    /** Set by the loop to end an upload its worker holds; the worker checks it between chunks. */
    volatile EndRequest endRequest;

    // the worker's (read by the loop only to stop it, or when a stop's grace runs out)
    private volatile long bytes;
    private Outcome outcome;
    private String reason;
    private String markerFailure;
    private UploadSink sink;
    /** This connection's TLS, made by the worker's first burst; null for plain TCP. */
    private TlsConnection tlsConnection;
    private final Queue<Runnable> jobs = new ConcurrentLinkedQueue<>();
    /** The worker's name, {@code conn-N}, and the jobs run at every wake-up: made once, not at every hand-off. */
    private final String workerName;
    private final Runnable jobRunner = this::runJobs;
    private final Runnable burstJob = this::burst;
    private final AtomicBoolean working = new AtomicBoolean();
    /**
     * True while the worker is inside a sink call, waits for a buffer or backs off for a descriptor: only then
     * may a stop interrupt it. Cleared under {@code interruptLock}, so that no interrupt lands after the worker
     * left (in the abort that writes the marker, say).
     */
    private volatile boolean interruptible;
    private final Object interruptLock = new Object();
    /** The worker thread while one runs (not after: a finished virtual thread must not stay reachable). */
    private final AtomicReference<Thread> worker = new AtomicReference<>();
    /** Reads that found the socket empty (returned 0): what taking a short read as drained saves. */
    volatile int emptyReads;
    /** Bursts the worker finished (read and saved until the socket was empty, or the upload's end). */
    volatile int bursts;
    /** Set by whichever thread writes the record: the worker, or the loop when a stop's grace runs out. */
    private final AtomicBoolean recorded = new AtomicBoolean();

    Upload(long number, SocketChannel channel, String peer, long startNanos, Loop loop, UploadContext shared) {
        this.number = number;
        this.channel = channel;
        this.peer = peer;
        this.startNanos = startNanos;
        this.startMillis = System.currentTimeMillis();
        this.loop = loop;
        this.sinks = shared.sinks();
        this.buffers = shared.buffers();
        this.journal = shared.journal();
        this.backoff = shared.backoff();
        this.maxBytes = shared.maxBytes();
        this.digest = shared.checksum() ? sha256() : null;
        this.tls = shared.tls();
        this.lastActivityNanos = startNanos;
        this.workerName = "conn-" + number;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** The peer's address for log lines, or "unknown" once the socket is gone. */
    static String peerOf(SocketChannel channel) {
        try {
            SocketAddress address = channel.getRemoteAddress();
            if (address == null) {
                return "unknown";
            }
            // "host/1.2.3.4:5" or "/1.2.3.4:5": what follows the first slash (a plain search: no regex per accept).
            String text = address.toString();
            return text.substring(text.indexOf('/') + 1);
        } catch (IOException e) {
            return "unknown";
        }
    }

    // ---- called by the loop ----

    void open() {
        submit(this::openSink);
    }

    /** The socket is readable: the worker reads and saves until it is empty, then gives the upload back. */
    void work() {
        submit(burstJob);
    }

    /** The loop ends an upload it holds (idle, too long, stopping): the worker aborts the sink. */
    void end(EndRequest request) {
        submit(() -> fail(request.outcome(), request.reason()));
    }

    /**
     * Interrupts the worker's sink call, if it is in one (the server is
     * stopping). Never a socket read: an interrupted read closes the socket,
     * and the sender would learn of the end before the file reads ERROR.
     */
    void interruptSinkCall() {
        synchronized (interruptLock) {
            Thread thread = worker.get();
            if (thread != null && interruptible) {
                thread.interrupt();
            }
        }
    }

    /**
     * When a stop's grace period runs out with the worker still busy: claims
     * the record, so that the worker writes none (nor a second marker's
     * record) after this; false if the worker wrote it meanwhile.
     */
    boolean claimRecord() {
        return recorded.compareAndSet(false, true);
    }

    /**
     * Writes the {@code ERROR} marker by the upload's name, past its sink (whose call may never return): after
     * {@link #claimRecord}, when the grace period has run out. Returns null, or why the marker could not be
     * written.
     */
    String markByName() {
        try {
            sinks.markError(number);
            return null;
        } catch (Exception e) {
            return Log.describe(e);
        }
    }

    /**
     * When a stop's grace period runs out with the worker still busy, after
     * {@link #claimRecord} and {@link #markByName}: the record as things
     * stand; {@code markerFailed} is null when the marker was written by name.
     */
    void recordUnfinished(Outcome stopOutcome, String stopReason, String markerFailed) {
        journal.record(new UploadRecord(number, peer, bytes, Instant.ofEpochMilli(startMillis), Instant.now(),
                stopOutcome, stopReason, sinks.locate(number), markerFailed == null ? null
                        : "its storage did not finish within the stop's grace period (" + markerFailed + ")", null));
    }

    // ---- the worker ----

    private void submit(Runnable job) {
        jobs.add(job);
        if (working.compareAndSet(false, true)) {
            Thread.ofVirtual().name(workerName).start(jobRunner);
        }
    }

    /** Runs queued jobs until none is left; at most one worker runs at a time. */
    private void runJobs() {
        Thread current = Thread.currentThread();
        worker.set(current);
        do {
            Runnable job;
            while ((job = jobs.poll()) != null) {
                try {
                    job.run();
                } catch (Throwable e) {
                    // A bug in ferry itself, or the JVM out of (direct) memory: this upload
                    // fails, the server goes on; no stack trace reaches the terminal.
                    fail(Outcome.INTERNAL_ERROR, "unexpected failure: " + e);
                }
            }
            working.set(false);
        } while (!jobs.isEmpty() && working.compareAndSet(false, true));
        worker.compareAndSet(current, null);
    }

    private void openSink() {
        long pause = 0;
        try {
            while (true) {
                EndRequest request = endRequest;
                if (request != null) {
                    fail(request.outcome(), request.reason());
                    return;
                }
                try {
                    sink = inSink(() -> sinks.open(number));
                    loop.opened(this);
                    return;
                } catch (Exception e) {
                    String why = Log.describe(e);
                    if (!why.startsWith("Too many open files")) {
                        fail(Outcome.WRITE_FAILED, "cannot create the file: " + why);
                        return;
                    }
                    // Out of descriptors: the connection waits (its bytes wait in the kernel) until one is free.
                    if (pause == 0) {
                        backoff.enter();
                        loop.note("cannot create the file of conn=" + number + " (" + why + "), retrying in "
                                + OpenBackoff.MIN_MILLIS + " ms, backing off up to " + OpenBackoff.MAX_MILLIS + " ms");
                    }
                    pause = OpenBackoff.next(pause);
                    enterInterruptible();
                    try {
                        Thread.sleep(pause);
                    } catch (InterruptedException interrupted) {
                        // Stopping: the end request is set; the next round reports it.
                    } finally {
                        leaveInterruptible();
                    }
                }
            }
        } finally {
            if (pause != 0) {
                backoff.leave();
            }
        }
    }

    /** A sink call; a stop may interrupt it. */
    private <T> T inSink(SinkCall<T> call) throws Exception {
        enterInterruptible();
        try {
            return call.run();
        } finally {
            leaveInterruptible();
        }
    }

    private void enterInterruptible() {
        interruptible = true;
    }

    /** After this, no stop interrupts the worker until it enters the next interruptible call. */
    private void leaveInterruptible() {
        synchronized (interruptLock) {
            interruptible = false;
        }
    }

    @FunctionalInterface
    private interface SinkCall<T> {
        T run() throws Exception;
    }

    /**
     * Reads and saves what the socket has, then gives the upload back to the
     * loop. The buffer goes back to the pool as soon as the last chunk is
     * saved: what ends the upload (the commit and its fsync, the abort, the
     * record) runs without it.
     */
    private void burst() {
        ByteBuffer buffer;
        enterInterruptible();
        try {
            buffer = buffers.take();
        } catch (InterruptedException e) {
            fail(Outcome.SHUTDOWN, "the server was stopped");
            return;
        } finally {
            leaveInterruptible();
        }
        Runnable ending;
        try {
            if (tls == null) {
                ending = readAndSave(buffer);
            } else {
                if (tlsConnection == null) {
                    tlsConnection = tls.connection();
                }
                tlsConnection.begin(buffer.slice(0, TLS_NET_AREA));
                try {
                    ending = readAndSave(buffer.slice(TLS_NET_AREA, buffer.capacity() - TLS_NET_AREA));
                } finally {
                    tlsConnection.end();
                }
            }
        } finally {
            buffers.give(buffer);
        }
        bursts++;
        if (ending == null) {
            loop.yielded(this);
        } else {
            ending.run();
        }
    }

    /** Reads and saves chunks until the socket is empty (null), or returns how the upload ends. */
    private Runnable readAndSave(ByteBuffer buffer) {
        int chunks = 0;
        while (true) {
            EndRequest request = endRequest;
            if (request != null) {
                return () -> fail(request.outcome(), request.reason());
            }
            buffer.clear();
            int room = buffer.remaining();
            int n;
            try {
                n = tlsConnection == null ? channel.read(buffer) : tlsConnection.read(channel, buffer);
            } catch (IOException e) {
                // No catch clause names a TLS exception: the verifier would load TLS classes into a plain server.
                if (tlsConnection != null) {
                    String why = tlsConnection.failure(e);
                    if (why != null) {
                        Outcome failed = tlsConnection.truncated(e) ? Outcome.TRUNCATED : Outcome.TLS_FAILED;
                        return () -> fail(failed, why);
                    }
                }
                String why = Arguments.describe(e).toLowerCase();
                return () -> fail(Outcome.RESET, why);
            }
            if (n == 0) {
                emptyReads++;
                return null;
            }
            if (n < 0) {
                return this::complete;
            }
            // A small read emptied the socket: hand it back without a read that returns 0 to prove it (the
            // level-triggered selector reports whatever came since). Only a small one: a bulk sender refills
            // the socket while its last read is saved, and a hand-off per read cost a third more CPU. Not at
            // the upload's first read either, where a small file's end often waits behind its bytes, nor over
            // TLS, which may hold a record back.
            boolean drained = smallRead(n, room) && bytes > 0 && tlsConnection == null;
            long total = bytes + n;
            bytes = total;
            if (maxBytes > 0 && total > maxBytes) {
                return () -> fail(Outcome.TOO_LARGE, "more than " + maxBytes + " bytes");
            }
            buffer.flip();
            if (digest != null) {
                // As the bytes arrive, on this worker: no second read of the file.
                buffer.mark();
                digest.update(buffer);
                buffer.reset();
            }
            try {
                inSink(() -> {
                    sink.write(buffer);
                    return null;
                });
            } catch (Exception e) {
                String why = Log.describe(e);
                return () -> fail(Outcome.WRITE_FAILED, why);
            }
            chunks++;
            if (drained) {
                return null;
            }
            if (chunks % CHUNKS_BEFORE_SHARING == 0 && buffers.wanted()) {
                return null; // others wait for a buffer: hand this one back and queue again
            }
            if (chunks % CHUNKS_BEFORE_YIELD == 0) {
                Thread.yield(); // a fast sender must not keep the other workers off this carrier
            }
        }
    }

    /** Whether a read of {@code n} bytes, with room for {@code room}, is small enough to take as the socket drained. */
    static boolean smallRead(int n, int room) {
        return n < room && n < SMALL_READ;
    }

    /** The sender half-closed after its last byte: make the upload final, then the loop confirms. */
    private void complete() {
        try {
            inSink(() -> {
                sink.complete();
                return null;
            });
            sink = null;
        } catch (Exception e) {
            fail(Outcome.WRITE_FAILED, Log.describe(e));
            return;
        }
        outcome = Outcome.COMPLETE;
        conclude(false);
    }

    /**
     * Ends the upload as failed: the sink writes its ERROR marker, then the
     * loop resets the socket. When the loop has asked for the end (a stop,
     * say), its reason wins over the error that asking caused (an interrupted
     * write).
     */
    private void fail(Outcome failed, String why) {
        if (outcome != null) {
            return; // already concluded
        }
        EndRequest request = endRequest;
        if (request != null && failed != Outcome.RESET) {
            // The loop's reason (a stop, say) wins over the error it caused (an interrupted write);
            // a sender's own reset stays a reset.
            failed = request.outcome();
            why = request.reason();
        }
        Thread.interrupted(); // an interrupt meant for a sink call must not stop the marker
        outcome = failed;
        reason = why;
        UploadSink open = sink;
        sink = null;
        try {
            if (open != null) {
                open.abort();
            } else if (!why.startsWith("cannot create the file")) {
                // Never opened (stopped while waiting for a descriptor, say): N.file must still read ERROR.
                sinks.open(number).abort();
            }
        } catch (Throwable e) {
            markerFailure = Log.describe(e);
        }
        conclude(true);
    }

    /** The sink is done: the record is written, then the loop closes the socket (with a reset if failed). */
    private void conclude(boolean reset) {
        try {
            if (recorded.compareAndSet(false, true)) {
                journal.record(new UploadRecord(number, peer, bytes, Instant.ofEpochMilli(startMillis), Instant.now(),
                        outcome, reason, sinks.locate(number), markerFailure,
                        outcome == Outcome.COMPLETE && digest != null ? HexFormat.of().formatHex(digest.digest())
                                : null, tlsConnection == null ? null : tlsConnection.protocol(),
                        tlsConnection == null ? null : tlsConnection.clientSubject()));
            }
        } catch (RuntimeException e) {
            loop.note("cannot write the record of conn=" + number + ": " + e);
        } finally {
            if (!reset && tlsConnection != null) {
                // The TLS form of the confirming close: the server's close_notify, then the close.
                tlsConnection.closeNotify(channel);
            }
            // Whatever happened to the record, the socket closes and the slot is freed.
            loop.concluded(this, reset);
        }
    }
}
