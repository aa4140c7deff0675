package ferry.server;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;

/**
 * One selector thread that reads its share of the connections and saves
 * their bytes, through one direct buffer shared by all of them.
 *
 * <p>Connections are kept in order of last activity, least recent first, so
 * the next idle deadline is always the head's, and the selector sleeps
 * exactly until then: the timeout is exact to the millisecond, with no
 * periodic sweep. When uploads have a duration limit, a second list in
 * order of acceptance gives the next duration deadline the same way.
 */
final class EventLoop implements Runnable {
    /** Bytes read per system call; one buffer per loop, never per connection. */
    static final int BUFFER_SIZE = 1024 * 1024;
    /** Reads per readiness event before serving the other connections. */
    private static final int READS_PER_EVENT = 8;

    private final Selector selector;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_SIZE);
    private final Queue<Connection> arriving = new ConcurrentLinkedQueue<>();
    /** Registered connections in access order: the head has been idle longest. */
    private final LinkedHashMap<Connection, SelectionKey> byActivity = new LinkedHashMap<>(64, 0.75f, true);
    /** Registered connections in the order they were accepted, when uploads have a duration limit. */
    private final LinkedHashSet<Connection> byAge = new LinkedHashSet<>();
    private final long idleNanos;
    private final long maxBytes;
    /** The duration limit of an upload, or 0 for none. */
    private final long maxDurationNanos;
    /** Released for every connection this loop finishes: the listener takes one per accept. */
    private final Semaphore slots;
    private final PrintStream log;
    private volatile boolean stopping;

    EventLoop(ServerConfig config, Semaphore slots, PrintStream log) {
        this.idleNanos = config.idleTimeout().toNanos();
        this.maxBytes = config.maxBytes();
        this.maxDurationNanos = config.maxDuration().toNanos();
        this.slots = slots;
        this.log = log;
        try {
            this.selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Hands a connection to this loop; callable from any thread. */
    void add(Connection connection) {
        arriving.add(connection);
        selector.wakeup();
    }

    /** Asks the loop to abort every connection it holds and end. */
    void stop() {
        stopping = true;
        selector.wakeup();
    }

    @Override
    public void run() {
        try {
            while (!stopping) {
                long waitMillis = millisUntilNextDeadline();
                if (waitMillis <= 0) {
                    selector.selectNow(this::onReady);
                } else {
                    selector.select(this::onReady, waitMillis);
                }
                registerArrivals();
                expireOverdue();
            }
        } catch (IOException | RuntimeException e) {
            log.println("ferry: event loop failed, aborting its uploads: " + e);
        } finally {
            abortAll();
        }
    }

    private long millisUntilNextDeadline() {
        if (byActivity.isEmpty()) {
            return Long.MAX_VALUE / 2;
        }
        long deadline = byActivity.firstEntry().getKey().lastActivityNanos() + idleNanos;
        if (!byAge.isEmpty()) {
            long ageDeadline = byAge.getFirst().acceptedNanos() + maxDurationNanos;
            deadline = ageDeadline - deadline < 0 ? ageDeadline : deadline;
        }
        long untilDeadline = deadline - System.nanoTime();
        // Round up: waking a little late is harmless, waking early only loops again.
        return untilDeadline <= 0 ? 0 : (untilDeadline + 999_999) / 1_000_000;
    }

    private void onReady(SelectionKey key) {
        Connection connection = (Connection) key.attachment();
        long now = System.nanoTime();
        Outcome outcome = connection.readAvailable(buffer, READS_PER_EVENT, maxBytes, now);
        if (outcome != null) {
            finish(connection, outcome);
        } else {
            byActivity.get(connection); // moves it to the tail: most recently active
        }
    }

    private void registerArrivals() {
        Connection connection;
        while ((connection = arriving.poll()) != null) {
            try {
                SelectionKey key = connection.channel().register(selector, SelectionKey.OP_READ, connection);
                byActivity.put(connection, key);
                if (maxDurationNanos > 0) {
                    byAge.add(connection);
                }
            } catch (ClosedChannelException e) {
                finish(connection, Outcome.RESET);
            }
        }
    }

    private void expireOverdue() {
        long now = System.nanoTime();
        var expired = new ArrayList<Connection>();
        for (Connection connection : byActivity.keySet()) {
            if (now - connection.lastActivityNanos() < idleNanos) {
                break;
            }
            expired.add(connection);
        }
        expired.forEach(connection -> finish(connection, Outcome.IDLE_TIMEOUT));
        expired.clear();
        for (Connection connection : byAge) {
            if (now - connection.acceptedNanos() < maxDurationNanos) {
                break;
            }
            expired.add(connection);
        }
        expired.forEach(connection -> finish(connection, Outcome.TOO_LONG));
    }

    private void finish(Connection connection, Outcome outcome) {
        SelectionKey key = byActivity.remove(connection);
        byAge.remove(connection);
        if (key != null) {
            key.cancel();
        }
        log.println("ferry: " + connection.finish(outcome, System.nanoTime()));
        slots.release();
    }

    private void abortAll() {
        new ArrayList<>(byActivity.keySet()).forEach(connection -> finish(connection, Outcome.SHUTDOWN));
        Connection connection;
        while ((connection = arriving.poll()) != null) {
            finish(connection, Outcome.SHUTDOWN);
        }
        try {
            selector.close();
        } catch (IOException e) {
            // Nothing is left registered with it.
        }
    }
}
