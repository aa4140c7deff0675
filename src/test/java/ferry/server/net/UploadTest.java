package ferry.server.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.server.net.EventLoopTest.LoopFixture;
import ferry.server.report.Outcome;
import ferry.server.report.UploadRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One upload's life, from its first byte to its record: a real
 * {@link Upload} with its worker, held by a real event loop
 * ({@link LoopFixture}), its sink in memory.
 */
@Timeout(60)
class UploadTest {
    private static final Duration IDLE = Duration.ofSeconds(30);

    @Test
    void bytesReachTheSinkInOrderAndTheHalfCloseCompletesItWithTheirCount() throws Exception {
        // More than three of the pool's 1 MiB buffers, so several bursts and writes, and an odd tail.
        byte[] file = new byte[3 * BufferPool.CHUNK_SIZE + 12_345];
        new Random(17).nextBytes(file);
        try (var loop = new LoopFixture(IDLE, true)) {
            Socket sender = loop.connect();
            OutputStream out = sender.getOutputStream();
            for (int at = 0; at < file.length; at += 64 * 1024) {
                out.write(file, at, Math.min(64 * 1024, file.length - at));
            }
            sender.shutdownOutput();

            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(record.bytes()).isEqualTo(file.length);
            assertThat(record.reason()).isNull();
            assertThat(record.savedAs()).isEqualTo("memory:1");
            assertThat(record.sha256()).isEqualTo(HexFormat.of().formatHex(
                    MessageDigest.getInstance("SHA-256").digest(file)));
            assertThat(loop.sinks.of(1).ending()).isEqualTo("complete");
            assertThat(loop.sinks.of(1).content()).as("every byte, in order").isEqualTo(file);
            assertThat(sender.getInputStream().read()).as("confirmed by a clean close, not a reset").isEqualTo(-1);
            loop.awaitAllFinished();
        }
    }

    /**
     * A small read is taken as the socket drained, without a read that returns 0 to prove it:
     * <ol>
     *   <li>1,000 bytes: the first burst reads them and, being the upload's first read, reads once
     *       more (for a small file's end, which often comes with its bytes): one empty read;</li>
     *   <li>500 bytes more: the second burst reads them (a small read) and gives the upload back with
     *       no empty read;</li>
     *   <li>the sender's end is still read, at the next wake-up: complete, 1,500 bytes.</li>
     * </ol>
     */
    @Test
    void aSmallReadIsTakenAsTheSocketDrained() throws Exception {
        try (var loop = new LoopFixture(IDLE, false)) {
            Socket sender = loop.connect();
            sender.getOutputStream().write(new byte[1000]);
            loop.await("the first burst", () -> loop.uploads.get(1L).bursts == 1);
            assertThat(loop.uploads.get(1L).emptyReads).as("empty reads after the first burst").isEqualTo(1);

            sender.getOutputStream().write(new byte[500]);
            loop.await("the second burst", () -> loop.uploads.get(1L).bursts == 2);
            assertThat(loop.sinks.of(1).size()).isEqualTo(1500);
            assertThat(loop.uploads.get(1L).emptyReads).as("empty reads after the second burst").isEqualTo(1);

            sender.shutdownOutput();
            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(record.bytes()).isEqualTo(1500);
            assertThat(sender.getInputStream().read()).as("confirmed by a clean close").isEqualTo(-1);
            loop.awaitAllFinished();
        }
    }

    /**
     * Only a small read is taken as the socket drained: a bulk sender's reads (tens or hundreds of KiB on
     * loopback) are short of the 1 MiB buffer too, but the socket fills again while they are saved, and a
     * hand-off per read would cost more than the read that finds it empty.
     */
    @Test
    void onlyASmallShortReadCountsAsDrained() {
        assertThat(Upload.smallRead(1024, BufferPool.CHUNK_SIZE)).as("1 KiB of 1 MiB").isTrue();
        assertThat(Upload.smallRead(16 * 1024 - 1, BufferPool.CHUNK_SIZE)).as("just under 16 KiB").isTrue();
        assertThat(Upload.smallRead(16 * 1024, BufferPool.CHUNK_SIZE)).as("16 KiB").isFalse();
        assertThat(Upload.smallRead(200 * 1024, BufferPool.CHUNK_SIZE)).as("a bulk read of 200 KiB").isFalse();
        assertThat(Upload.smallRead(1000, 1000)).as("a full buffer").isFalse();
    }

