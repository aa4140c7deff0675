package ferry.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;

/**
 * A receiver for one connection on 127.0.0.1, written with plain
 * {@code java.net} sockets, for the peer behaviours that no tool offers
 * (never reading, never closing, resetting). The test drives it step by step
 * in its own thread; {@link #close()} releases both sockets.
 */
final class RawReceiver implements AutoCloseable {
    private final ServerSocket listener;
    private Socket socket;

    private RawReceiver(ServerSocket listener) {
        this.listener = listener;
    }

    /** Listens on a port of its own choosing on 127.0.0.1 (no race for the port). */
    static RawReceiver open() throws IOException {
        var listener = new ServerSocket();
        listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        return new RawReceiver(listener);
    }

    int port() {
        return listener.getLocalPort();
    }

    /** Accepts the one connection, waiting at most {@code deadline}. */
    Socket accept(Duration deadline) throws IOException {
        listener.setSoTimeout(Math.toIntExact(deadline.toMillis()));
        socket = listener.accept();
        return socket;
    }

    /** True when a connection arrives within {@code wait}: for checks that nothing connected. */
    boolean connected(Duration wait) throws IOException {
        try {
            accept(wait);
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        }
    }

    /** What a receiver got, up to end of stream, and when the end came. */
    record Received(long bytes, String sha256, long eofAt) {
    }

    /** Reads the accepted connection to end of stream, failing if that takes longer than {@code deadline}. */
    Received readToEnd(Duration deadline) throws IOException {
        socket.setSoTimeout(Math.toIntExact(deadline.toMillis()));
        MessageDigest digest = sha256();
        InputStream in = socket.getInputStream();
        byte[] buffer = new byte[1 << 16];
        long total = 0;
        for (int n; (n = in.read(buffer)) >= 0; total += n) {
            digest.update(buffer, 0, n);
        }
        return new Received(total, HexFormat.of().formatHex(digest.digest()), System.nanoTime());
    }

    /**
     * Reads whatever is left on the connection after the client gave up:
     * true if the stream ends in a reset, false if it ends in a clean
     * end-of-file (which would make a partial upload look complete).
     */
    boolean endsInReset(Duration deadline) throws IOException {
        socket.setSoTimeout(Math.toIntExact(deadline.toMillis()));
        InputStream in = socket.getInputStream();
        byte[] buffer = new byte[1 << 16];
        try {
            while (in.read(buffer) >= 0) {
                // Discard: only how the stream ends matters.
            }
            return false;
        } catch (SocketTimeoutException e) {
            throw e;
        } catch (IOException e) {
            return true;
        }
    }

    /** Aborts the connection: SO_LINGER 0 makes close send a reset instead of a FIN. */
    void reset() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    @Override
    public void close() throws IOException {
        try {
            if (socket != null) {
                socket.close();
            }
        } finally {
            listener.close();
        }
    }

    /** SHA-256 of a file, streamed (for files far larger than memory should hold). */
    static String sha256(Path file) {
        MessageDigest digest = sha256();
        byte[] buffer = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) >= 0;) {
                digest.update(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
