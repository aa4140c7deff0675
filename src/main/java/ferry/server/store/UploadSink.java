package ferry.server.store;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Where one upload's bytes go. Every call is made from the upload's own
 * worker thread (a virtual thread, never an event loop), one at a time and in
 * order: {@link #write} for each chunk as it arrives, then exactly one of
 * {@link #complete} or {@link #abort}.
 *
 * <p>A call may block for as long as the storage needs (a slow disk, a
 * remote store): while it does, the server stops reading this upload's socket
 * only, so TCP flow control slows this sender down and no other, and the time
 * does not count as the sender's idleness. When the server stops, a call in
 * flight is interrupted; a sink should give up promptly then.
 *
 * <p>A sink may throw {@link IOException} or any {@link RuntimeException}:
 * either ends this upload as {@code ERROR} and nothing else.
 */
public interface UploadSink {
    /** Writes all remaining bytes of {@code chunk}; the buffer is the server's again once this returns. */
    void write(ByteBuffer chunk) throws IOException;

    /**
     * The sender half-closed after its last byte: make the upload final. Only
     * once this returns does the server close the connection, the sender's
     * confirmation.
     */
    void complete() throws IOException;

    /**
     * The upload failed: replace whatever was written with the marker
     * {@code ERROR} and release the sink, as far as the storage allows.
     */
    void abort() throws IOException;
}
