package ferry.server.numbering;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;

class LocalCounterTest {
    @Test
    void countsFromOneInOrder() {
        var counter = new LocalCounter();
        assertThat(List.of(counter.next(), counter.next(), counter.next())).containsExactly(1L, 2L, 3L);
    }

    @Test
    void neverHandsOutANumberTwiceUnderContention() throws InterruptedException {
        var counter = new LocalCounter();
        var seen = new ConcurrentLinkedQueue<Long>();
        var threads = new ArrayList<Thread>();
        for (int t = 0; t < 8; t++) {
            threads.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 10_000; i++) {
                    seen.add(counter.next());
                }
            }));
        }
        for (Thread thread : threads) {
            thread.join();
        }
        assertThat(seen).hasSize(80_000).doesNotHaveDuplicates().allMatch(n -> n >= 1 && n <= 80_000);
    }
}
