package ferry.server.report;

import ferry.server.report.ServerEvents.Refusal;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.Consumer;

/**
 * Where every outcome goes, each from one record: the log (text or JSON)
 * first, then whoever watches ({@link ServerEvents}: metrics, the upload
 * hook). Nothing here blocks: the log is a line on standard output, and
 * the watchers count or queue.
 *
 * <p>An upload's record is written by its worker once its sink has finished
 * and before its socket is closed, so by the time a sender sees its
 * connection end (the confirming close, or a reset) the file is final and
 * its log line is written.
 */
public final class Journal {
    private final Log log;
    private final List<ServerEvents> watchers;

    public Journal(Log log) {
        this(log, List.of());
    }

    public Journal(Log log, List<ServerEvents> watchers) {
        this.log = log;
        this.watchers = List.copyOf(watchers);
    }

    public Log log() {
        return log;
    }

    public void started(long number) {
        tell("the start of conn=" + number, watcher -> watcher.uploadStarted(number));
    }

    public void record(UploadRecord record) {
        try {
            log.event(record.end(), "upload", record.logLine(), record.fields());
        } catch (RuntimeException e) {
            // A record that cannot be formatted is a bug; it must not end the upload's worker.
            log.line("cannot log the record of conn=" + record.number() + ": " + e);
        }
        tell("the record of conn=" + record.number(), watcher -> watcher.uploadEnded(record));
    }

    /**
     * A connection refused before numbering; {@code logged} false when the
     * log has already said why for this stretch (free space).
     */
    public void refused(String peer, Refusal refusal, String reason, boolean logged) {
        if (logged) {
            var fields = new LinkedHashMap<String, Object>();
            fields.put("peer", peer);
            fields.put("by", refusal.label());
            fields.put("reason", reason);
            log.event(Instant.now(), "refused", "refused peer=" + peer + " by=" + refusal.label()
                    + " reason=\"" + reason + "\"", fields);
        }
        tell("a refusal", watcher -> watcher.refused(refusal));
    }

    public void backedOff() {
        tell("a back-off", ServerEvents::acceptBackedOff);
    }

    /** The server stops: each watcher finishes by the deadline (hooks still running are waited for, then ended). */
    public void close(long deadlineNanos) {
        tell("the stop", watcher -> watcher.close(deadlineNanos));
    }

    /** Tells every watcher; one that throws is logged, and the others are still told. */
    private void tell(String what, Consumer<ServerEvents> event) {
        for (ServerEvents watcher : watchers) {
            try {
                event.accept(watcher);
            } catch (RuntimeException e) {
                log.line("cannot report " + what + " to " + watcher.getClass().getSimpleName() + ": " + e);
            }
        }
    }
}