    /** The peer's address for log lines: the address and port, whatever precedes the JDK's slash dropped. */
    @Test
    void thePeerIsTheAddressAndPortOfTheSender() throws Exception {
        try (var loop = new LoopFixture(IDLE, false)) {
            Socket sender = loop.connect();
            assertThat(loop.uploads.get(1L).peer).isEqualTo("127.0.0.1:" + sender.getLocalPort());
            sender.shutdownOutput();
            assertThat(loop.awaitRecord(1).peer()).isEqualTo("127.0.0.1:" + sender.getLocalPort());
        }
    }

    @Test
    void aConnectionClosedWithoutDataCompletesAnEmptyUpload() throws Exception {
        try (var loop = new LoopFixture(IDLE, false)) {
            Socket sender = loop.connect();
            sender.shutdownOutput();

            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(record.bytes()).isZero();
            assertThat(record.sha256()).isNull();
            assertThat(loop.sinks.of(1).ending()).isEqualTo("complete");
            assertThat(loop.sinks.of(1).size()).isZero();
            assertThat(sender.getInputStream().read()).isEqualTo(-1);
        }
    }

    @Test
    void aSinkWriteFailureEndsAsWriteFailedAndResetsTheSender() throws Exception {
        try (var loop = new LoopFixture(IDLE, false)) {
            loop.sinks.beforeWrite(1, chunk -> {
                throw new IOException("No space left on device");
            });
            Socket sender = loop.connect();
            sender.getOutputStream().write(new byte[1000]);

            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.WRITE_FAILED);
            assertThat(record.reason()).isEqualTo("No space left on device");
            assertThat(record.markerFailure()).isNull();
            assertThat(loop.sinks.of(1).ending()).as("the ERROR marker written").isEqualTo("aborted");
            assertThatThrownBy(() -> sender.getInputStream().read()).as("a reset, not a confirmation")
                    .isInstanceOf(SocketException.class);
            loop.awaitAllFinished();
        }
    }

    @Test
    void aResetFromTheSenderEndsAsResetAndAbortsTheSink() throws Exception {
        try (var loop = new LoopFixture(IDLE, false)) {
            Socket sender = loop.connect();
            sender.getOutputStream().write(new byte[1000]);
            sender.setSoLinger(true, 0);
            sender.close();

            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.RESET);
            assertThat(record.reason()).contains("reset");
            assertThat(loop.sinks.of(1).ending()).isEqualTo("aborted");
            loop.awaitAllFinished();
        }
    }

    @Test
    void aSinkThatCannotBeOpenedEndsAsWriteFailedWithoutAWrite() throws Exception {
        try (var loop = new LoopFixture(IDLE, false)) {
            loop.sinks.failOpen(1, new IOException("Permission denied"));
            Socket sender = loop.connect();
            sender.getOutputStream().write(new byte[10]);

            UploadRecord record = loop.awaitRecord(1);
            assertThat(record.outcome()).isEqualTo(Outcome.WRITE_FAILED);
            assertThat(record.reason()).isEqualTo("cannot create the file: Permission denied");
            assertThat(record.bytes()).isZero();
            assertThatThrownBy(() -> sender.getInputStream().read()).isInstanceOf(SocketException.class);
            loop.awaitAllFinished();
        }
    }
    /**
     * The buffer goes back to the pool once the last chunk is saved, not after the commit:
     * <ol>
     *   <li>a pool of one buffer; upload 1 sends its bytes and half-closes, and its sink's
     *       complete (the fsync, say) blocks;</li>
     *   <li>meanwhile upload 2 sends 2000 bytes and half-closes: it gets the one buffer, and is
     *       complete and confirmed while upload 1 still commits;</li>
     *   <li>upload 1's commit is let go: complete too.</li>
     * </ol>
     */
    @Test
    void theBufferIsBackInThePoolWhileTheCommitStillBlocks() throws Exception {
        try (var loop = new LoopFixture(IDLE, Duration.ZERO, false, 1)) {
            var committing = new CountDownLatch(1);
            var release = new CountDownLatch(1);
            loop.sinks.beforeComplete(1, () -> {
                committing.countDown();
                awaitQuietly(release);
            });
            Socket first = loop.connect();
            first.getOutputStream().write(new byte[5000]);
            first.shutdownOutput();
            assertThat(committing.await(EventLoopTest.DEADLINE.toMillis(), TimeUnit.MILLISECONDS))
                    .as("upload 1 in its commit").isTrue();

            Socket second = loop.connect();
            second.getOutputStream().write(new byte[2000]);
            second.shutdownOutput();
            UploadRecord record = loop.awaitRecord(2);
            assertThat(record.outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(second.getInputStream().read()).as("upload 2 confirmed").isEqualTo(-1);
            assertThat(loop.recordOf(1)).as("upload 1 still in its commit").isEmpty();

            release.countDown();
            assertThat(loop.awaitRecord(1).outcome()).isEqualTo(Outcome.COMPLETE);
            loop.awaitAllFinished();
        }
    }

    /**
     * Likewise the abort that writes the marker runs without the buffer:
     * <ol>
     *   <li>a pool of one buffer; upload 1's write fails, and its abort blocks;</li>
     *   <li>meanwhile upload 2 is saved, complete and confirmed;</li>
     *   <li>upload 1's abort is let go: write-failed.</li>
     * </ol>
     */
    @Test
    void theBufferIsBackInThePoolWhileTheAbortStillBlocks() throws Exception {
        try (var loop = new LoopFixture(IDLE, Duration.ZERO, false, 1)) {
            var aborting = new CountDownLatch(1);
            var release = new CountDownLatch(1);
            loop.sinks.beforeWrite(1, chunk -> {
                throw new IOException("Input/output error");
            });
            loop.sinks.beforeAbort(1, () -> {
                aborting.countDown();
                awaitQuietly(release);
            });
            Socket first = loop.connect();
            first.getOutputStream().write(new byte[5000]);
            assertThat(aborting.await(EventLoopTest.DEADLINE.toMillis(), TimeUnit.MILLISECONDS))
                    .as("upload 1 in its abort").isTrue();

            Socket second = loop.connect();
            second.getOutputStream().write(new byte[2000]);
            second.shutdownOutput();
            assertThat(loop.awaitRecord(2).outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(second.getInputStream().read()).as("upload 2 confirmed").isEqualTo(-1);

            release.countDown();
            assertThat(loop.awaitRecord(1).outcome()).isEqualTo(Outcome.WRITE_FAILED);
            loop.awaitAllFinished();
        }
    }

    /**
     * A record that cannot be written still frees the slot and closes the socket:
     * <ol>
     *   <li>building upload 1's record throws (once);</li>
     *   <li>upload 1 sends and half-closes: its sink completes, the failure is logged, its
     *       sender's connection is closed (not left open), and its slot is given back;</li>
     *   <li>upload 2 is then served as usual.</li>
     * </ol>
     */
    @Test
    void aRecordThatCannotBeWrittenStillFreesTheSlotAndTheSocket() throws Exception {
        try (var loop = new LoopFixture(IDLE, false)) {
            loop.sinks.failLocateOnce(1, new IllegalStateException("injected record failure"));
            Socket first = loop.connect();
            first.getOutputStream().write(new byte[100]);
            first.shutdownOutput();

            loop.awaitAllFinished();
            assertThat(first.getInputStream().read()).as("closed, not left open").isEqualTo(-1);
            assertThat(loop.sinks.of(1).ending()).isEqualTo("complete");
            assertThat(loop.log()).contains("cannot write the record of conn=1: "
                    + "java.lang.IllegalStateException: injected record failure");

            Socket second = loop.connect();
            second.getOutputStream().write(new byte[100]);
            second.shutdownOutput();
            assertThat(loop.awaitRecord(2).outcome()).isEqualTo(Outcome.COMPLETE);
            assertThat(second.getInputStream().read()).isEqualTo(-1);
            loop.awaitAllFinished();
        }
    }

    /** Waits for {@code latch}, as a slow store would, deaf to interrupts. */
    static void awaitQuietly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
