package ferry.server.numbering;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import java.util.HashSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The block logic of the shared counter, against a fake allocator standing for the database. */
class BlockCounterTest {
    /** Blocks from a shared "database" number; can be switched off; counts its calls. */
    static final class FakeAllocator implements BlockCounter.Allocator {
        final AtomicLong database;
        final AtomicBoolean down = new AtomicBoolean();
        final AtomicInteger calls = new AtomicInteger();
        final AtomicBoolean closed = new AtomicBoolean();

        FakeAllocator(AtomicLong database) {
            this.database = database;
        }

        @Override
        public long allocate(int size) throws IOException {
            calls.incrementAndGet();
            if (down.get()) {
                throw new IOException("database down");
            }
            return database.getAndAdd(size);
        }

        @Override
        public void close() {
            closed.set(true);
        }
    }

    @Test
    void twoCountersSharingAnAllocatorNeverHandOutANumberTwice() throws Exception {
        var database = new AtomicLong(1);
        var a = new FakeAllocator(database);
        var b = new FakeAllocator(database);
        var seen = new HashSet<Long>();
        try (var one = new BlockCounter(a, 10, "fake", null); var two = new BlockCounter(b, 10, "fake", null)) {
            for (int i = 0; i < 1000; i++) {
                assertThat(seen.add(one.next())).isTrue();
                assertThat(seen.add(two.next())).isTrue();
            }
        }
        assertThat(seen).hasSize(2000).allSatisfy(n -> assertThat(n).isPositive());
        // One allocation per block, not one per number (plus the spare fetched ahead).
        assertThat(a.calls.get()).isBetween(100, 102);
        assertThat(a.closed).isTrue();
    }

    @Test
    void numbersOfOneCounterRiseAndTheNextBlockIsFetchedBeforeTheCurrentRunsOut() throws Exception {
        var allocator = new FakeAllocator(new AtomicLong(1));
        try (var counter = new BlockCounter(allocator, 10, "fake", null)) {
            long last = 0;
            for (int i = 0; i < 5; i++) {
                long n = counter.next();
                assertThat(n).isGreaterThan(last);
                last = n;
            }
            // Half of the block is used: the spare is fetched without anyone asking for a number.
            assertThat(awaitTrue(() -> allocator.calls.get() == 2)).isTrue();
            allocator.down.set(true);
            // The rest of the block in hand and the whole spare are there without the allocator.
            for (int i = 0; i < 15; i++) {
                assertThat(counter.next()).isEqualTo(last + 1);
                last++;
            }
        }
    }

    @Test
    void withNothingInHandAFailingAllocatorFailsNextUntilItWorksAgain() throws Exception {
        var allocator = new FakeAllocator(new AtomicLong(1));
        allocator.down.set(true);
        try (var counter = new BlockCounter(allocator, 10, "fake", null)) {
            long start = System.nanoTime();
            assertThatThrownBy(counter::next).isInstanceOf(IOException.class).hasMessageContaining("database down");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
            assertThatThrownBy(counter::next).isInstanceOf(IOException.class);
            allocator.down.set(false);
            assertThat(awaitTrue(() -> {
                try {
                    return counter.next() == 1;
                } catch (IOException e) {
                    return false;
                }
            })).isTrue();
            assertThat(counter.next()).isEqualTo(2);
        }
    }

    private static boolean awaitTrue(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(10);
        }
        return false;
    }
}
