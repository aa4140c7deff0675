package ferry.server.net;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Out of file descriptors: the uploads waiting to create their file, and a
 * reserve of descriptors kept for them.
 *
 * <p>Each waiting upload retries on its own clock (10 ms doubling to 1 s);
 * while any waits, the accept thread leaves new connections in the kernel's
 * accept queue, where they hold no descriptor, instead of accepting sockets
 * that would take the descriptors the waiting uploads need.
 *
 * <p>That alone can livelock: in a burst the accept thread may turn every
 * last descriptor into a socket before any upload has opened its file; then
 * no upload holds a file, so none can end and free a descriptor, and every
 * one waits for ever. Hence the reserve: {@value #RESERVE} descriptors (of
 * {@code /dev/null}) taken at start and given up when the first upload has
 * to wait, so that waiting uploads always get files and end in time. Two:
 * one for a waiting upload's file, one to spare (an upload's ending needs no
 * descriptor of its own: with {@code --fsync} the directory is opened once, at
 * start). The accept thread takes the reserve back before it accepts again, and
 * it accepts only under this class's lock, so it never takes the descriptors
 * just given up for the waiting uploads. (Other parts of the process that
 * open descriptors, a metrics scrape or a hook, can still take them: the
 * reserve is for the uploads' own burst.)
 */
final class OpenBackoff implements AutoCloseable {
    static final long MIN_MILLIS = 10;
    static final long MAX_MILLIS = 1000;
    /** Descriptors kept for uploads waiting for their file. */
    static final int RESERVE = 2;
    private static final Path SPARE = Path.of("/dev/null");

    private final ReentrantLock lock = new ReentrantLock();
    /** Uploads waiting for a descriptor; guarded by {@link #lock} for writes, read without it. */
    private volatile int waiting;
    /** The reserve held now; guarded by {@link #lock}. */
    private final ArrayDeque<FileChannel> reserve = new ArrayDeque<>(RESERVE);
    /** False when the reserve could not be taken at start: then there is none to take back. */
    private final boolean reserving;
    private boolean closed;

    OpenBackoff() {
        lock.lock();
        try {
            reserving = refill();
        } finally {
            lock.unlock();
        }
    }

    /** True while some upload waits for a descriptor. */
    boolean shortage() {
        return waiting > 0;
    }

    /** An upload begins to wait for a descriptor: the reserve is given up to the uploads waiting. */
    void enter() {
        lock.lock();
        try {
            waiting++;
            release();
        } finally {
            lock.unlock();
        }
    }

    /** It stops waiting (it has its file, or it ended). */
    void leave() {
        lock.lock();
        try {
            waiting--;
        } finally {
            lock.unlock();
        }
    }

    /**
     * True when new connections may be accepted: no upload waits for a
     * descriptor and the reserve is whole again (taken back if it was given up).
     */
    boolean ready() {
        lock.lock();
        try {
            return waiting == 0 && (!reserving || refill());
        } finally {
            lock.unlock();
        }
    }

    /**
     * Accepts a pending connection from the non-blocking {@code server}, unless
     * some upload waits for a descriptor (which the new socket would take) or
     * the reserve cannot be made whole first (it was given up and taken back
     * since {@link #ready()}, say, while the accept thread waited for a slot);
     * null then, or when no connection is pending.
     */
    SocketChannel acceptUnlessShort(ServerSocketChannel server) throws IOException {
        lock.lock();
        try {
            return waiting > 0 || reserving && !refill() ? null : server.accept();
        } finally {
            lock.unlock();
        }
    }

    /** Gives the reserve back to the system for good (the server stops). */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            release();
        } finally {
            lock.unlock();
        }
    }

    /** Takes the reserve until it is whole; false if a descriptor could not be had. Under the lock. */
    private boolean refill() {
        while (!closed && reserve.size() < RESERVE) {
            try {
                reserve.add(FileChannel.open(SPARE));
            } catch (IOException e) {
                return false;
            }
        }
        return true;
    }

    /** Closes what the reserve holds. Under the lock. */
    private void release() {
        FileChannel spare;
        while ((spare = reserve.poll()) != null) {
            try {
                spare.close();
            } catch (IOException e) {
                // Closed either way: the descriptor is free.
            }
        }
    }

    /** The pause before the next retry of an upload whose last pause was {@code millis} (0 at first). */
    static long next(long millis) {
        return Math.min(MAX_MILLIS, Math.max(MIN_MILLIS, millis * 2));
    }
}
