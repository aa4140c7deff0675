package ferry.server;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * The read buffers of one event loop: direct buffers of {@link #CHUNK_SIZE},
 * at most {@code limit} of them, allocated when first needed and reused after.
 * A buffer belongs to an upload only from the read that fills it until its
 * sink has written it, so an idle connection holds none. Used by its loop's
 * thread only (buffers come back through the loop's event queue).
 */
final class BufferPool {
    /** Bytes read per system call and written per sink call. */
    static final int CHUNK_SIZE = 1024 * 1024;

    private final int limit;
    private final ArrayDeque<ByteBuffer> free = new ArrayDeque<>();
    /** Written by the loop only; volatile for tests that read it from another thread. */
    private volatile int allocated;

    /** A pool of at most {@code limit} buffers (at least one). */
    BufferPool(int limit) {
        this.limit = Math.max(1, limit);
    }

    /** A cleared buffer, or null when all {@code limit} are in use. */
    ByteBuffer take() {
        ByteBuffer buffer = free.pollFirst();
        if (buffer == null && allocated < limit) {
            allocated++;
            buffer = ByteBuffer.allocateDirect(CHUNK_SIZE);
        }
        return buffer;
    }

    void give(ByteBuffer buffer) {
        buffer.clear();
        free.addFirst(buffer); // the most recently used one first: its pages are the warmest
    }

    /** True when {@link #take} would return a buffer. */
    boolean available() {
        return !free.isEmpty() || allocated < limit;
    }

    int allocated() {
        return allocated;
    }

    int limit() {
        return limit;
    }
}
