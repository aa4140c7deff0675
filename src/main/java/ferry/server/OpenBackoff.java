package ferry.server;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The pace at which uploads retry opening their sink while the process is
 * out of file descriptors: one retry at a time for the whole server, 10 ms
 * doubling to 1 s between them, and back to none after a success, so that
 * hundreds of waiting uploads cost no more CPU than one, and once
 * descriptors are free again the waiting uploads open one after another.
 */
final class OpenBackoff {
    static final long MIN_MILLIS = 10;
    static final long MAX_MILLIS = 1000;

    /** Fair, so the uploads that wait longest retry first. */
    private final ReentrantLock turn = new ReentrantLock(true);
    private final AtomicLong millis = new AtomicLong();

    /** Waits for this upload's turn, then for the current pause, before it retries. */
    void awaitRetry() throws InterruptedException {
        turn.lockInterruptibly();
        try {
            Thread.sleep(millis.updateAndGet(m -> Math.min(MAX_MILLIS, Math.max(MIN_MILLIS, m * 2))));
        } finally {
            turn.unlock();
        }
    }

    /** An open succeeded: the next waiting upload retries almost at once. */
    void succeeded() {
        if (millis.get() != 0) {
            millis.set(0);
        }
    }
}
