package ferry.server.store;

import java.io.IOException;

/**
 * Opens the sink of connection {@code number}. Called on that upload's own
 * worker thread, never on the accept thread or an event loop, so an open that
 * takes long (a remote store's round trip) holds up only its own upload.
 */
public interface SinkFactory extends AutoCloseable {
    /** Opens the sink; may block, and may throw to fail this upload alone. */
    UploadSink open(long number) throws IOException;

    /** Where connection {@code number}'s bytes go, for its log record, whether or not it could be opened. */
    String locate(long number);

    /**
     * Writes connection {@code number}'s {@code ERROR} marker by its name,
     * without its sink, whose call may still be in flight (a stop whose
     * grace ran out). A storage that cannot throws, saying why.
     */
    default void markError(long number) throws IOException {
        throw new IOException("this storage cannot mark an upload without its sink");
    }

    /**
     * The highest N of the uploads an earlier run left where this factory
     * saves, which it must not overwrite, or 0: the local counter numbers on
     * from there. A directory's are moved aside at start, so 0 for it.
     */
    default long numberedBefore() {
        return 0;
    }

    /** A line for the log at start about what this factory found and did (left-overs it cleaned up), or null. */
    default String startNote() {
        return null;
    }

    /** Releases what the storage holds (a client's connections); nothing by default. */
    @Override
    default void close() {
    }
}
