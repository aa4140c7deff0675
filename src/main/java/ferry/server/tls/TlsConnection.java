package ferry.server.tls;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.security.Principal;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * One connection's TLS on the server: an {@link SSLEngine} between the
 * socket and the upload's sink, driven by the upload's worker alone.
 *
 * <p>Memory: it has no buffer of its own while the connection is idle. A
 * burst lends it a part of the pool's buffer for the bytes read from the
 * socket ({@link #begin}); when the burst ends ({@link #end}) only a record
 * cut in two by the network stays, copied out: at most one TLS record (about
 * 16 KiB), usually nothing. The handshake's few messages are written through
 * small buffers made for them.
 *
 * <p>Ends: {@link #read} returns -1 once the sender's {@code close_notify}
 * arrived after its last byte, the only complete end. A TCP end without it
 * throws {@link Truncated}; a TLS failure (a plain-TCP peer, a refused
 * certificate, a broken record) throws the engine's {@link SSLException}.
 */
public final class TlsConnection {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    /** The connection ended (TCP FIN) without the sender's {@code close_notify}. */
    public static final class Truncated extends IOException {
        Truncated(String message) {
            super(message);
        }
    }

    private final SSLEngine engine;
    /** The socket's bytes not yet unwrapped, during a burst: a part of the pool's buffer, in read mode. */
    private ByteBuffer net;
    /** Between bursts: a record cut in two by the network, or null. */
    private byte[] carried;
    private boolean closeNotifyReceived;
    private boolean handshakeDone;

    TlsConnection(SSLEngine engine) {
        this.engine = engine;
    }

    /** A burst begins: {@code area} (at least 64 KiB) holds the socket's bytes until {@link #end}. */
    public void begin(ByteBuffer area) {
        net = area;
        net.clear();
        if (carried != null) {
            net.put(carried);
            carried = null;
        }
        net.flip();
    }

    /** The burst ends: what is left of a record is kept, the lent area given back. */
    public void end() {
        if (net != null && net.hasRemaining() && !closeNotifyReceived) {
            carried = new byte[net.remaining()];
            net.get(carried);
        }
        net = null;
    }

    /** True if {@code e}, from {@link #read}, says the connection ended without the sender's close_notify. */
    public boolean truncated(IOException e) {
        return e instanceof Truncated;
    }

    /**
     * The reason to record for a TLS failure of {@link #read} (a truncated stream, a failed handshake or
     * record), or null when {@code e} is a socket's own error (a reset).
     */
    public String failure(IOException e) {
        if (e instanceof Truncated) {
            return e.getMessage();
        }
        if (e instanceof SSLException) {
            return "TLS " + (handshakeDone ? "" : "handshake ") + "failed: " + e.getMessage();
        }
        return null;
    }

    /** True once the handshake has completed. */
    public boolean established() {
        return handshakeDone;
    }

    /** The protocol agreed, {@code TLSv1.3} or {@code TLSv1.2}, or null before the handshake completed. */
    public String protocol() {
        return handshakeDone ? engine.getSession().getProtocol() : null;
    }

    /** With mutual TLS, the subject of the sender's certificate (RFC 2253); otherwise, or before, null. */
    public String clientSubject() {
        if (!handshakeDone) {
            return null;
        }
        if (!subjectRead) {
            subject = subjectNow();
            subjectRead = true;
        }
        return subject;
    }

    /**
     * The subject, read once, when the handshake finished: a provider's session may forget its peer once the
     * engine is closed (Conscrypt's does), and the record is written after that.
     */
    private String subject;
    private boolean subjectRead;

    private String subjectNow() {
        try {
            Principal principal = engine.getSession().getPeerPrincipal();
            return principal == null ? null : principal.getName();
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
    }

    /**
     * Reads what the socket has and decrypts it into {@code app} (at least
     * {@link SSLSession#getApplicationBufferSize} plus the lent area's size
     * free). Returns the bytes of the file put into {@code app}; 0 when the
     * socket has nothing more for now; -1 once the sender's
     * {@code close_notify} has arrived.
     */
    public int read(SocketChannel channel, ByteBuffer app) throws IOException {
        if (closeNotifyReceived) {
            return -1;
        }
        int start = app.position();
        while (true) {
            unwrapAll(channel, app);
            int produced = app.position() - start;
            if (produced > 0) {
                return produced;
            }
            if (closeNotifyReceived) {
                return -1;
            }
            net.compact();
            int n;
            try {
                n = channel.read(net);
            } finally {
                net.flip();
            }
            if (n == 0) {
                return 0;
            }
            if (n < 0) {
                throw new Truncated(handshakeDone
                        ? "the stream was truncated: the connection ended without the sender's TLS close_notify"
                        : "the stream was truncated: the connection ended before the TLS handshake completed");
            }
        }
    }

    /** Unwraps every whole record the area holds, and answers the handshake. */
    private void unwrapAll(SocketChannel channel, ByteBuffer app) throws IOException {
        while (true) {
            HandshakeStatus status = engine.getHandshakeStatus();
            if (status == HandshakeStatus.NEED_TASK) {
                runTasks();
                if (engine.getHandshakeStatus() == HandshakeStatus.NOT_HANDSHAKING) {
                    // The task ended the handshake, and no result says FINISHED: a JDK sender's last flight
                    // (certificate, its proof, Finished) comes in one record, checked by the task.
                    handshakeDone = true;
                    clientSubject();
                }
                continue;
            }
            if (status == HandshakeStatus.NEED_WRAP) {
                flushHandshake(channel);
                continue;
            }
            if (!net.hasRemaining()) {
                return;
            }
            SSLEngineResult result;
            try {
                result = engine.unwrap(net, app);
            } catch (SSLException e) {
                sendAlert(channel);
                throw e;
            }
            if (result.getHandshakeStatus() == HandshakeStatus.FINISHED) {
                handshakeDone = true;
                clientSubject();
            }
            switch (result.getStatus()) {
                case OK -> {
                    if (result.bytesConsumed() == 0 && result.bytesProduced() == 0
                            && engine.getHandshakeStatus() == HandshakeStatus.NEED_UNWRAP) {
                        return;
                    }
                }
                case CLOSED -> {
                    closeNotifyReceived = true;
                    return;
                }
                case BUFFER_UNDERFLOW -> {
                    return; // the rest of the record is still on its way
                }
                case BUFFER_OVERFLOW -> throw new IllegalStateException("the TLS read buffer is too small");
            }
        }
    }

    private void runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
    }

    /** Writes what the handshake has to say now (the server's flight, a session ticket). */
    private void flushHandshake(SocketChannel channel) throws IOException {
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        while (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
            out.clear();
            SSLEngineResult result = engine.wrap(EMPTY, out);
            if (result.getHandshakeStatus() == HandshakeStatus.FINISHED) {
                handshakeDone = true;
                clientSubject();
            }
            out.flip();
            writeAll(channel, out);
            if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                break;
            }
        }
    }

    /**
     * Writes all of {@code out}, which is small (a handshake message, an
     * alert): the socket's send buffer has room for it unless the sender reads
     * nothing at all, which ends the connection.
     */
    private static void writeAll(SocketChannel channel, ByteBuffer out) throws IOException {
        while (out.hasRemaining()) {
            if (channel.write(out) == 0) {
                throw new IOException("the sender reads none of the TLS handshake (its receive window is full)");
            }
        }
    }

    /** After a failure: the alert that says why, if the engine has one and the socket takes it. */
    private void sendAlert(SocketChannel channel) {
        try {
            flushHandshake(channel);
        } catch (IOException | RuntimeException ignored) {
            // The connection fails anyway: the alert is a courtesy.
        }
    }

    /**
     * The server's {@code close_notify}, the TLS form of C1's close: written once the upload is final.
     * Returns false if it could not be written whole.
     */
    public boolean closeNotify(SocketChannel channel) {
        try {
            engine.closeOutbound();
            ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
            for (int round = 0; round < 4 && !engine.isOutboundDone(); round++) {
                engine.wrap(EMPTY, out);
            }
            out.flip();
            writeAll(channel, out);
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
