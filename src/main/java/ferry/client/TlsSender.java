package ferry.client;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import javax.net.ssl.SSLException;

/**
 * Sends one file over TLS on a connection the {@link Sender} has made, with
 * the sender's time limits: the handshake within what is left of the connect
 * limit, each stall while sending, and the confirmation. The server confirms
 * by its {@code close_notify} after this side's: an end of the connection
 * without it, a reset or an alert is a failure. Kept apart from the sender so
 * that the plain client loads no TLS class.
 */
final class TlsSender {
    /** Bytes of a sized file read and wrapped at a time: 64 KiB, four TLS records. */
    private static final int CHUNK = 64 * 1024;

    private final Sender sender;
    private final ClientConfig config;
    private final SocketChannel channel;
    private final SelectionKey key;
    private final Selector selector;
    private final TlsLink link;
    private final long timeoutNanos;

    private TlsSender(Sender sender, ClientConfig config, SocketChannel channel, SelectionKey key) {
        this.sender = sender;
        this.config = config;
        this.channel = channel;
        this.key = key;
        this.selector = key.selector();
        this.link = new TlsLink(config.tls().engine(config.host(), config.port()), channel);
        this.timeoutNanos = config.timeout().toNanos();
    }

    /**
     * Handshakes by {@code connectDeadline}, sends the file and waits for the
     * server's {@code close_notify}; returns the bytes sent.
     */
    static long send(Sender sender, Source source, SocketChannel channel, SelectionKey key, long connectDeadline)
            throws UserError {
        var tls = new TlsSender(sender, sender.config(), channel, key);
        tls.handshake(connectDeadline);
        sender.phase(Sender.SENDING);
        long sent = tls.upload(source);
        sender.phase(Sender.CONFIRMING);
        tls.confirm(sent);
        return sent;
    }

    private void handshake(long deadline) throws UserError {
        try {
            link.engine().beginHandshake();
            while (true) {
                int interest = link.handshake();
                if (interest == 0) {
                    break;
                }
                long millis = Sender.millisUntil(deadline);
                if (millis <= 0) {
                    throw UserError.failure("the TLS handshake with " + config.server() + " did not complete within "
                            + Arguments.seconds(config.timeout()) + " (is it a TLS server?)");
                }
                key.interestOps(interest);
                selector.select(millis);
                selector.selectedKeys().clear();
            }
            if (link.closeNotifyReceived()) {
                throw UserError.failure("the server " + config.server() + " ended the TLS session during its handshake");
            }
        } catch (SSLException e) {
            link.abort();
            throw UserError.failure("TLS handshake with " + config.server() + " failed: " + handshakeReason(e));
        } catch (IOException e) {
            throw UserError.failure("TLS handshake with " + config.server() + " failed: "
                    + (e instanceof EOFException ? e.getMessage() : Sender.networkReason(e)));
        }
    }

    /**
     * Why a handshake failed, in words: a certificate not trusted, not for
     * this host, expired; or the server's alert.
     */
    private String handshakeReason(SSLException e) {
        for (Throwable cause = e; cause != null; cause = cause.getCause()) {
            String message = String.valueOf(cause.getMessage());
            if (cause instanceof CertificateExpiredException) {
                return "the server's certificate has expired (" + message + ")";
            }
            if (cause instanceof CertificateNotYetValidException) {
                return "the server's certificate is not valid yet (" + message + ")";
            }
            if (message.startsWith("No subject alternative") || message.startsWith("No name matching")) {
                return "the server's certificate is not for " + Arguments.quote(config.host()) + " (" + message + ")";
            }
            if (cause instanceof CertPathBuilderException || cause instanceof CertPathValidatorException
                    || cause.getClass().getName().endsWith("ValidatorException")) {
                Throwable root = cause;
                while (root.getCause() != null) {
                    root = root.getCause();
                }
                return "the server's certificate is not trusted by " + config.tls().trust() + " ("
                        + root.getMessage() + ")";
            }
        }
        String alert = alert(e);
        return alert != null ? "the server refused the handshake with the TLS alert " + alert : e.getMessage();
    }

    /** The name of the fatal alert the server sent ({@code unknown_ca}), if {@code e} is one; else null. */
    private static String alert(SSLException e) {
        String message = String.valueOf(e.getMessage());
        int at = message.indexOf(ALERT);
        return at < 0 ? null : message.substring(at + ALERT.length()).strip();
    }

    /** How the JDK words an alert received: "(unknown_ca) Received fatal alert: unknown_ca". */
    private static final String ALERT = "Received fatal alert: ";

