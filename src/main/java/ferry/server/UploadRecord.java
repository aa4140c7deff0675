package ferry.server;

import java.time.Duration;
import java.time.Instant;

/**
 * Everything known about one finished upload: the one record its log line
 * (and, later, metrics, a JSON log, checksums and hooks) is made from.
 *
 * @param number  the connection's number
 * @param peer    the sender's address and port
 * @param bytes   bytes received from the sender
 * @param start   when the connection was accepted
 * @param end     when the upload ended (its socket closed and its sink finished)
 * @param outcome how it ended
 * @param reason  why it failed, in plain words; null for a complete upload
 * @param savedAs where its bytes (or the ERROR marker) were saved
 * @param markerFailure why the ERROR marker could not be written, or null
 */
record UploadRecord(long number, String peer, long bytes, Instant start, Instant end, Outcome outcome,
                    String reason, String savedAs, String markerFailure) {

    Duration duration() {
        return Duration.between(start, end);
    }

    /** The record as the server's text log writes it, after the timestamp. */
    String logLine() {
        var line = new StringBuilder(160).append("conn=").append(number).append(" peer=").append(peer)
                .append(" bytes=").append(bytes).append(" ms=").append(duration().toMillis())
                .append(" outcome=").append(outcome.label()).append(" file=").append(savedAs);
        if (reason != null) {
            line.append(" reason=").append(quote(reason));
        }
        if (markerFailure != null) {
            line.append(" marker-failed=").append(quote(markerFailure));
        }
        return line.toString();
    }

    private static String quote(String text) {
        return '"' + text.replace('"', '\'').replace('\n', ' ') + '"';
    }
}
