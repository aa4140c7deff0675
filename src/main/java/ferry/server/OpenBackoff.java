package ferry.server;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Out of file descriptors: the uploads waiting to create their file. Each
 * retries on its own clock (10 ms doubling to 1 s); while any waits, the
 * accept thread leaves new connections in the kernel's accept queue, where
 * they hold no descriptor, instead of accepting sockets that would take the
 * descriptors the waiting uploads need. So the waiters stay few, and each
 * gets a descriptor as soon as an upload ends.
 */
final class OpenBackoff {
    static final long MIN_MILLIS = 10;
    static final long MAX_MILLIS = 1000;

    private final AtomicInteger waiting = new AtomicInteger();

    /** True while some upload waits for a descriptor. */
    boolean shortage() {
        return waiting.get() > 0;
    }

    /** An upload begins to wait for a descriptor. */
    void enter() {
        waiting.incrementAndGet();
    }

    /** It stops waiting (it has its file, or it ended). */
    void leave() {
        waiting.decrementAndGet();
    }

    /** The pause before the next retry of an upload whose last pause was {@code millis} (0 at first). */
    static long next(long millis) {
        return Math.min(MAX_MILLIS, Math.max(MIN_MILLIS, millis * 2));
    }
}