    /**
     * Sends the source's bytes, wrapped, with the plain sender's stall limit:
     * no byte taken by the network for the time limit while records wait for
     * it. What the server sends meanwhile is read at once, so that its alert
     * or its end is reported as soon as it comes.
     */
    private long upload(Source source) throws UserError {
        boolean sized = source.sized();
        FileChannel file = source.channel();
        long start = source.start();
        long end = source.end();
        long position = start;
        ByteBuffer chunk = sized ? ByteBuffer.allocate(CHUNK) : null;
        StreamReader reader = sized ? null : StreamReader.start(file, selector);
        ByteBuffer pending = null;
        boolean ended = false;
        long wrapped = 0;
        long lastProgress = System.nanoTime();
        try {
            while (true) {
                // Set when the stream's reader had nothing new this round: only then may the loop wait for
                // it (its wake-up for a buffer queued earlier may have been used up by a wait for the socket).
                boolean drained = false;
                if (pending == null && !ended) {
                    if (sized) {
                        if (position >= end) {
                            ended = true;
                        } else {
                            chunk.clear().limit((int) Math.min(CHUNK, end - position));
                            int n = file.read(chunk, position);
                            if (n < 0) {
                                if (file.size() <= position) {
                                    throw UserError.failure("file " + source.name() + " shrank while being sent ("
                                            + (position - start) + " of " + (end - start) + " bytes read)");
                                }
                                sender.size(position - start); // a pseudo-file: its end is where reading ends
                                ended = true;
                            } else {
                                position += n;
                                pending = chunk.flip();
                            }
                        }
                    } else {
                        ByteBuffer next = reader.poll();
                        if (next == StreamReader.END) {
                            if (reader.failure() != null) {
                                throw UserError.failure("cannot read " + source.name() + " (" + wrapped
                                        + " bytes sent): " + Arguments.describe(reader.failure()));
                            }
                            ended = true;
                        } else if (next == null) {
                            drained = true;
                        } else {
                            pending = next;
                            if (!link.hasPendingOutput()) {
                                lastProgress = System.nanoTime(); // the stall counts from when data is ready
                            }
                        }
                    }
                }
                if (pending != null) {
                    wrapped += link.wrap(pending);
                    if (!pending.hasRemaining()) {
                        if (reader != null) {
                            reader.recycle(pending);
                        }
                        pending = null;
                    }
                }
                int flushed = link.flush();
                if (flushed > 0) {
                    lastProgress = System.nanoTime();
                }
                if (!link.hasPendingOutput()) {
                    sender.sent(wrapped);
                    if (ended && pending == null) {
                        if (sized && start > 0) {
                            file.position(position); // standard input read in part before: leave it read
                        }
                        return wrapped;
                    }
                    if (pending != null || sized || !drained) {
                        continue;
                    }
                } else if (flushed > 0) {
                    continue; // the socket took some: wrap more, or try again before waiting
                }
                boolean writing = link.hasPendingOutput();
                long millis = 0; // no limit: the stream's reader wakes the selector
                if (writing) {
                    millis = Sender.millisUntil(lastProgress + timeoutNanos);
                    if (millis <= 0) {
                        throw UserError.failure("the server took no data for " + Arguments.seconds(config.timeout())
                                + " (" + wrapped + " bytes sent); giving up");
                    }
                    millis = Math.min(millis, Sender.RETRY_MILLIS);
                }
                key.interestOps((writing ? SelectionKey.OP_WRITE : 0) | SelectionKey.OP_READ);
                boolean readable = selector.select(millis) > 0 && key.isReadable();
                selector.selectedKeys().clear();
                if (readable) {
                    link.receive();
                    if (link.endOfStream() || link.closeNotifyReceived()) {
                        throw UserError.failure("the server closed the connection to " + config.server() + " after "
                                + wrapped + " bytes, before the upload ended");
                    }
                }
            }
        } catch (SSLException e) {
            throw UserError.failure("sending to " + config.server() + " failed after " + wrapped + " bytes: "
                    + alertReason(e));
        } catch (IOException e) {
            SSLException alert = link.pendingAlert();
            throw UserError.failure("sending to " + config.server() + " failed after " + wrapped + " bytes: "
                    + (alert != null ? alertReason(alert) : Sender.networkReason(e)));
        } finally {
            if (reader != null) {
                reader.close();
            }
        }
    }

    /**
     * Sends this side's {@code close_notify} and half-closes, then waits for
     * the server's {@code close_notify}: the TLS form of its close, and the
     * only sign that it read the last byte and that nothing cut the stream.
     */
    private void confirm(long size) throws UserError {
        long deadline = System.nanoTime() + timeoutNanos;
        try {
            link.receive();
            if (link.endOfStream() || link.closeNotifyReceived()) {
                throw UserError.failure("the server closed the connection to " + config.server() + " after "
                        + size + " bytes, before the upload ended");
            }
            link.closeOutbound();
            while (true) {
                link.flush();
                if (!link.hasPendingOutput()) {
                    break;
                }
                await(SelectionKey.OP_WRITE, deadline, size);
            }
            channel.shutdownOutput();
            while (true) {
                link.receive();
                if (link.closeNotifyReceived()) {
                    return;
                }
                if (link.endOfStream()) {
                    throw UserError.failure("all " + size + " bytes sent, but " + config.server()
                            + " closed the connection without TLS close_notify; the upload is unconfirmed");
                }
                await(SelectionKey.OP_READ, deadline, size);
            }
        } catch (SSLException e) {
            throw UserError.failure("all " + size + " bytes sent, but " + config.server() + " then failed: "
                    + alertReason(e) + "; the upload is unconfirmed");
        } catch (IOException e) {
            SSLException alert = link.pendingAlert();
            throw UserError.failure("all " + size + " bytes sent, but the connection to " + config.server()
                    + " then failed: " + (alert != null ? alertReason(alert) : Sender.networkReason(e))
                    + "; the upload is unconfirmed");
        }
    }

    private void await(int interest, long deadline, long size) throws UserError, IOException {
        long millis = Sender.millisUntil(deadline);
        if (millis <= 0) {
            throw UserError.failure("all " + size + " bytes sent, but " + config.server()
                    + " did not end the TLS session (close_notify) within " + Arguments.seconds(config.timeout())
                    + "; the upload is unconfirmed");
        }
        key.interestOps(interest);
        selector.select(millis);
        selector.selectedKeys().clear();
    }

    /** A fatal alert from the server, in words: a rejected client certificate says so. */
    private static String alertReason(SSLException e) {
        String alert = alert(e);
        if (alert == null) {
            return "TLS failure: " + e.getMessage();
        }
        boolean certificate = alert.contains("certificate") || alert.equals("unknown_ca") || alert.equals("access_denied");
        return "the server sent the TLS alert " + alert
                + (certificate ? ": it refused this client's certificate, or wanted one (--cert, --key)" : "");
    }
}
