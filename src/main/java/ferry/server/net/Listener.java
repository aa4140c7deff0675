package ferry.server.net;

import ferry.server.numbering.ConnectionCounter;
import ferry.server.report.Log;
import ferry.server.report.Outcome;
import ferry.server.report.UploadRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.Semaphore;

/**
 * The accept loop: one platform thread takes connections in order, numbers
 * them and hands each to the least loaded event loop (never chosen by its
 * number: a shared counter hands out sparse numbers). It takes a slot before
 * each accept, so that at the connection limit new connections wait in the
 * kernel's accept queue instead of failing. Opening a connection's sink is
 * not its job (the upload's worker does that), so a slow sink never holds up
 * the accepting of others.
 *
 * <p>The listening socket is non-blocking and awaited with a selector of
 * its own, so that each accept is made under {@link OpenBackoff}'s lock: it
 * never takes a descriptor that a waiting upload was just given.
 *
 * <p>Nothing that goes wrong here ends the loop: a failed accept, a counter
 * that fails or even a bug is logged, backed off from (10 ms doubling to
 * 1 s, no busy loop) and retried; an accepted connection is kept while its
 * number is awaited.
 */
final class Listener implements Runnable {
    /** First pause after a failure (out of descriptors, say); doubles up to the maximum. */
    private static final long MIN_BACKOFF_MILLIS = 10;
    private static final long MAX_BACKOFF_MILLIS = 1000;

    private final ServerSocketChannel server;
    private final ConnectionCounter counter;
    private final List<EventLoop> loops;
    /** One permit per connection that may be open at once; the loops give them back. */
    private final Semaphore slots;
    private final UploadContext shared;
    private final Admission admission;
    private final Log log;
    /** True from the first connection that had to wait for a slot until one is free at once again. */
    private boolean atLimit;
    /** The current pause after a failure; 0 after a success. */
    private long backoffMillis;
    /** Where the search for the least loaded loop starts, so that ties rotate. */
    private int nextLoop;

    Listener(ServerSocketChannel server, ConnectionCounter counter, List<EventLoop> loops, Semaphore slots,
             UploadContext shared, Admission admission, Log log) {
        this.server = server;
        this.counter = counter;
        this.loops = loops;
        this.slots = slots;
        this.shared = shared;
        this.admission = admission;
        this.log = log;
    }

    @Override
    public void run() {
        // Closing the selector at the end also releases the listening socket closed by a stop.
        try (Selector selector = Selector.open()) {
            server.configureBlocking(false);
            // The socket from systemd is waited on as itself: a JDK selector takes only the JDK's channels.
            (server instanceof InheritedSocket inherited ? inherited.listening() : server)
                    .register(selector, SelectionKey.OP_ACCEPT);
            while (server.isOpen()) {
                try {
                    if (!serveOne(selector)) {
                        return;
                    }
                } catch (RuntimeException e) {
                    if (!backOff("unexpected failure in the accept loop (" + e + ")")) {
                        return;
                    }
                }
            }
        } catch (ClosedChannelException e) {
            // Stopped before it began.
        } catch (IOException e) {
            throw new UncheckedIOException("cannot wait for connections", e);
        }
    }

