package ferry.server.tls;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLSession;

/**
 * A TLS sender played by the test: the JDK's client {@link SSLEngine} over a
 * blocking loopback socket (every read with a timeout), so that the test
 * decides what bytes go out and when: half a record, a record broken on
 * purpose, a TCP FIN without {@code close_notify}. What the handshake wraps
 * last stays unwritten until the next {@link #send}, so that it reaches the
 * server in the same segment as what the test sends next.
 */
final class EnginePeer implements AutoCloseable {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private final SSLEngine engine;
    private final Socket socket;
    private final InputStream in;
    /** Bytes read, not yet unwrapped (write mode). */
    private ByteBuffer netIn;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    EnginePeer(SSLContext context, int port, String protocol, Duration readTimeout) throws IOException {
        socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout((int) readTimeout.toMillis());
        socket.setTcpNoDelay(true);
        in = socket.getInputStream();
        engine = context.createSSLEngine("localhost", port);
        engine.setUseClientMode(true);
        engine.setEnabledProtocols(new String[] {protocol});
        netIn = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
    }

    SSLSession session() {
        return engine.getSession();
    }

    /** Runs the handshake (or, once established, a TLS 1.3 KeyUpdate or a TLS 1.2 renegotiation) to its end. */
    void handshake() throws IOException {
        engine.beginHandshake();
        while (true) {
            switch (engine.getHandshakeStatus()) {
                case NEED_WRAP -> pending.writeBytes(wrap(EMPTY));
                case NEED_TASK -> runTasks();
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    flush();
                    unwrap(ByteBuffer.allocate(engine.getSession().getApplicationBufferSize()));
                }
                default -> {
                    return;
                }
            }
        }
    }

    /** The records that carry {@code data}. */
    byte[] records(byte[] data) throws IOException {
        return wrap(ByteBuffer.wrap(data));
    }

    /** The {@code close_notify} alert. */
    byte[] closeNotify() throws IOException {
        engine.closeOutbound();
        var out = new ByteArrayOutputStream();
        while (!engine.isOutboundDone()) {
            out.writeBytes(wrap(EMPTY));
        }
        return out.toByteArray();
    }

    /** Writes what the handshake left, then {@code raw}, in one write. */
    void send(byte[] raw) throws IOException {
        pending.writeBytes(raw);
        flush();
    }

    /** TCP FIN. */
    void shutdownOutput() throws IOException {
        flush();
        socket.shutdownOutput();
    }

    /** TCP reset. */
    void reset() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    /**
     * Reads and unwraps until the server's {@code close_notify}: true; false
     * if the connection ends without it. Application data is discarded.
     */
    boolean awaitCloseNotify() throws IOException {
        ByteBuffer app = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize());
        while (true) {
            try {
                if (unwrap(app).getStatus() == SSLEngineResult.Status.CLOSED) {
                    return true;
                }
            } catch (EOFException e) {
                return false;
            }
            app.clear();
            while (engine.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                runTasks();
            }
            if (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
                send(wrap(EMPTY)); // the answer to the server's KeyUpdate
            }
        }
    }

    /** The first bytes the server sends, raw (for an alert): at most {@code max}, empty at end of stream. */
    byte[] readRaw(int max) throws IOException {
        byte[] buffer = new byte[max];
        int n = in.read(buffer);
        return n < 0 ? new byte[0] : Arrays.copyOf(buffer, n);
    }

    private byte[] wrap(ByteBuffer data) throws IOException {
        var out = new ByteArrayOutputStream();
        ByteBuffer net = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        do {
            net.clear();
            SSLEngineResult result = engine.wrap(data, net);
            if (result.getStatus() != SSLEngineResult.Status.OK && result.getStatus() != SSLEngineResult.Status.CLOSED) {
                throw new IOException("wrap: " + result);
            }
            out.write(net.array(), 0, net.position());
            if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                break;
            }
        } while (data.hasRemaining());
        return out.toByteArray();
    }

    /** Unwraps one record, reading from the socket (with its timeout) until a whole one is there. */
    private SSLEngineResult unwrap(ByteBuffer app) throws IOException {
        while (true) {
            netIn.flip();
            SSLEngineResult result;
            try {
                result = engine.unwrap(netIn, app);
            } finally {
                netIn.compact();
            }
            if (result.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                throw new IOException("unwrap: " + result);
            }
            if (result.getStatus() != SSLEngineResult.Status.BUFFER_UNDERFLOW
                    && (result.bytesConsumed() > 0 || result.bytesProduced() > 0
                    || result.getStatus() == SSLEngineResult.Status.CLOSED)) {
                return result;
            }
            if (!netIn.hasRemaining()) {
                netIn = ByteBuffer.allocate(netIn.capacity() * 2).put(netIn.flip());
            }
            int n = in.read(netIn.array(), netIn.arrayOffset() + netIn.position(), netIn.remaining());
            if (n < 0) {
                throw new EOFException("the server ended the connection");
            }
            netIn.position(netIn.position() + n);
        }
    }

    private void flush() throws IOException {
        if (pending.size() > 0) {
            socket.getOutputStream().write(pending.toByteArray());
            socket.getOutputStream().flush();
            pending.reset();
        }
    }

    private void runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
