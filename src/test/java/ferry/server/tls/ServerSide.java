package ferry.server.tls;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * The server's side of one connection as {@code ferry.server.net.Upload}
 * drives it: a non-blocking channel, and for each burst of readiness a lent
 * area ({@link TlsConnection#begin}), reads until the socket is empty, and
 * {@link TlsConnection#end}. The received bytes are kept in memory (the
 * tests' files are small).
 */
final class ServerSide implements AutoCloseable {
    /** As the pool's buffer is split: the area for the socket's bytes, the rest for the file's. */
    private static final int AREA = 64 << 10;

    /** How the upload ended: -1 (close_notify), or the read's exception. */
    record Ending(byte[] data, boolean complete, IOException failure) {
    }

    private final ServerSocketChannel listener;
    private SocketChannel channel;
    private Selector selector;
    private TlsConnection connection;
    private final ByteBuffer area = ByteBuffer.allocate(AREA);
    private final ByteBuffer app = ByteBuffer.allocate(2 * AREA);
    private final ByteArrayOutputStream received = new ByteArrayOutputStream();

    ServerSide() throws IOException {
        listener = ServerSocketChannel.open();
        listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }

    int port() {
        return listener.socket().getLocalPort();
    }

    /** Accepts the peer's connection (blocking: the peer has connected before) and gives it {@code tls}. */
    TlsConnection accept(TlsConnection tls) throws IOException {
        channel = listener.accept();
        channel.configureBlocking(false);
        selector = Selector.open();
        channel.register(selector, SelectionKey.OP_READ);
        connection = tls;
        return tls;
    }

    SocketChannel channel() {
        return channel;
    }

    /** Waits up to {@code limit} for the socket to be readable; false if it was not. */
    boolean awaitReadable(Duration limit) throws IOException {
        boolean ready = selector.select(limit.toMillis()) > 0;
        selector.selectedKeys().clear();
        return ready;
    }

    /**
     * One burst: reads and decrypts until the socket has nothing more. Returns the ending if the upload ended
     * in it, else null.
     */
    Ending burst() {
        connection.begin(area);
        try {
            while (true) {
                app.clear();
                int n = connection.read(channel, app);
                if (n == 0) {
                    return null;
                }
                if (n < 0) {
                    return new Ending(received.toByteArray(), true, null);
                }
                received.write(app.array(), 0, app.position());
            }
        } catch (IOException e) {
            return new Ending(received.toByteArray(), false, e);
        } finally {
            connection.end();
        }
    }

    /** The bytes of the file received so far. */
    int receivedSize() {
        return received.size();
    }

    /** Bursts as the socket gets readable, until the upload ends; fails after {@code limit}. */
    Ending run(Duration limit) throws IOException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (true) {
            long millis = (deadline - System.nanoTime()) / 1_000_000;
            if (millis <= 0) {
                throw new AssertionError("the upload did not end within " + limit + " (" + received.size()
                        + " bytes received)");
            }
            if (awaitReadable(Duration.ofMillis(millis))) {
                Ending ending = burst();
                if (ending != null) {
                    return ending;
                }
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (selector != null) {
            selector.close();
        }
        if (channel != null) {
            channel.close();
        }
        listener.close();
    }
}
