package ferry.server.store;

import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;

/**
 * The memory of the whole server's object-storage part buffers: at most
 * {@code budget} bytes in chunks of {@link #CHUNK} bytes, taken by uploads as
 * their bytes arrive and given back once the part that holds them is stored.
 * An upload that cannot have a chunk waits (it stops reading its socket, so
 * TCP slows its sender down, and no other).
 *
 * <p>A part must reach its full size before it can be sent (S3 refuses parts
 * below 5 MiB but the last), so an upload that holds part of a part and waits
 * for more could wait forever if every chunk were held that way. Hence two
 * rules, which keep the budget free of such a deadlock:
 * <ul>
 *   <li>the first chunk of every part is a <em>starter</em>: small uploads
 *       (most of them) take one chunk, not a part's worth, and so does an
 *       upload between two parts (a slow sender that has just filled a part
 *       holds one chunk while it dribbles, not a whole part: 40 such senders
 *       would otherwise hold 320 MiB, more than the default budget, and every
 *       other upload would wait for them); at most {@code chunks - partChunks}
 *       starters are held at once, so the chunks for one whole part are never
 *       all held by starters;</li>
 *   <li>an upload that needs a part's second chunk reserves the rest of that
 *       part in one step (it then never waits for memory while it holds a
 *       partial part).</li>
 * </ul>
 * Every holder of chunks that waits for memory holds none of a part it still
 * has to fill; those that hold chunks give them back when their part is
 * stored or their upload ends, so every waiter gets its turn (the semaphores
 * are fair: first come, first served).
 */
final class PartMemory {
    /** The unit of the budget: 1 MiB. */
    static final int CHUNK = 1 << 20;

    private final int partChunks;
    private final Semaphore permits;
    private final Semaphore starters;
    /** Chunks allocated and not in use; never more in all than the budget holds. */
    private final Queue<byte[]> free = new ConcurrentLinkedQueue<>();

    /**
     * @param budget   bytes of part buffers for the whole server
     * @param partSize bytes of one part; the budget must hold at least two parts
     */
    PartMemory(long budget, int partSize) {
        if (partSize % CHUNK != 0 || budget < 2L * partSize) {
            throw new IllegalArgumentException("the budget must hold two parts of whole MiB");
        }
        this.partChunks = partSize / CHUNK;
        int chunks = (int) Math.min(Integer.MAX_VALUE, budget / CHUNK);
        this.permits = new Semaphore(chunks, true);
        this.starters = new Semaphore(chunks - partChunks, true);
    }

    int partSize() {
        return partChunks * CHUNK;
    }

    /** Chunks not held by any upload (for tests and metrics). */
    int available() {
        return permits.availablePermits();
    }

    /** One upload's share: the chunks it may fill before it must ask for more. */
    final class Share {
        /** Chunks reserved for the part being filled, in use or not yet. */
        private int reserved;
        /** Chunks handed out of {@link #reserved}. */
        private int used;
        private boolean starter;

        /**
         * The next empty chunk of the part being filled; waits while the
         * budget has none to spare.
         */
        byte[] nextChunk() throws InterruptedException {
            if (used == reserved) {
                reserveMore();
            }
            used++;
            byte[] chunk = free.poll();
            return chunk != null ? chunk : new byte[CHUNK];
        }

        private void reserveMore() throws InterruptedException {
            if (reserved == 0) {
                starters.acquire();
                try {
                    permits.acquire();
                } catch (InterruptedException e) {
                    starters.release();
                    throw e;
                }
                starter = true;
                reserved = 1;
            } else {
                int more = partChunks - reserved;
                permits.acquire(more);
                starters.release();
                starter = false;
                reserved += more;
            }
        }

        /**
         * The part being filled is complete (or the last): its chunks leave
         * this share, to be {@link #release released} once stored; what was
         * reserved and not used goes back at once.
         */
        void partTaken() {
            permits.release(reserved - used);
            if (starter) {
                starters.release();
                starter = false;
            }
            reserved = 0;
            used = 0;
        }

        /**
         * The upload ends: the chunks of the part it was filling, {@code unsent}
         * (all it was handed since the last part was taken), and the rest of
         * its reservation go back.
         */
        void close(List<byte[]> unsent) {
            free.addAll(unsent);
            used = 0;
            partTaken();
        }
    }

    /** A new upload's share, holding nothing yet. */
    Share share() {
        return new Share();
    }

    /** Chunks of a stored (or abandoned) part go back to the budget. */
    void release(List<byte[]> taken) {
        free.addAll(taken);
        permits.release(taken.size());
    }
}
