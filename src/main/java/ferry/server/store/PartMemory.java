package ferry.server.store;

import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;

/**
 * The memory of the whole server's object-storage part buffers: at most
 * {@code budget} bytes in chunks of {@link #CHUNK} bytes, taken by uploads as
 * their bytes arrive and given back once the part that holds them is stored,
 * and the {@link Spool} on local disk that parts go to when the budget has no
 * chunk to spare.
 *
 * <p>Nobody waits for memory: {@link #tryChunk} hands out a chunk or none at
 * once, and an upload that gets none moves the part it is filling to a spool
 * file (its chunks written out and given back) and writes the rest of that
 * part there. Slow senders holding the whole budget therefore slow nobody
 * else down but by the disk (issue 18, item 7: twenty senders that each stop
 * 1 MiB into a part used to hold the whole budget while every other upload,
 * even one of 10 bytes, waited for it forever).
 *
 * <p>Hence no reservation either. A part must reach its full size before it
 * can be stored (S3 refuses parts below 5 MiB but the last), so when uploads
 * waited for chunks, one that held part of a part and waited for the rest
 * could wait forever if every chunk were held that way: the first chunk of a
 * part was rationed and the rest of the part reserved in one step. Without
 * waiting there is no such deadlock, and a chunk is taken only when bytes
 * arrive to fill it: memory in use is the bytes in memory, rounded up to
 * whole chunks per part.
 */
final class PartMemory {
    /** The unit of the budget: 1 MiB. */
    static final int CHUNK = 1 << 20;

    private final int partChunks;
    private final Semaphore permits;
    private final Spool spool;
    /**
     * Turns to store a part, for the whole server: as many parts as the budget
     * holds (at least two). Memory bounded the parts the store saw at once until
     * parts could go to the spool; this keeps that bound (20 parts of 8 MiB with
     * the defaults), so that spooled parts do not pile onto a busy store (with
     * up to 64 parts sent at once, a test's s3proxy answered 500 to 4 of them
     * while another test loaded the machine). Only a part
     * being stored holds a turn, for as long as the store takes: a slow sender
     * holds none.
     */
    private final Semaphore storing;
    /** Chunks allocated and not in use; never more in all than the budget holds. */
    private final Queue<byte[]> free = new ConcurrentLinkedQueue<>();

    /** A budget that spools under {@code java.io.tmpdir}. */
    PartMemory(long budget, int partSize) {
        this(budget, partSize, Spool.ofTmpdir());
    }

    /**
     * @param budget   bytes of part buffers for the whole server
     * @param partSize bytes of one part; the budget must hold at least two parts
     *                 (one being filled while another is stored)
     * @param spool    where parts go when the budget has no chunk to spare
     */
    PartMemory(long budget, int partSize, Spool spool) {
        if (partSize % CHUNK != 0 || budget < 2L * partSize) {
            throw new IllegalArgumentException("the budget must hold two parts of whole MiB");
        }
        this.partChunks = partSize / CHUNK;
        this.permits = new Semaphore((int) Math.min(Integer.MAX_VALUE, budget / CHUNK));
        this.storing = new Semaphore((int) Math.min(Integer.MAX_VALUE, budget / partSize), true);
        this.spool = spool;
    }

    int partSize() {
        return partChunks * CHUNK;
    }

    Spool spool() {
        return spool;
    }

    /** Chunks not held by any upload (for tests and metrics). */
    int available() {
        return permits.availablePermits();
    }

    /** An empty chunk, or null at once when the budget has none to spare (never waits). */
    byte[] tryChunk() {
        if (!permits.tryAcquire()) {
            return null;
        }
        byte[] chunk = free.poll();
        return chunk != null ? chunk : new byte[CHUNK];
    }

    /** Waits for a turn to store a part (first come, first served): the store's pace, not memory. */
    void awaitStoreTurn() throws java.io.InterruptedIOException {
        try {
            storing.acquire();
        } catch (InterruptedException e) {
            throw new java.io.InterruptedIOException("interrupted while waiting for a turn to store a part");
        }
    }

    /** A part's store request has ended, stored or not. */
    void endStoreTurn() {
        storing.release();
    }

    /** Turns to store a part that are free now (for tests). */
    int storeTurns() {
        return storing.availablePermits();
    }

    /** Chunks of a stored (or abandoned, or spooled) part go back to the budget. */
    void release(List<byte[]> taken) {
        free.addAll(taken);
        permits.release(taken.size());
    }
}
