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
}
