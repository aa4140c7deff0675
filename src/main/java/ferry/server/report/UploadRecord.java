package ferry.server.report;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Everything known about one finished upload: the one record its log line
 * (text or JSON), metrics and the hook is made from.
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
 * @param sha256  the SHA-256 of the bytes received, in hex, for a complete upload with
 *                {@code --checksum sha256}; null otherwise
 * @param tls     the TLS protocol of the connection ({@code TLSv1.3}, {@code TLSv1.2}) once its handshake
 *                completed; null for plain TCP, or a connection that never completed one
 * @param tlsClient with mutual TLS, the subject of the sender's certificate (RFC 2253); null otherwise
 */
public record UploadRecord(long number, String peer, long bytes, Instant start, Instant end, Outcome outcome,
                    String reason, String savedAs, String markerFailure, String sha256, String tls,
                    String tlsClient) {

    /** An upload over plain TCP (or one whose TLS handshake did not complete). */
    public UploadRecord(long number, String peer, long bytes, Instant start, Instant end, Outcome outcome,
                        String reason, String savedAs, String markerFailure, String sha256) {
        this(number, peer, bytes, start, end, outcome, reason, savedAs, markerFailure, sha256, null, null);
    }

    Duration duration() {
        return Duration.between(start, end);
    }

    /** The record as the server's text log writes it, after the timestamp. */
    String logLine() {
        var line = new StringBuilder(160).append("conn=").append(number).append(" peer=").append(peer)
                .append(" bytes=").append(bytes).append(" ms=").append(duration().toMillis())
                .append(" outcome=").append(outcome.label()).append(" file=").append(savedAs);
        if (sha256 != null) {
            line.append(" sha256=").append(sha256);
        }
        if (tls != null) {
            line.append(" tls=").append(tls);
        }
        if (tlsClient != null) {
            line.append(" tls-client=").append(quote(tlsClient));
        }
        if (reason != null) {
            line.append(" reason=").append(quote(reason));
        }
        if (markerFailure != null) {
            line.append(" marker-failed=").append(quote(markerFailure));
        }
        return line.toString();
    }

    /** The record's fields for the JSON log, in order; absent ones are null. */
    Map<String, Object> fields() {
        var fields = new LinkedHashMap<String, Object>();
        fields.put("conn", number);
        fields.put("peer", peer);
        fields.put("bytes", bytes);
        fields.put("ms", duration().toMillis());
        fields.put("outcome", outcome.label());
        fields.put("file", savedAs);
        fields.put("sha256", sha256);
        fields.put("tls", tls);
        fields.put("tls_client", tlsClient);
        fields.put("reason", reason);
        fields.put("marker_failed", markerFailure);
        return fields;
    }

    private static String quote(String text) {
        return '"' + text.replace('"', '\'').replace('\n', ' ') + '"';
    }
}
