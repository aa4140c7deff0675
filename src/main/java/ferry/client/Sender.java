package ferry.client;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.StandardSocketOptions;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Sends one file over one TCP connection and waits for the server to confirm
 * by closing its side. Every step is bounded by the configured timeout
 * (default 10 s): name lookup and connecting together; each stall while
 * sending (no byte accepted by the network); and the wait for the server's
 * close after the half-close.
 */
final class Sender {
    /**
     * Longest wait between write attempts while the socket's send buffer is
     * full: 100 ms. Linux reports a socket writable only once a third of its
     * send buffer is free, so smaller room freed later shows only by trying to
     * write (on loopback, about 95 KB frees up within a second after the
     * receiver stops reading). Were the write retried only when the stall limit
     * ran out, that late write would restart the clock, and a receiver that
     * stopped reading would be given up on only after twice the limit.
     */
    static final long RETRY_MILLIS = 100;
    /**
     * How long a connection attempt to one of a name's addresses runs alone
     * before the next address is tried beside it: 250 ms, as in Happy
     * Eyeballs (RFC 8305).
     */
    private static final long ATTEMPT_DELAY_MILLIS = 250;

    /** Phases, as {@link #phase()} reports them: opening the file (a FIFO waits for its writer). */
    static final int OPENING = 0;
    /** Looking the host up and connecting. */
    static final int CONNECTING = 1;
    /** Sending the file's bytes. */
    static final int SENDING = 2;
    /** All sent and half-closed: waiting for the server to close its side. */
    static final int CONFIRMING = 3;

    private final ClientConfig config;
    private final long timeoutNanos;
    // What the sender has done so far, for the progress line, which reads it on a thread of its own.
    // Written once per write to the network; read by nobody unless standard error is a terminal.
    private volatile int phase = OPENING;
    private volatile long size = -1;
    private volatile long sent;

    /** Addresses looked up already (by a batch, once for all its files), or null to look the host up. */
    private final InetAddress[] addresses;
    /** Whose turn it is to connect, in a batch sending several files at once; null for one file. */
    private final Turn turn;

    Sender(ClientConfig config) {
        this(config, null, null);
    }

    Sender(ClientConfig config, InetAddress[] addresses, Turn turn) {
        this.config = config;
        this.timeoutNanos = config.timeout().toNanos();
        this.addresses = addresses;
        this.turn = turn;
    }

    /**
     * The order in which a batch's senders connect, so that a server numbering
     * connections in accept order numbers the files in the order given, even
     * when several are sent at once.
     */
    interface Turn {
        /** Waits until every file before this one has connected (or failed to). */
        void await() throws InterruptedException;

        /** This file has connected, or failed to: the next may connect. */
        void done();
    }

    /** Sends the file; returns the number of bytes the server confirmed. */
    long send() throws UserError {
        try (Source source = Source.open(config); Selector selector = Selector.open()) {
            // Counted from here: opening a FIFO waits for its writer, which is not the network's time.
            long connectDeadline = System.nanoTime() + timeoutNanos;
            if (source.sized()) {
                size = source.end() - source.start();
            }
            phase = CONNECTING;
            InetAddress[] addresses = this.addresses != null ? this.addresses : resolve(connectDeadline);
            SocketChannel channel;
            if (turn == null) {
                channel = connect(addresses, selector, connectDeadline);
            } else {
                try {
                    turn.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw UserError.failure("interrupted before connecting");
                }
                try {
                    channel = connect(addresses, selector, connectDeadline);
                } finally {
                    turn.done();
                }
            }
            boolean confirmed = false;
            try {
                SelectionKey key = channel.keyFor(selector);
                if (config.tls() != null) {
                    // The handshake counts under the connect limit; the rest keeps the limits below.
                    long sent = TlsSender.send(this, source, channel, key, connectDeadline);
                    confirmed = true;
                    return sent;
                }
                phase = SENDING;
                long sent = source.sized() ? transfer(source, channel, key) : stream(source, channel, key);
                phase = CONFIRMING;
                confirm(channel, key, sent);
                confirmed = true;
                return sent;
            } finally {
                close(channel, confirmed);
            }
        } catch (IOException e) {
            throw UserError.failure("cannot read " + Arguments.quote(config.file().toString()) + ": "
                    + Arguments.describe(e));
        }
    }

