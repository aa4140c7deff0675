package ferry.server;

/**
 * Where the record of every finished upload goes: today the text log, one
 * line each; metrics, a JSON log and hooks are fed from the same records.
 *
 * <p>A record is written by the upload's worker once its sink has finished
 * and before its socket is closed, so by the time a sender sees its
 * connection end (the confirming close, or a reset) the file is final and
 * its log line is written.
 */
final class Journal {
    private final Log log;

    Journal(Log log) {
        this.log = log;
    }

    void record(UploadRecord record) {
        try {
            log.line(record.end(), record.logLine());
        } catch (RuntimeException e) {
            // A record that cannot be formatted is a bug; it must not end the upload's worker.
            log.line("cannot log the record of conn=" + record.number() + ": " + e);
        }
    }
}
