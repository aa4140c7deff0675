package ferry.server.report;

/**
 * What a running server tells those who watch it beyond the log: metrics
 * and the upload hook. Every call is made on the thread where the event
 * happened (the accept thread, an upload's worker), so an implementation
 * must return at once: it may count, or queue work for a thread of its own,
 * never block. A call that throws is logged and changes nothing else.
 */
public interface ServerEvents {
    /** Connection {@code number} was accepted and numbered: an upload is in flight. */
    default void uploadStarted(long number) {
    }

    /** An upload ended, with its one record (also written to the log). */
    default void uploadEnded(UploadRecord record) {
    }

    /**
     * A connection was reset before it got a number: by the access rules, for want of free space, or because
     * its address held as many connections as {@code --max-per-peer} allows.
     */
    default void refused(Refusal refusal) {
    }

    /** The accept loop paused after a failure (out of descriptors, a failing counter). */
    default void acceptBackedOff() {
    }

    /**
     * The server stops: finish what is pending by {@code deadlineNanos}
     * ({@link System#nanoTime()}), then end it. Called once, after the last upload's record.
     */
    default void close(long deadlineNanos) {
    }

    /** Why a connection was refused. */
    enum Refusal {
        /** {@code --allow}/{@code --deny}. */
        RULE("rule"),
        /** {@code --min-free}. */
        FREE_SPACE("free-space"),
        /** {@code --max-per-peer}. */
        PER_PEER("per-peer");

        private final String label;

        Refusal(String label) {
            this.label = label;
        }

        String label() {
            return label;
        }
    }
}
