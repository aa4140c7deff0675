package ferry.server;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Where one connection's bytes go. The connection that owns a sink calls
 * {@link #write} for each chunk as it arrives, then exactly one of
 * {@link #complete} or {@link #abort}.
 */
interface UploadSink {
    /** Writes all remaining bytes of {@code chunk}. */
    void write(ByteBuffer chunk) throws IOException;

    /** The upload ended normally: make its bytes final and release the sink. */
    void complete() throws IOException;

    /**
     * The upload failed: replace whatever was written with the marker
     * {@code ERROR} and release the sink, as far as the storage allows.
     */
    void abort() throws IOException;

    /** Where the bytes go, for log lines. */
    String describe();
}
