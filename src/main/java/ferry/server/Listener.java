package ferry.server;

import ferry.common.Arguments;
import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.Semaphore;

/**
 * The accept loop: one platform thread takes connections in order, numbers
 * them, opens each one's sink and hands it to an event loop. It takes a slot
 * before each accept, so that at the connection limit new connections wait
 * in the kernel's accept queue instead of failing.
 */
final class Listener implements Runnable {
    /** First pause after a failed accept (out of descriptors, say); doubles up to the maximum. */
    private static final long MIN_BACKOFF_MILLIS = 10;
    private static final long MAX_BACKOFF_MILLIS = 1000;

    private final ServerSocketChannel server;
    private final ConnectionCounter counter;
    private final SinkFactory sinks;
    private final List<EventLoop> loops;
    /** One permit per connection that may be open at once; the loops give them back. */
    private final Semaphore slots;
    private final PrintStream log;
    /** True from the first connection that had to wait for a slot until one is free at once again. */
    private boolean atLimit;
    /** The current pause after a failure; 0 after a success. */
    private long backoffMillis;

    Listener(ServerSocketChannel server, ConnectionCounter counter, SinkFactory sinks,
             List<EventLoop> loops, Semaphore slots, PrintStream log) {
        this.server = server;
        this.counter = counter;
        this.sinks = sinks;
        this.loops = loops;
        this.slots = slots;
        this.log = log;
    }

    @Override
    public void run() {
        while (server.isOpen()) {
            if (!takeSlot()) {
                return;
            }
            SocketChannel channel;
            try {
                channel = server.accept();
            } catch (ClosedChannelException e) {
                return; // stopped
            } catch (IOException e) {
                slots.release();
                // Accept failures (EMFILE, ENFILE, ENOBUFS) pass: back off instead of spinning.
                if (!backOff("accept failed (" + e.getMessage() + ")")) {
                    return;
                }
                continue;
            }
            long accepted = System.nanoTime();
            long number = counter.next();
            hand(number, channel, accepted);
        }
    }

    /** Takes a slot, waiting for one when all are in use; false when interrupted (stopping). */
    private boolean takeSlot() {
        if (slots.tryAcquire()) {
            atLimit = false;
            return true;
        }
        if (!atLimit) {
            // Once per stretch at the limit, not once per connection that waits.
            log.println("ferry: connection limit reached; new connections wait until an upload ends");
            atLimit = true;
        }
        try {
            slots.acquire();
            return true;
        } catch (InterruptedException e) {
            return false;
        }
    }

    private void hand(long number, SocketChannel channel, long accepted) {
        String peer = Connection.peerOf(channel);
        UploadSink sink = openSink(number, peer);
        if (sink == null) {
            reset(channel);
            slots.release();
            return;
        }
        backoffMillis = 0;
        var connection = new Connection(number, channel, sink, peer, accepted);
        try {
            channel.configureBlocking(false);
        } catch (IOException e) {
            log.println("ferry: " + connection.finish(Outcome.RESET, System.nanoTime()));
            slots.release();
            return;
        }
        loops.get((int) (number % loops.size())).add(connection);
    }

    /**
     * Opens connection {@code number}'s sink. Out of file descriptors, it
     * waits with a back-off until one is free (the connection's bytes wait in
     * the kernel meanwhile), so that an accepted upload is not lost to a
     * momentary shortage. Returns null, after logging why, if it cannot.
     */
    private UploadSink openSink(long number, String peer) {
        while (true) {
            try {
                return sinks.open(number);
            } catch (IOException | RuntimeException e) {
                String reason = Arguments.describe(e);
                boolean shortage = reason.startsWith("Too many open files");
                if (!shortage || !backOff("cannot create the file of conn=" + number + " (" + reason + ")")) {
                    log.println("ferry: conn=" + number + " peer=" + peer
                            + " bytes=0 ms=0 outcome=write-failed reason=\"cannot create the file: " + reason + '"');
                    return null;
                }
            }
        }
    }

    /** Logs the failure and sleeps, longer each time in a row; false when interrupted (stopping). */
    private boolean backOff(String failure) {
        backoffMillis = Math.min(MAX_BACKOFF_MILLIS, Math.max(MIN_BACKOFF_MILLIS, backoffMillis * 2));
        log.println("ferry: " + failure + ", retrying in " + backoffMillis + " ms");
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
