package ferry.server.report;

/** How an upload ended, as written in its log line. */
public enum Outcome {
    /** The peer half-closed and every byte is saved. */
    COMPLETE("complete", false),
    /** No byte arrived within the idle timeout. */
    IDLE_TIMEOUT("idle-timeout", true),
    /** The peer reset the connection or the network failed. */
    RESET("reset", true),
    /** Over TLS: the connection ended without the sender's {@code close_notify}, so the file may be cut short. */
    TRUNCATED("truncated", true),
    /** Over TLS: the handshake or a record failed (a plain-TCP peer, a refused client certificate). */
    TLS_FAILED("tls-failed", true),
    /** Saving failed: disk full, directory gone, I/O error. */
    WRITE_FAILED("write-failed", true),
    /** The upload passed the size limit ({@code FERRY_MAX_BYTES}). */
    TOO_LARGE("too-large", true),
    /** The upload passed the duration limit ({@code FERRY_MAX_DURATION_MS}). */
    TOO_LONG("too-long", true),
    /** The server was asked to stop while the upload was in flight. */
    SHUTDOWN("shutdown", true),
    /** A fault in ferry itself while serving this upload (a bug); the server goes on with the others. */
    INTERNAL_ERROR("internal-error", true);

    private final String label;
    private final boolean failed;

    Outcome(String label, boolean failed) {
        this.label = label;
        this.failed = failed;
    }

    String label() {
        return label;
    }

    /** True when the upload's file must read {@code ERROR}. */
    boolean failed() {
        return failed;
    }
}
