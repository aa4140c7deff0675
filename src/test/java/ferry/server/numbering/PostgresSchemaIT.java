package ferry.server.numbering;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.it.TestPostgres;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The shared counter's schema, created on first use by many receivers at the
 * same moment against a real, fresh PostgreSQL cluster: each gets its first
 * block without an error (no race on CREATE TABLE), and the blocks do not overlap.
 */
class PostgresSchemaIT {
    private static final int RECEIVERS = 8;

    @Test
    void receiversStartingTogetherCreateTheSchemaOnceAndGetDisjointBlocks() throws Exception {
        try (var postgres = TestPostgres.start()) {
            var options = CounterOptions.parse("--counter", postgres.url(null));
            var barrier = new CyclicBarrier(RECEIVERS);
            var pool = Executors.newFixedThreadPool(RECEIVERS);
            var allocators = new ArrayList<PostgresCounter>();
            try {
                var firsts = new ArrayList<Future<Long>>();
                for (int i = 0; i < RECEIVERS; i++) {
                    var allocator = PostgresCounter.allocator(options);
                    allocators.add(allocator);
                    firsts.add(pool.submit(() -> {
                        barrier.await(30, TimeUnit.SECONDS);
                        return allocator.allocate(PostgresCounter.BLOCK_SIZE);
                    }));
                }
                var numbers = new HashSet<Long>();
                for (var first : firsts) {
                    long start = first.get(60, TimeUnit.SECONDS);
                    for (long n = start; n < start + PostgresCounter.BLOCK_SIZE; n++) {
                        assertThat(numbers.add(n)).as("number %d in two blocks", n).isTrue();
                    }
                }
                assertThat(numbers).hasSize(RECEIVERS * PostgresCounter.BLOCK_SIZE);
                assertThat(postgres.query("SELECT count(*) || ' ' || max(next) FROM ferry_counter"))
                        .isEqualTo("1 " + (RECEIVERS * PostgresCounter.BLOCK_SIZE + 1));
            } finally {
                pool.shutdownNow();
                allocators.forEach(PostgresCounter::close);
            }
        }
    }
}
