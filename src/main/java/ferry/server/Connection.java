package ferry.server;

import ferry.common.Arguments;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * One accepted connection and its upload. Owned by one {@link EventLoop}
 * thread from registration on; the loop calls {@link #readAvailable} when the
 * socket is readable and {@link #finish} exactly once.
 */
final class Connection {
    private final long number;
    private final SocketChannel channel;
    private final UploadSink sink;
    private final String peer;
    private final long acceptedNanos;
    private long lastActivityNanos;
    private long bytes;
    /** The write or close error behind a WRITE_FAILED outcome, for the log line. */
    private IOException failure;

    Connection(long number, SocketChannel channel, UploadSink sink, String peer, long acceptedNanos) {
        this.number = number;
        this.channel = channel;
        this.sink = sink;
        this.peer = peer;
        this.acceptedNanos = acceptedNanos;
        this.lastActivityNanos = acceptedNanos;
    }

    /** The peer's address for log lines, or "unknown" once the socket is gone. */
    static String peerOf(SocketChannel channel) {
        try {
            SocketAddress address = channel.getRemoteAddress();
            return address == null ? "unknown" : address.toString().replaceFirst("^[^/]*/", "");
        } catch (IOException e) {
            return "unknown";
        }
    }

    long number() {
        return number;
    }

    SocketChannel channel() {
        return channel;
    }

    long lastActivityNanos() {
        return lastActivityNanos;
    }

    long acceptedNanos() {
        return acceptedNanos;
    }

    /**
     * Reads what the socket has, at most {@code maxReads} buffers, and saves it.
     *
     * @param maxBytes the size limit of an upload, or 0 for none
     * @return the outcome if the upload ended, or {@code null} while it goes on
     */
    Outcome readAvailable(ByteBuffer buffer, int maxReads, long maxBytes, long nowNanos) {
        for (int i = 0; i < maxReads; i++) {
            buffer.clear();
            int n;
            try {
                n = channel.read(buffer);
            } catch (IOException e) {
                return Outcome.RESET;
            }
            if (n < 0) {
                return Outcome.COMPLETE;
            }
            if (n == 0) {
                return null;
            }
            lastActivityNanos = nowNanos;
            bytes += n;
            if (maxBytes > 0 && bytes > maxBytes) {
                return Outcome.TOO_LARGE;
            }
            buffer.flip();
            try {
                sink.write(buffer);
            } catch (IOException e) {
                failure = e;
                return Outcome.WRITE_FAILED;
            }
        }
        return null;
    }

    /**
     * Ends the upload: a complete one is made final and the socket closed
     * gracefully; any other is marked {@code ERROR} and the socket reset, so
     * the sender learns that the upload failed.
     *
     * @return the log line for this connection
     */
    String finish(Outcome outcome, long nowNanos) {
        Outcome result = outcome;
        if (!outcome.failed()) {
            try {
                sink.complete();
            } catch (IOException e) {
                failure = e;
                result = Outcome.WRITE_FAILED;
            }
        }
        String note = "";
        if (result.failed()) {
            try {
                sink.abort();
            } catch (IOException e) {
                note = " marker-failed=" + quoteReason(e);
            }
            try {
                channel.setOption(StandardSocketOptions.SO_LINGER, 0);
            } catch (IOException | RuntimeException e) {
                // Already closed or reset: nothing left to tell the peer.
            }
        }
        try {
            channel.close();
        } catch (IOException e) {
            // The socket is released either way.
        }
        String reason = failure == null ? "" : " reason=" + quoteReason(failure);
        return String.format("conn=%d peer=%s bytes=%d ms=%d outcome=%s file=%s%s%s",
                number, peer, bytes, (nowNanos - acceptedNanos) / 1_000_000, result.label(),
                sink.describe(), reason, note);
    }

    private static String quoteReason(IOException e) {
        return '"' + Arguments.describe(e).replace('"', '\'') + '"';
    }
}