    /** Where the upload is: {@link #OPENING}, {@link #CONNECTING}, {@link #SENDING} or {@link #CONFIRMING}. */
    int phase() {
        return phase;
    }

    /** The bytes to send, once the file is open and if its size is known; -1 otherwise (a stream). */
    long size() {
        return size;
    }

    /** The bytes the network has taken so far. */
    long sent() {
        return sent;
    }

    ClientConfig config() {
        return config;
    }

    /** For {@link TlsSender}: where the upload is, as {@link #phase()} reports it. */
    void phase(int phase) {
        this.phase = phase;
    }

    /** For {@link TlsSender}: the bytes to send, once known (a pseudo-file's end is found by reading). */
    void size(long size) {
        this.size = size;
    }

    /** For {@link TlsSender}: the file's bytes the network has taken so far. */
    void sent(long sent) {
        this.sent = sent;
    }

    /**
     * Looks the host up on a helper thread, so that a slow resolver cannot
     * outlast the deadline; an IP address written out needs no lookup and no
     * thread (starting one costs a short run about half a millisecond).
     */
    InetAddress[] resolve(long deadline) throws UserError {
        if (isAddressLiteral(config.host())) {
            try {
                return InetAddress.getAllByName(config.host()); // parsed, never looked up
            } catch (UnknownHostException e) {
                throw UserError.failure("unknown host " + Arguments.quote(config.host()));
            }
        }
        var lookup = new FutureTask<>(() -> InetAddress.getAllByName(config.host()));
        Thread.ofPlatform().name("ferry-lookup").daemon().start(lookup);
        try {
            return lookup.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw UserError.failure("could not look up host " + Arguments.quote(config.host()) + " within "
                    + Arguments.seconds(config.timeout()));
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownHostException) {
                throw UserError.failure("unknown host " + Arguments.quote(config.host()));
            }
            throw UserError.failure("could not look up host " + Arguments.quote(config.host()) + ": "
                    + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw UserError.failure("interrupted while looking up host " + Arguments.quote(config.host()));
        }
    }

