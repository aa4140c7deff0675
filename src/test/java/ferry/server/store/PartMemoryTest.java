package ferry.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The budget of object-storage part buffers ({@link PartMemory}). */
class PartMemoryTest {
    private static final int MIB = PartMemory.CHUNK;

    /**
     * Nobody waits for memory (issue 18, item 7): a chunk is handed out while
     * the budget has one, and then none, at once, until chunks are given back.
     */
    @Test
    void chunksAreHandedOutWhileTheBudgetLastsThenNoneAtOnce() throws Exception {
        var memory = new PartMemory(8L * MIB, 4 * MIB);
        var held = new ArrayList<byte[]>();
        for (int c = 0; c < 8; c++) {
            byte[] chunk = memory.tryChunk();
            assertThat(chunk).as("chunk %d", c).hasSize(MIB);
            held.add(chunk);
        }
        assertThat(memory.available()).isZero();
        var asking = CompletableFuture.supplyAsync(memory::tryChunk);
        assertThat(asking.get(10, TimeUnit.SECONDS)).as("no chunk, at once").isNull();
        memory.release(held.subList(0, 2));
        assertThat(memory.available()).isEqualTo(2);
        assertThat(memory.tryChunk()).as("a chunk given back is used again").isSameAs(held.get(0));
    }

    @Test
    void aBudgetBelowTwoPartsIsRefused() {
        assertThatThrownBy(() -> new PartMemory(7L * MIB, 4 * MIB)).isInstanceOf(IllegalArgumentException.class);
    }
}
