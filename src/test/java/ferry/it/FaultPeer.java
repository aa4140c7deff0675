package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The one fault peer, in the manner of OkHttp MockWebServer's
 * {@code SocketPolicy}: a receiver of one connection on 127.0.0.1, on a port
 * of its own (no race for it), that behaves as a {@link Policy} says (drain,
 * trickle, stall, reset or close after N bytes) on a thread of its own, or
 * step by step as the test drives it. The sending side is here too: raw
 * connections to a server, every read with a deadline. {@link #close()}
 * releases both sockets. Public for the in-process tests of {@code ferry.server}.
 */
public final class FaultPeer implements AutoCloseable {
    /** The longest any read of a peer waits. */
    static final Duration READ_DEADLINE = Duration.ofSeconds(60);

    private final ServerSocket listener;
    private final CompletableFuture<Received> received = new CompletableFuture<>();
    private volatile Socket socket;

    /**
     * What the receiver does with the connection: read at most {@code rate}
     * bytes a second (Long.MAX_VALUE: at once), and once {@code after} bytes have
     * arrived (-1: never) end it by a reset or a close; or never read at all.
     */
    record Policy(long rate, long after, boolean reset, boolean neverRead) {
        /** Reads everything at once and closes at the end of the stream. */
        static Policy drain() {
            return new Policy(Long.MAX_VALUE, -1, false, false);
        }

        /** Reads at most {@code bytesPerSecond}, through a small receive buffer. */
        static Policy trickle(long bytesPerSecond) {
            return new Policy(bytesPerSecond, -1, false, false);
        }

        /** Accepts and never reads, until closed: the sender's buffers fill up. */
        static Policy stall() {
            return new Policy(0, -1, false, true);
        }

        /** Resets the connection (SO_LINGER 0) once {@code bytes} have arrived. */
        Policy resetAfter(long bytes) {
            return new Policy(rate, bytes, true, false);
        }

        /**
         * Closes the connection once {@code bytes} have arrived: a FIN if
         * nothing more is unread, else (as the kernel does it) a reset.
         */
        Policy closeAfter(long bytes) {
            return new Policy(rate, bytes, false, false);
        }
    }

    /** What the receiver got up to the end of stream (or the fault), and when the end came. */
    record Received(long bytes, String sha256, long eofAt) {
    }

    private FaultPeer(ServerSocket listener) {
        this.listener = listener;
    }

    /** A receiver that the test drives step by step ({@link #accept}, {@link #readToEnd}, {@link #reset}...). */
    static FaultPeer open() throws IOException {
        return new FaultPeer(listen(false));
    }

    /** A receiver that accepts one connection and follows {@code policy} by itself; see {@link #received()}. */
    static FaultPeer serve(Policy policy) throws IOException {
        var peer = new FaultPeer(listen(policy.rate() != Long.MAX_VALUE));
        Thread.ofPlatform().name("fault-peer").daemon().start(() -> peer.follow(policy));
        return peer;
    }

    private static ServerSocket listen(boolean smallBuffer) throws IOException {
        var listener = new ServerSocket();
        if (smallBuffer) {
            listener.setReceiveBufferSize(64 * 1024); // inherited by the accepted socket
        }
        listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        return listener;
    }

    int port() {
        return listener.getLocalPort();
    }

    /** Accepts the one connection, waiting at most {@code deadline}. */
    Socket accept(Duration deadline) throws IOException {
        listener.setSoTimeout(Math.toIntExact(deadline.toMillis()));
        socket = listener.accept();
        socket.setSoTimeout(Math.toIntExact(READ_DEADLINE.toMillis()));
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

    /** Reads the accepted connection to end of stream, failing if that takes longer than {@code deadline}. */
    Received readToEnd(Duration deadline) throws IOException {
        return read(Policy.drain(), deadline);
    }

    private Received read(Policy policy, Duration deadline) throws IOException {
        socket.setSoTimeout(Math.toIntExact(deadline.toMillis()));
        MessageDigest digest = Checksums.digest();
        InputStream in = socket.getInputStream();
        byte[] buffer = new byte[16 * 1024];
        long total = 0;
        long start = System.nanoTime();
        for (int n; (n = in.read(buffer)) >= 0;) {
            digest.update(buffer, 0, n);
            total += n;
            if (policy.after() >= 0 && total >= policy.after()) {
                if (policy.reset()) {
                    reset();
                } else {
                    socket.close();
                }
                break;
            }
            // Holds the rate: reading ahead of it waits until the clock catches up.
            long ahead = policy.rate() == Long.MAX_VALUE ? 0 : (long) (total * 1e9 / policy.rate()) - (System.nanoTime() - start);
            if (ahead > 0) {
                sleep(Duration.ofNanos(ahead));
            }
        }
        return new Received(total, HexFormat.of().formatHex(digest.digest()), System.nanoTime());
    }

    private void follow(Policy policy) {
        try {
            accept(READ_DEADLINE);
            if (policy.neverRead()) {
                return; // holds the connection, unread, until closed
            }
            received.complete(read(policy, READ_DEADLINE));
            socket.close();
        } catch (IOException e) {
            received.completeExceptionally(e);
        }
    }

    /** What a {@link #serve serving} peer received, once the connection has ended (waits up to 60 s). */
    Received received() throws Exception {
        return received.get(READ_DEADLINE.toSeconds(), TimeUnit.SECONDS);
    }

    /**
     * Reads whatever is left on the connection after the sender gave up:
     * true if the stream ends in a reset, false if it ends in a clean
     * end-of-file (which would make a partial upload look complete).
     */
    boolean endsInReset(Duration deadline) throws IOException {
        return endsInReset(socket, deadline);
    }

    /** Aborts the connection: SO_LINGER 0 makes close send a reset instead of a FIN. */
    void reset() throws IOException {
        reset(socket);
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

    // ---- the sending side ----

    /** Connections a test holds open at once, all closed (quietly) with it. */
    public static final class Connections extends ArrayList<Socket> implements AutoCloseable {
        @Override
        public void close() {
            for (Socket socket : this) {
                try {
                    socket.close();
                } catch (IOException e) {
                    // Closed either way.
                }
            }
            clear();
        }
    }

    /**
     * Connects to 127.0.0.1:{@code port} and closes at once, for a peer that may refuse by resetting the
     * connection as soon as it has accepted it. That reset can reach the connecting thread before its connect
     * returns (on a loaded machine it often does), so a reset is no error here; a refused connection (nothing
     * listening) still is. What the peer made of the connection is for the test to check.
     */
    static void knock(int port) throws IOException {
        try {
            new Socket(InetAddress.getLoopbackAddress(), port).close();
        } catch (ConnectException e) {
            throw e;
        } catch (SocketException e) {
            // Accepted, then reset: the connection was made.
        }
    }

    /** A connection to 127.0.0.1:{@code port} whose reads give up after {@link #READ_DEADLINE}. */
    static Socket connect(int port) throws IOException {
        var socket = new Socket();
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 10_000);
        socket.setSoTimeout(Math.toIntExact(READ_DEADLINE.toMillis()));
        return socket;
    }

    /** Sends {@code data}, half-closes and waits for the receiver's confirming close (end of stream). */
    static void upload(int port, byte[] data) throws IOException {
        upload(null, InetAddress.getLoopbackAddress(), port, data);
    }

    /** As {@link #upload(int, byte[])}, from {@code from} (null: any local address) to {@code to}. */
    static void upload(InetAddress from, InetAddress to, int port, byte[] data) throws IOException {
        try (var socket = new Socket()) {
            if (from != null) {
                socket.bind(new InetSocketAddress(from, 0));
            }
            socket.connect(new InetSocketAddress(to, port), 10_000);
            socket.setSoTimeout(Math.toIntExact(READ_DEADLINE.toMillis()));
            socket.getOutputStream().write(data);
            finish(socket);
        }
    }

    /** Half-closes and asserts that the receiver then closes without a byte: the upload is confirmed. */
    static void finish(Socket socket) throws IOException {
        socket.shutdownOutput();
        awaitClose(socket);
    }

    /** Asserts that the receiver closes {@code socket} cleanly (end of stream), within its read deadline. */
    static void awaitClose(Socket socket) throws IOException {
        if (socket.getSoTimeout() == 0) {
            socket.setSoTimeout(Math.toIntExact(READ_DEADLINE.toMillis()));
        }
        assertThat(socket.getInputStream().read()).as("the receiver's confirming close").isEqualTo(-1);
    }

    /** Aborts {@code socket}: SO_LINGER 0 makes close send a reset instead of a FIN. */
    static void reset(Socket socket) throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    /** True if what is left on {@code socket} ends in a reset, false for a clean end of file. */
    static boolean endsInReset(Socket socket, Duration deadline) throws IOException {
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

    /**
     * Blocks until the receiver resets {@code socket} (ECONNRESET on read), how a
     * server ends an aborted upload, and returns {@link System#nanoTime()} then;
     * a clean close (end of stream), a byte, or nothing within {@code deadline}
     * fails the test.
     */
    public static long awaitReset(Socket socket, Duration deadline) {
        try {
            socket.setSoTimeout(Math.toIntExact(deadline.toMillis()));
            int read = socket.getInputStream().read();
            throw new AssertionError(read == -1
                    ? "expected a reset, but the server closed the connection cleanly (end of stream)"
                    : "expected a reset, but the server sent a byte (" + read + ")");
        } catch (SocketTimeoutException e) {
            throw new AssertionError("expected a reset within " + deadline + ", but the connection stayed open", e);
        } catch (SocketException e) {
            assertThat(e).as("how the connection ended").hasMessageContaining("Connection reset");
            return System.nanoTime();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What a watcher thread returned (waiting at most {@code deadline}), or its own failure rethrown. */
    public static <T> T resultOf(Future<T> watcher, Duration deadline) throws Exception {
        try {
            return watcher.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AssertionError failure) {
                throw failure;
            }
            throw e;
        }
    }

    private static void sleep(Duration time) {
        try {
            Thread.sleep(time);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