    /** Accepts, numbers and hands over one connection, or waits for one; false when the server is stopping. */
    private boolean serveOne(Selector selector) {
        OpenBackoff backoff = shared.backoff();
        if (!backoff.ready()) {
            do {
                // Accepting now would spend a descriptor the uploads waiting for their files need.
                if (!backOff("out of file descriptors: new connections wait in the accept queue")) {
                    return false;
                }
            } while (!backoff.ready());
            backoffMillis = 0;
        }
        if (!takeSlot()) {
            return false;
        }
        SocketChannel channel;
        try {
            channel = backoff.acceptUnlessShort(server);
            if (channel == null) {
                slots.release();
                return backoff.shortage() || awaitConnection(selector);
            }
        } catch (ClosedChannelException e) {
            slots.release();
            return false; // stopped
        } catch (IOException e) {
            slots.release();
            // Accept failures (EMFILE, ENFILE, ENOBUFS) pass: back off instead of spinning.
            return backOff("accept failed (" + e.getMessage() + ")");
        }
        long accepted = System.nanoTime();
        boolean handed = false;
        long numbered = -1;
        String peer = "unknown";
        try {
            peer = Upload.peerOf(channel);
            if (!admission.admitsAll() && !admission.admit(channel, peer)) {
                return true; // reset in finally, unnumbered
            }
            long number = number(peer);
            if (number < 0) {
                log.line("connection from " + peer + " reset unnumbered: the server is stopping");
                return false;
            }
            numbered = number;
            shared.journal().started(number);
            EventLoop loop = leastLoaded();
            var upload = new Upload(number, channel, peer, accepted, loop, shared);
            try {
                channel.configureBlocking(false);
                // Any close is a reset until the server confirms a complete upload (and then lingers normally):
                // whatever ends an upload unconfirmed, even the process dying, reads to the sender as a failure.
                channel.setOption(StandardSocketOptions.SO_LINGER, 0);
            } catch (IOException e) {
                // Reset before it reached a loop: the loop finds it closed and logs it as such.
                reset(channel);
            }
            loop.reserve();
            loop.add(upload);
            handed = true;
            return true;
        } finally {
            if (!handed) {
                // Stopping, or a bug: whatever was taken for this connection is given back.
                reset(channel);
                slots.release();
                if (numbered > 0) {
                    // A bug between numbering and the hand-over: the number still gets its one record.
                    var now = java.time.Instant.now();
                    shared.journal().record(new UploadRecord(numbered, peer, 0, now, now, Outcome.INTERNAL_ERROR,
                            "could not hand the connection to an event loop", shared.sinks().locate(numbered),
                            "no file was created", null));
                }
            }
        }
    }

    /**
     * The next number from the counter. A counter that fails is asked again
     * after a back-off, while the accepted connection waits; -1 when the
     * server stops meanwhile.
     */
    private long number(String peer) {
        boolean failing = false;
        while (true) {
            try {
                long number = counter.next();
                if (failing) {
                    log.line("numbering works again");
                }
                backoffMillis = 0;
                return number;
            } catch (IOException | RuntimeException e) {
                failing = true;
                if (!backOff("cannot number the connection from " + peer + " (" + Log.describe(e) + ")")) {
                    return -1;
                }
            }
        }
    }

    /** Waits until a connection is pending (or a stop interrupts); false when the server is stopping. */
    private boolean awaitConnection(Selector selector) {
        try {
            selector.select();
            selector.selectedKeys().clear();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot wait for connections", e);
        }
        return server.isOpen() && !Thread.currentThread().isInterrupted();
    }

    private EventLoop leastLoaded() {
        int size = loops.size();
        EventLoop best = null;
        for (int i = 0; i < size; i++) {
            EventLoop loop = loops.get((nextLoop + i) % size);
            if (best == null || loop.load() < best.load()) {
                best = loop;
            }
        }
        nextLoop = (nextLoop + 1) % size;
        return best;
    }

    /** Takes a slot, waiting for one when all are in use; false when interrupted (stopping). */
    private boolean takeSlot() {
        if (slots.tryAcquire()) {
            atLimit = false;
            return true;
        }
        if (!atLimit) {
            // Once per stretch at the limit, not once per connection that waits.
            log.line("connection limit reached; new connections wait until an upload ends");
            atLimit = true;
        }
        try {
            slots.acquire();
            return true;
        } catch (InterruptedException e) {
            return false;
        }
    }

    /** Logs the failure and sleeps, longer each time in a row; false when interrupted (stopping). */
    private boolean backOff(String failure) {
        backoffMillis = Math.min(MAX_BACKOFF_MILLIS, Math.max(MIN_BACKOFF_MILLIS, backoffMillis * 2));
        log.line(failure + ", retrying in " + backoffMillis + " ms");
        shared.journal().backedOff();
        try {
            Thread.sleep(backoffMillis);
            return server.isOpen();
        } catch (InterruptedException e) {
            return false;
        }
    }

    private static void reset(SocketChannel channel) {
        try (channel) {
            channel.setOption(StandardSocketOptions.SO_LINGER, 0);
        } catch (IOException e) {
            // Closed either way.
        }
    }
}
