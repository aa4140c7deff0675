package ferry.server;

import java.util.concurrent.atomic.AtomicLong;

/** Connection numbers for one server process, from 1. */
final class LocalCounter implements ConnectionCounter {
    private final AtomicLong last = new AtomicLong();

    @Override
    public long next() {
        return last.incrementAndGet();
    }
}
