package ferry.server.net;

import java.nio.ByteBuffer;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The read buffers of the whole server: direct buffers of
 * {@link #CHUNK_SIZE}, at most {@code limit} of them, allocated when first
 * needed and reused after. An upload holds one only while its worker is
 * reading and saving (a burst), so an idle connection holds none. When all
 * are in use, a worker waits for one (first come, first served) while its
 * socket is not read: TCP holds its sender back, and the wait is the
 * server's, so it does not count as the sender's idleness.
 */
final class BufferPool {
    /** Bytes read per system call and written per sink call. */
    static final int CHUNK_SIZE = 1024 * 1024;

    private final Semaphore permits;
    private final Queue<ByteBuffer> free = new ConcurrentLinkedQueue<>();
    private final AtomicInteger allocated = new AtomicInteger();

    /** A pool of at most {@code limit} buffers (at least one). */
    BufferPool(int limit) {
        this.permits = new Semaphore(Math.max(1, limit), true);
    }

    /** A cleared buffer, waiting for one if all are in use. */
    ByteBuffer take() throws InterruptedException {
        permits.acquire();
        ByteBuffer buffer = free.poll();
        if (buffer == null) {
            try {
                buffer = ByteBuffer.allocateDirect(CHUNK_SIZE);
            } catch (RuntimeException | OutOfMemoryError e) {
                permits.release(); // the JVM's direct memory is smaller than the budget: this upload fails, not the pool
                throw e;
            }
            allocated.incrementAndGet();
        }
        return buffer;
    }

    void give(ByteBuffer buffer) {
        buffer.clear();
        free.add(buffer);
        permits.release();
    }

    /** True when some upload waits for a buffer. */
    boolean wanted() {
        return permits.hasQueuedThreads();
    }

    /** Buffers allocated so far; never more than the limit. */
    int allocated() {
        return allocated.get();
    }
}
