package ferry.server.numbering;

import java.util.concurrent.atomic.AtomicLong;

/** Connection numbers for one server process, from 1 (or after a given number). */
public final class LocalCounter implements ConnectionCounter {
    private final AtomicLong last;

    /** Numbers from 1, as S5 says. */
    public LocalCounter() {
        this(0);
    }

    /** Numbers from {@code after + 1}: where uploads of an earlier run stay in place (object storage). */
    public LocalCounter(long after) {
        last = new AtomicLong(after);
    }

    @Override
    public long next() {
        return last.incrementAndGet();
    }
}
