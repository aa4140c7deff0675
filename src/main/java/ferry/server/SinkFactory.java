package ferry.server;

import java.io.IOException;

/**
 * Opens the sink of connection {@code number}. Called on that upload's own
 * worker thread, never on the accept thread or an event loop, so an open that
 * takes long (a remote store's round trip) holds up only its own upload.
 */
interface SinkFactory {
    /** Opens the sink; may block, and may throw to fail this upload alone. */
    UploadSink open(long number) throws IOException;

    /** Where connection {@code number}'s bytes go, for its log record, whether or not it could be opened. */
    String locate(long number);
}