    /**
     * Whether the JDK takes {@code host} as an IP address without asking a
     * resolver: colons with hexadecimal digits and dots only (an IPv6
     * address, or an error the JDK reports without a lookup), or four decimal
     * numbers of 0-255 joined by dots, none with a leading zero (the JDK looks
     * {@code 010.0.0.1} up as a name). Anything else takes the lookup thread.
     */
    static boolean isAddressLiteral(String host) {
        if (host.indexOf(':') >= 0) {
            for (int i = 0; i < host.length(); i++) {
                if (Character.digit(host.charAt(i), 16) < 0 && host.charAt(i) != ':' && host.charAt(i) != '.') {
                    return false;
                }
            }
            return true;
        }
        int parts = 0;
        int value = -1;
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            if (c == '.') {
                if (value < 0 || ++parts > 3) {
                    return false;
                }
                value = -1;
            } else if (c >= '0' && c <= '9') {
                if (value == 0) {
                    return false; // a leading zero: the JDK takes such a name for a host name
                }
                value = (value < 0 ? 0 : value * 10) + (c - '0');
                if (value > 255) {
                    return false;
                }
            } else {
                return false;
            }
        }
        return parts == 3 && value >= 0;
    }

    /**
     * Connects to the first of the addresses that answers, within the one
     * deadline: attempts start in the resolver's order, each
     * {@link #ATTEMPT_DELAY_MILLIS} after the previous (at once when the
     * previous fails), and run side by side, so an address that does not
     * answer does not use up the time of the ones after it.
     *
     * @return a connected, non-blocking channel, registered with {@code selector}
     */
    private SocketChannel connect(InetAddress[] addresses, Selector selector, long deadline) throws UserError {
        var pending = new ArrayList<SocketChannel>();
        SocketChannel connected = null;
        IOException last = null;
        int next = 0;
        long nextStart = System.nanoTime();
        try {
            while (connected == null) {
                long now = System.nanoTime();
                if (deadline - now <= 0 || (next == addresses.length && pending.isEmpty())) {
                    break;
                }
                if (next < addresses.length && now - nextStart >= 0) {
                    var address = new InetSocketAddress(addresses[next++], config.port());
                    SocketChannel channel = null;
                    try {
                        channel = SocketChannel.open();
                        // Until the server confirms, every end but the graceful one must read as a failure
                        // to the server: with SO_LINGER 0 the kernel resets the connection whenever the
                        // socket is closed, also when the process is killed (SIGKILL, SIGTERM, SIGINT) and
                        // the kernel closes it. shutdownOutput still sends a FIN; close(channel, true)
                        // restores the normal close once the server has confirmed.
                        channel.setOption(StandardSocketOptions.SO_LINGER, 0);
                        channel.configureBlocking(false);
                        channel.register(selector, SelectionKey.OP_CONNECT);
                        if (channel.connect(address)) {
                            connected = channel;
                            break;
                        }
                        pending.add(channel);
                        nextStart = now + ATTEMPT_DELAY_MILLIS * 1_000_000;
                    } catch (IOException e) {
                        last = e;
                        close(channel, false);
                        nextStart = now;
                    }
                    continue;
                }
                long wakeAt = next < addresses.length && nextStart - deadline < 0 ? nextStart : deadline;
                selector.select(Math.max(1, millisUntil(wakeAt)));
                for (SelectionKey key : selector.selectedKeys()) {
                    var channel = (SocketChannel) key.channel();
                    try {
                        if (channel.finishConnect()) {
                            connected = channel;
                            break;
                        }
                    } catch (IOException e) {
                        last = e;
                        pending.remove(channel);
                        close(channel, false);
                        nextStart = System.nanoTime(); // the next address need not wait
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (IOException e) {
            last = e; // the selector itself failed
        } finally {
            for (SocketChannel channel : pending) {
                if (channel != connected) {
                    close(channel, false);
                }
            }
        }
        if (connected != null) {
            connected.keyFor(selector).interestOps(0);
            return connected;
        }
        if (last == null || deadline - System.nanoTime() <= 0) {
            throw UserError.failure("could not connect to " + config.server() + " within "
                    + Arguments.seconds(config.timeout()));
        }
        if (last instanceof ConnectException) {
            throw UserError.failure("connection refused by " + config.server() + " (is the server running?)");
        }
        if (last instanceof NoRouteToHostException) {
            throw UserError.failure("no route to " + config.server());
        }
        throw UserError.failure("could not connect to " + config.server() + ": " + networkReason(last));
    }

    /**
     * Waits (at most {@link #RETRY_MILLIS}) for the socket to take data again;
     * fails when it has taken none for the time limit since {@code lastProgress}.
     */
    private void awaitWritable(SelectionKey key, long lastProgress, long sent, long size)
            throws UserError, IOException {
        long millis = millisUntil(lastProgress + timeoutNanos);
        if (millis <= 0) {
            throw UserError.failure("the server took no data for " + Arguments.seconds(config.timeout())
                    + " (" + sent + " of " + size + " bytes sent); giving up");
        }
        key.selector().select(Math.min(millis, RETRY_MILLIS));
        key.selector().selectedKeys().clear();
    }

    /**
     * Files up to this size are read into one buffer and written, rather than
     * sent with {@code transferTo}: for them the copy costs nothing, while
     * {@code transferTo}'s first use costs the JVM a class generated at run
     * time (a few milliseconds of a short run's start-up).
     */
    static final int SMALL_FILE = 64 * 1024;

    /**
     * Sends a small sized file: reads it whole (stopping early where a
     * pseudo-file's reported size promises more than it has, as for cat;
     * failing if the file shrank), then writes it, with the same stall limit
     * as {@link #transfer}.
     */
    private long sendSmall(Source source, SocketChannel channel, SelectionKey key) throws UserError {
        FileChannel file = source.channel();
        long start = source.start();
        long size = source.end() - start;
        ByteBuffer buffer = ByteBuffer.allocate((int) size);
        long position = start;
        try {
            while (buffer.hasRemaining()) {
                int n = file.read(buffer, position);
                if (n < 0) {
                    if (file.size() <= position) {
                        throw UserError.failure("file " + source.name() + " shrank while being sent ("
                                + (position - start) + " of " + size + " bytes read)");
                    }
                    size = position - start; // a pseudo-file: its end is where reading ends
                    this.size = size;
                    break;
                }
                position += n;
            }
        } catch (IOException e) {
            throw UserError.failure("cannot read " + source.name() + ": " + Arguments.describe(e));
        }
        buffer.flip();
        long lastProgress = System.nanoTime();
        try {
            while (buffer.hasRemaining()) {
                if (channel.write(buffer) > 0) {
                    this.sent = buffer.position();
                    lastProgress = System.nanoTime();
                    continue;
                }
                awaitWritable(key, lastProgress, buffer.position(), size);
            }
            if (start > 0) {
                file.position(position); // standard input read in part before: leave it read, as cat would
            }
            return size;
        } catch (IOException e) {
            throw UserError.failure("sending to " + config.server() + " failed after " + buffer.position() + " of "
                    + size + " bytes: " + networkReason(e));
        }
    }

    /**
     * Sends a sized source with transferTo, from its start to the end seen
     * when it was opened: bytes appended meanwhile are not sent, and a file
     * that shrinks below that end is an error.
     *
     * @return the number of bytes sent
     */
    private long transfer(Source source, SocketChannel channel, SelectionKey key) throws UserError {
        FileChannel file = source.channel();
        long start = source.start();
        long end = source.end();
        long size = end - start;
        key.interestOps(SelectionKey.OP_WRITE);
        if (size <= SMALL_FILE) {
            return sendSmall(source, channel, key);
        }
        long position = start;
        long lastProgress = System.nanoTime();
        ByteBuffer probe = ByteBuffer.allocate(1);
        try {
            while (position < end) {
                long sent = file.transferTo(position, end - position, channel);
                if (sent > 0) {
                    position += sent;
                    this.sent = position - start;
                    lastProgress = System.nanoTime();
                    continue;
                }
                if (file.size() <= position) {
                    throw UserError.failure("file " + source.name() + " shrank while being sent ("
                            + (position - start) + " of " + size + " bytes sent)");
                }
                if (file.read(probe.clear(), position) < 0 && file.size() > position) {
                    // Nothing to read though the size says more: a pseudo-file (sysfs reports 4096 for a
                    // few bytes). Its end is where reading ends, as for cat; not a stalled network.
                    size = position - start;
                    this.size = size;
                    break;
                }
                awaitWritable(key, lastProgress, position - start, size);
            }
            if (start > 0) {
                file.position(position); // standard input read in part before: leave it read, as cat would
            }
            return size;
        } catch (IOException e) {
            throw UserError.failure("sending to " + config.server() + " failed after " + (position - start) + " of "
                    + size + " bytes: " + networkReason(e));
        }
    }

    /**
     * Sends a stream to its end through the reader's two buffers. The stall
     * limit counts only while data waits for the network: from the moment a
     * buffer is ready, or the network last took a byte, whichever is later.
     * While the source produces nothing the connection is watched, so that a
     * server that resets it meanwhile (its own idle limit, say) is reported
     * at once rather than when the source next produces.
     *
     * @return the number of bytes sent
     */
    private long stream(Source source, SocketChannel channel, SelectionKey key) throws UserError {
        Selector selector = key.selector();
        ByteBuffer discard = ByteBuffer.allocate(512);
        long sent = 0;
        try (var reader = StreamReader.start(source.channel(), selector)) {
            ByteBuffer pending = null;
            long lastProgress = 0;
            while (true) {
                long millis = 0; // select's 0: no limit, the reader wakes the selector
                if (pending == null) {
                    pending = reader.poll();
                    if (pending == StreamReader.END) {
                        if (reader.failure() != null) {
                            throw UserError.failure("cannot read " + source.name() + " (" + sent
                                    + " bytes sent): " + Arguments.describe(reader.failure()));
                        }
                        return sent;
                    }
                    lastProgress = System.nanoTime();
                }
                if (pending != null) {
                    int n = channel.write(pending);
                    if (n > 0) {
                        sent += n;
                        this.sent = sent;
                        lastProgress = System.nanoTime();
                    }
                    if (!pending.hasRemaining()) {
                        reader.recycle(pending);
                        pending = null;
                        continue;
                    }
                    millis = millisUntil(lastProgress + timeoutNanos);
                    if (millis <= 0) {
                        throw UserError.failure("the server took no data for "
                                + Arguments.seconds(config.timeout()) + " (" + sent + " bytes sent); giving up");
                    }
                    millis = Math.min(millis, RETRY_MILLIS);
                }
                // Reading too: a reset, or an end of stream from the server before this side's own
                // half-close (its confirmation can then never come: a balancer that turned the
                // receiver's reset into a clean close, say), fails the upload at once.
                key.interestOps((pending != null ? SelectionKey.OP_WRITE : 0) | SelectionKey.OP_READ);
                boolean readable = selector.select(millis) > 0 && key.isReadable();
                selector.selectedKeys().clear();
                if (readable) {
                    discard.clear();
                    if (channel.read(discard) < 0) { // a reset throws, and is reported below
                        throw UserError.failure("the server closed the connection to " + config.server() + " after "
                                + sent + " bytes, before the upload ended");
                    }
                }
            }
        } catch (IOException e) {
            throw UserError.failure("sending to " + config.server() + " failed after " + sent + " bytes: "
                    + networkReason(e));
        }
    }

    /**
     * Half-closes, then waits for the server to close its side: that close
     * is the only sign that the server has read the last byte.
     */
    private void confirm(SocketChannel channel, SelectionKey key, long size) throws UserError {
        long deadline = System.nanoTime() + timeoutNanos;
        ByteBuffer discard = ByteBuffer.allocate(512);
        try {
            // The server's end of stream is its confirmation only when it follows this side's half-close.
            if (channel.read(discard) < 0) {
                throw UserError.failure("the server closed the connection to " + config.server() + " after "
                        + size + " bytes, before the upload ended");
            }
            channel.shutdownOutput();
            key.interestOps(SelectionKey.OP_READ);
            while (true) {
                discard.clear();
                if (channel.read(discard) < 0) {
                    return;
                }
                long millis = millisUntil(deadline);
                if (millis <= 0) {
                    throw UserError.failure("all " + size + " bytes sent, but " + config.server()
                            + " did not close the connection within " + Arguments.seconds(config.timeout())
                            + "; the upload is unconfirmed");
                }
                key.selector().select(millis);
                key.selector().selectedKeys().clear();
            }
        } catch (IOException e) {
            throw UserError.failure("all " + size + " bytes sent, but the connection to " + config.server()
                    + " then failed: " + networkReason(e) + "; the upload is unconfirmed");
        }
    }

    /**
     * Closes gracefully after a confirmed upload: SO_LINGER back to the
     * default first, so that the close is a normal one. Otherwise the
     * SO_LINGER 0 set when the socket was opened makes the close a reset, and
     * the server sees a failure.
     */
    private static void close(SocketChannel channel, boolean graceful) {
        if (channel == null) {
            return;
        }
        try (channel) {
            if (graceful && channel.isOpen()) {
                channel.setOption(StandardSocketOptions.SO_LINGER, -1);
            }
        } catch (IOException e) {
            // Released either way.
        }
    }

    static long millisUntil(long deadlineNanos) {
        long nanos = deadlineNanos - System.nanoTime();
        return nanos <= 0 ? 0 : (nanos + 999_999) / 1_000_000;
    }

    /** The kernel's words for a network failure, lower-cased, with the common ones spelled out. */
    static String networkReason(IOException e) {
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return switch (message) {
            case "Connection reset by peer", "Connection reset" -> "the server reset the connection";
            case "Broken pipe" -> "the server closed the connection (broken pipe)";
            case "Connection timed out" -> "the connection timed out";
            default -> message.toLowerCase();
        };
    }
}
