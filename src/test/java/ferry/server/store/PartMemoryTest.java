package ferry.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The budget of object-storage part buffers ({@link PartMemory}). */
class PartMemoryTest {
    private static final int MIB = PartMemory.CHUNK;

    @Test
    void aSmallUploadHoldsOneChunkAndALargerOneItsWholePart() throws Exception {
        var memory = new PartMemory(8L * MIB, 4 * MIB);
        var small = memory.share();
        var chunks = new ArrayList<byte[]>();
        chunks.add(small.nextChunk());
        assertThat(memory.available()).isEqualTo(7);
        chunks.add(small.nextChunk());
        assertThat(memory.available()).as("the rest of its part reserved at once").isEqualTo(4);
        chunks.add(small.nextChunk());
        chunks.add(small.nextChunk());
        assertThat(memory.available()).isEqualTo(4);
        small.partTaken();
        memory.release(chunks);
        assertThat(memory.available()).isEqualTo(8);
    }

    @Test
    void anUploadThatEndsGivesBackItsChunksAndWhatItReservedUnused() throws Exception {
        var memory = new PartMemory(8L * MIB, 4 * MIB);
        var share = memory.share();
        var unsent = new ArrayList<byte[]>();
        unsent.add(share.nextChunk());
        unsent.add(share.nextChunk());
        assertThat(memory.available()).isEqualTo(4);
        share.close(unsent);
        assertThat(memory.available()).isEqualTo(8);
        // A part taken with chunks unused: those go back at once, the used ones when stored.
        var other = memory.share();
        var part = List.of(other.nextChunk(), other.nextChunk());
        other.partTaken();
        assertThat(memory.available()).isEqualTo(6);
        memory.release(part);
        assertThat(memory.available()).isEqualTo(8);
    }

    /**
     * An upload between two parts holds one chunk, not a part's worth (issue
     * 18, item 7): a slow sender that has filled a part and dribbles on holds
     * one chunk, so the rest of the budget stays for others.
     */
    @Test
    void anUploadBetweenTwoPartsHoldsOneChunkNotAWholePart() throws Exception {
        var memory = new PartMemory(16L * MIB, 4 * MIB);
        var share = memory.share();
        var part = new ArrayList<byte[]>();
        for (int c = 0; c < 4; c++) {
            part.add(share.nextChunk());
        }
        share.partTaken();
        memory.release(part); // stored
        assertThat(memory.available()).isEqualTo(16);
        var next = share.nextChunk();
        assertThat(memory.available()).as("one chunk for the next part's first bytes").isEqualTo(15);
        share.nextChunk();
        assertThat(memory.available()).as("the rest of the part once it grows").isEqualTo(12);
        share.close(List.of(next));
        assertThat(memory.available()).isEqualTo(16);
    }

    @Test
    void aBudgetBelowTwoPartsIsRefused() {
        assertThatThrownBy(() -> new PartMemory(7L * MIB, 4 * MIB)).isInstanceOf(IllegalArgumentException.class);
    }

    /**
     * More uploads than the budget has chunks, all starting at once and each
     * needing two whole parts: were every chunk held by an upload's first
     * chunk, each would wait for the rest of its part forever. With at most
     * {@code chunks - partChunks} first chunks held, every upload gets through,
     * and the chunks in use never exceed the budget.
     */
    @Test
    void manyUploadsGrowingAtOnceNeverDeadlockNorExceedTheBudget() throws Exception {
        int chunks = 8;
        int partChunks = 4;
        var memory = new PartMemory((long) chunks * MIB, partChunks * MIB);
        int uploads = 24;
        var inUse = new AtomicInteger();
        var most = new AtomicInteger();
        var started = new CountDownLatch(uploads);
        var done = new CountDownLatch(uploads);
        var storer = Executors.newVirtualThreadPerTaskExecutor();
        var senders = Executors.newVirtualThreadPerTaskExecutor();
        try {
            for (int u = 0; u < uploads; u++) {
                senders.submit(() -> {
                    var share = memory.share();
                    started.countDown();
                    started.await();
                    for (int part = 0; part < 2; part++) {
                        var filled = new ArrayList<byte[]>();
                        for (int c = 0; c < partChunks; c++) {
                            filled.add(share.nextChunk());
                            most.accumulateAndGet(inUse.incrementAndGet(), Math::max);
                            Thread.sleep(1);
                        }
                        share.partTaken();
                        storer.submit(() -> {
                            Thread.sleep(5); // the store takes its time
                            inUse.addAndGet(-filled.size());
                            memory.release(filled);
                            return null;
                        });
                    }
                    share.close(List.of());
                    done.countDown();
                    return null;
                });
            }
            assertThat(done.await(30, TimeUnit.SECONDS)).as("every upload got its memory; %d still waiting",
                    done.getCount()).isTrue();
        } finally {
            senders.shutdownNow(); // a deadlocked one waits in an interruptible acquire
            storer.shutdown();
            storer.awaitTermination(10, TimeUnit.SECONDS);
        }
        assertThat(most.get()).isLessThanOrEqualTo(chunks);
        assertThat(memory.available()).isEqualTo(chunks);
    }
}
