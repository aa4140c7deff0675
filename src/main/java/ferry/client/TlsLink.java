package ferry.client;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * One TLS session over the sender's non-blocking channel: an
 * {@link SSLEngine} between the file's bytes and the socket, driven by the
 * sender's selector so that its time limits hold over TLS as over plain TCP.
 * Nothing here blocks or waits: the sender decides when to wait and for how
 * long. What the server sends is read and discarded (ferry's protocol is
 * one-way); only its alerts and its {@code close_notify} matter.
 */
final class TlsLink {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
    /** Records wrapped before the output is written: 4 of 16 KiB, as one write to the socket. */
    private static final int RECORDS_PER_WRITE = 4;

    private final SSLEngine engine;
    private final SocketChannel channel;
    private final int packetSize;
    /** Records not yet written to the socket (filled, then flipped to write, then compacted). */
    private final ByteBuffer netOut;
    /** Bytes read from the socket, not yet unwrapped. */
    private final ByteBuffer netIn;
    /** Where unwrapped application data goes, to be discarded. */
    private final ByteBuffer appIn;
    private boolean closeNotifyReceived;
    private boolean endOfStream;

    TlsLink(SSLEngine engine, SocketChannel channel) {
        this.engine = engine;
        this.channel = channel;
        this.packetSize = engine.getSession().getPacketBufferSize();
        this.netOut = ByteBuffer.allocate(packetSize * RECORDS_PER_WRITE);
        this.netIn = ByteBuffer.allocate(packetSize * 2);
        this.appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize());
    }

    SSLEngine engine() {
        return engine;
    }

    /**
     * Takes the handshake one step further without waiting: wraps, unwraps,
     * runs the engine's tasks, writes what it can.
     *
     * @return the interest the key needs before the next step (read or
     *         write), or 0 when the handshake is done and its last bytes are
     *         written
     */
    int handshake() throws IOException {
        while (true) {
            HandshakeStatus status = engine.getHandshakeStatus();
            switch (status) {
                case NEED_WRAP -> {
                    if (netOut.remaining() < packetSize) {
                        flush();
                        if (netOut.remaining() < packetSize) {
                            return SelectionKey.OP_WRITE;
                        }
                    }
                    SSLEngineResult result = engine.wrap(EMPTY, netOut);
                    if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                        flush();
                        throw new SSLException("the TLS session was closed during the handshake");
                    }
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    // Whatever is wrapped goes out before this side waits for the server's answer.
                    flush();
                    if (hasPendingOutput()) {
                        return SelectionKey.OP_WRITE;
                    }
                    if (!unwrapOne()) {
                        int before = netIn.position();
                        if (!fill()) {
                            throw new EOFException("the server closed the connection during the TLS handshake");
                        }
                        if (netIn.position() == before) {
                            return SelectionKey.OP_READ;
                        }
                    }
                }
                case NEED_TASK -> runTasks();
                default -> { // FINISHED, NOT_HANDSHAKING
                    flush();
                    return hasPendingOutput() ? SelectionKey.OP_WRITE : 0;
                }
            }
        }
    }

    /** Unwraps one record from what was read already, if a whole one is there; false otherwise. */
    private boolean unwrapOne() throws SSLException {
        netIn.flip();
        try {
            if (!netIn.hasRemaining()) {
                return false;
            }
            appIn.clear();
            SSLEngineResult result = engine.unwrap(netIn, appIn);
            if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                closeNotifyReceived = true;
                return true;
            }
            return result.getStatus() != SSLEngineResult.Status.BUFFER_UNDERFLOW;
        } finally {
            netIn.compact();
        }
    }

    /** Reads what the socket has into {@link #netIn}; false at end of stream. */
    private boolean fill() throws IOException {
        int n = channel.read(netIn);
        if (n < 0) {
            endOfStream = true;
            return false;
        }
        return true;
    }

    private void runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
    }

    /** True when {@link #wrap} can take at least one more record's worth of data. */
    boolean hasRoom() {
        return netOut.remaining() >= packetSize;
    }

    /** Wraps as much of {@code data} as the output has room for; returns how many of its bytes it took. */
    int wrap(ByteBuffer data) throws SSLException {
        int before = data.position();
        while (data.hasRemaining() && hasRoom()) {
            SSLEngineResult result = engine.wrap(data, netOut);
            if (result.getStatus() != SSLEngineResult.Status.OK) {
                throw new SSLException("the TLS session was closed while sending (" + result.getStatus() + ")");
            }
            if (result.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                runTasks();
            }
        }
        return data.position() - before;
    }

    /** True while wrapped records wait for the socket. */
    boolean hasPendingOutput() {
        return netOut.position() > 0;
    }

    /** Writes what is wrapped, as far as the socket takes it; returns the bytes it took. */
    int flush() throws IOException {
        if (netOut.position() == 0) {
            return 0;
        }
        netOut.flip();
        try {
            return channel.write(netOut);
        } finally {
            netOut.compact();
        }
    }

    /**
     * Reads and unwraps what the server sent, discarding its data: session
     * tickets, and in the end its {@code close_notify}. A fatal alert from the
     * server (it rejected this side's certificate, say) is thrown as an
     * {@link SSLException} saying so.
     */
    void receive() throws IOException {
        while (!closeNotifyReceived) {
            boolean open = fill();
            boolean progress = false;
            while (!closeNotifyReceived && unwrapOne()) {
                progress = true;
                if (engine.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                    runTasks();
                }
                if (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP && hasRoom()) {
                    engine.wrap(EMPTY, netOut); // a key update's answer, or TLS 1.2's reply to close_notify
                }
            }
            if (!open || !progress && netIn.position() < netIn.capacity()) {
                return;
            }
        }
    }

    /** Ends this side of the session: wraps the {@code close_notify} alert, to be written by {@link #flush}. */
    void closeOutbound() throws SSLException {
        engine.closeOutbound();
        while (!engine.isOutboundDone()) {
            SSLEngineResult result = engine.wrap(EMPTY, netOut);
            if (result.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW || result.bytesProduced() == 0) {
                break;
            }
        }
    }

    /**
     * After a failed handshake: writes the alert the engine has for the
     * server, if the socket takes it at once, so that the server learns why.
     */
    void abort() {
        try {
            engine.closeOutbound();
            while (!engine.isOutboundDone() && hasRoom()) {
                if (engine.wrap(EMPTY, netOut).bytesProduced() == 0) {
                    break;
                }
            }
            flush();
        } catch (IOException | RuntimeException e) {
            // Best effort: the connection is reset next anyway.
        }
    }

    /**
     * After a write failed: the fatal alert the server sent before it closed,
     * if one is waiting to be read (a TLS 1.3 server that rejects this side's
     * certificate says so only after this side's handshake), or null.
     */
    SSLException pendingAlert() {
        try {
            receive();
        } catch (SSLException e) {
            return e;
        } catch (IOException | RuntimeException e) {
            // No alert came before the reset.
        }
        return null;
    }

    /** True once the server's {@code close_notify} arrived: it has read everything and ends the session. */
    boolean closeNotifyReceived() {
        return closeNotifyReceived;
    }

    /** True once the socket reached its end (the server's TCP FIN). */
    boolean endOfStream() {
        return endOfStream;
    }

    /** The protocol agreed, {@code TLSv1.3} or {@code TLSv1.2}. */
    String protocol() {
        return engine.getSession().getProtocol();
    }
}
