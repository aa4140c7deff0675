package ferry.server.numbering;

import ferry.server.report.Log;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Connection numbers taken from a shared allocator in blocks: the accept
 * thread takes the next number of the block in hand, and a thread of the
 * counter's own asks the allocator for the next block once half of the
 * current one is used, so the accept thread normally never waits for the
 * allocator (a database). Numbers of a block not used before the process ends
 * are never handed out: gaps, the price of one round trip per block.
 *
 * <p>When no number is in hand, {@link #next()} waits for the refill, at most
 * {@link #MAX_WAIT_MILLIS}, and throws {@link IOException} naming the
 * allocator's last failure when none arrives: the accept thread then logs,
 * backs off and asks again, the accepted connection waiting meanwhile.
 */
final class BlockCounter implements ConnectionCounter {
    /** Gives out blocks of numbers that no one else ever gets. */
    interface Allocator {
        /**
         * Reserves {@code size} numbers, durably, and returns the first: the
         * block is {@code first .. first + size - 1}.
         */
        long allocate(int size) throws Exception;

        /** Ends its connection, if any. */
        void close();
    }

    /** How long {@link #next()} waits for a block before failing, when none is in hand. */
    static final long MAX_WAIT_MILLIS = 2_000;
    /** The pause after a failed allocation grows from this ... */
    static final long MIN_RETRY_MILLIS = 50;
    /** ... to this. */
    static final long MAX_RETRY_MILLIS = 1_000;

    private final Allocator allocator;
    private final int blockSize;
    private final String name;
    private final Log log;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Thread refiller;
    /** The next number to hand out, and the end (exclusive) of the block in hand. */
    private long next;
    private long end;
    /** The block fetched ahead (its first number), or 0 for none. */
    private long spare;
    /** The allocator's last failure, cleared by a success; how many failures so far. */
    private Exception failure;
    private long failures;
    private boolean closed;

    /**
     * A counter whose thread starts fetching the first block at once.
     *
     * @param name what the log calls the allocator (with no password in it)
     * @param log  where blocks and failures are logged, or null
     */
    BlockCounter(Allocator allocator, int blockSize, String name, Log log) {
        if (blockSize < 1) {
            throw new IllegalArgumentException("block size " + blockSize);
        }
        this.allocator = allocator;
        this.blockSize = blockSize;
        this.name = name;
        this.log = log;
        this.refiller = Thread.ofPlatform().name("ferry-counter").daemon().start(this::refill);
    }

    @Override
    public long next() throws IOException {
        lock.lock();
        try {
            if (next >= end && spare != 0) {
                take();
            }
            if (next < end) {
                long number = next++;
                if (needsBlock()) {
                    changed.signalAll();
                }
                return number;
            }
            // Nothing in hand: wait for the refill (already asked for, as the block in hand ran low).
            long seen = failures;
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MAX_WAIT_MILLIS);
            while (spare == 0 && failures == seen && !closed) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                try {
                    changed.awaitNanos(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("stopped while waiting for connection numbers");
                }
            }
            if (spare != 0) {
                take();
                long number = next++;
                changed.signalAll();
                return number;
            }
            if (closed) {
                throw new IOException("the counter is closed");
            }
            throw new IOException(failure != null ? "no connection numbers from " + name + ": " + Log.describe(failure)
                    : "no connection numbers from " + name + " within " + MAX_WAIT_MILLIS + " ms");
        } finally {
            lock.unlock();
        }
    }

    /**
     * Ends the refilling thread and, through it, the allocator's connection,
     * waiting at most a second; the numbers left are never used (gaps).
     */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        refiller.interrupt();
        try {
            // Briefly: a refill stuck on an unreachable database (up to its time limits) must not hold up a stop;
            // the thread is a daemon, and its connection ends with the process.
            refiller.join(1_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Makes the spare block the one in hand. Holding the lock. */
    private void take() {
        next = spare;
        end = spare + blockSize;
        spare = 0;
    }

    /** True when no block is fetched ahead and at most half of the one in hand is left. Holding the lock. */
    private boolean needsBlock() {
        return spare == 0 && end - next <= blockSize / 2;
    }

    /** The refilling thread: fetches a block whenever one is needed, retrying failures with a growing pause. */
    private void refill() {
        long pause = 0;
        boolean failing = false;
        try {
            while (true) {
                lock.lock();
                try {
                    while (!closed && !needsBlock()) {
                        changed.await();
                    }
                    if (closed) {
                        return;
                    }
                } finally {
                    lock.unlock();
                }
                long first;
                try {
                    first = allocator.allocate(blockSize);
                    if (first < 1) {
                        throw new IOException("the allocator returned " + first);
                    }
                } catch (Exception e) {
                    if (Thread.currentThread().isInterrupted() && closedNow()) {
                        return;
                    }
                    lock.lock();
                    try {
                        failure = e;
                        failures++;
                        changed.signalAll();
                    } finally {
                        lock.unlock();
                    }
                    if (!failing && log != null) {
                        log.line("counter: cannot allocate connection numbers from " + name + " ("
                                + Log.describe(e) + "); retrying");
                    }
                    failing = true;
                    pause = pause == 0 ? MIN_RETRY_MILLIS : Math.min(MAX_RETRY_MILLIS, pause * 2);
                    lock.lock();
                    try {
                        long left = TimeUnit.MILLISECONDS.toNanos(pause);
                        while (!closed && left > 0) {
                            left = changed.awaitNanos(left);
                        }
                    } finally {
                        lock.unlock();
                    }
                    continue;
                }
                pause = 0;
                if (log != null) {
                    log.line("counter: " + (failing ? "allocating again; " : "") + "numbers " + first + "-"
                            + (first + blockSize - 1) + " from " + name);
                }
                failing = false;
                lock.lock();
                try {
                    spare = first;
                    failure = null;
                    changed.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        } catch (InterruptedException e) {
            // Closing.
        } finally {
            allocator.close();
        }
    }

    private boolean closedNow() {
        lock.lock();
        try {
            return closed;
        } finally {
            lock.unlock();
        }
    }
}
