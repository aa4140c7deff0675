package ferry.server.net;

import ferry.common.Arguments;
import ferry.common.UserError;
import ferry.server.numbering.ConnectionCounter;
import ferry.server.report.Journal;
import ferry.server.report.Log;
import ferry.server.report.ServerEvents;
import ferry.server.store.SinkFactory;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A running server: the listening socket, the accept thread and the event
 * loops. Stops in order: the listening socket closes first, so no
 * connection is accepted after that, then every loop ends what it holds
 * (unfinished uploads as {@code ERROR}) within {@link EventLoop#STOP_GRACE_NANOS},
 * each writing its record.
 *
 * <p>A failure of a shared part that cannot be retried (an event loop's
 * selector) stops the whole server cleanly and {@link #failure()} says why,
 * so that it exits non-zero instead of serving on half alive.
 */
public final class FerryServer {
    /** Pending connections the kernel may queue before accept; capped by net.core.somaxconn. */
    private static final int BACKLOG = 4096;

    private final ServerSocketChannel channel;
    private final Thread acceptor;
    private final List<EventLoop> loops;
    private final List<Thread> loopThreads;
    private final Log log;
    private final BufferPool buffers;
    private final AtomicBoolean stopping = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile String failure;

    private final Journal journal;
    /** The uploads waiting for a descriptor, and the descriptors kept for them. */
    private final OpenBackoff backoff = new OpenBackoff();

    private FerryServer(ServerSocketChannel channel, NetConfig config, ConnectionCounter counter,
                        SinkFactory sinks, Log log, List<ServerEvents> watchers) throws IOException {
        this.channel = channel;
        this.log = log;
        this.journal = new Journal(log, watchers);
        int loopCount = Math.max(1, Runtime.getRuntime().availableProcessors());
        var slots = new Semaphore(config.maxConnections());
        this.buffers = new BufferPool((int) Math.max(1, config.bufferMemory() / BufferPool.CHUNK_SIZE));
        var loops = new ArrayList<EventLoop>(loopCount);
        var loopThreads = new ArrayList<Thread>(loopCount);
        for (int i = 1; i <= loopCount; i++) {
            var loop = new EventLoop("event loop " + i, config.idleTimeout(), config.maxDuration(), slots, log,
                    this::fail);
            loops.add(loop);
            loopThreads.add(Thread.ofPlatform().name("ferry-loop-" + i).daemon().start(loop));
        }
        this.loops = List.copyOf(loops);
        this.loopThreads = List.copyOf(loopThreads);
        var shared = new UploadContext(sinks, buffers, journal, backoff, config.maxBytes(), config.checksum(),
                config.tls());
        if (config.tls() != null) {
            config.tls().watch(log::line);
        }
        var admission = new Admission(config.access(), config.minFree(), config.directory(), journal);
        var listener = new Listener(channel, counter, this.loops, slots, shared, admission, log);
        this.acceptor = Thread.ofPlatform().name("ferry-accept").daemon()
                .uncaughtExceptionHandler((thread, e) -> fail("the accept loop failed: " + e))
                .start(listener);
    }

    /** Starts serving on a bound channel; closes it if the server cannot start. */
    public static FerryServer start(ServerSocketChannel channel, NetConfig config, ConnectionCounter counter,
                                    SinkFactory sinks, Log log, List<ServerEvents> watchers) throws UserError {
        try {
            return new FerryServer(channel, config, counter, sinks, log, watchers);
        } catch (IOException e) {
            closeQuietly(channel);
            throw UserError.failure("cannot start the server: " + Arguments.describe(e));
        }
    }

    /**
     * Binds the port on every interface, IPv4 and IPv6, or on {@code address}
     * alone when it is not null (the first thing the server does). An IPv4
     * address gets an IPv4 socket, not an IPv6 one on its mapped form
     * ({@code ::ffff:127.0.0.1}), and an IPv6 address an IPv6 socket, which,
     * bound to that one address, takes no IPv4 connection.
     */
    public static ServerSocketChannel bind(int port, InetAddress address) throws UserError {
        ServerSocketChannel channel = null;
        try {
            channel = address == null ? ServerSocketChannel.open() : ServerSocketChannel.open(
                    address instanceof Inet4Address ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6);
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            channel.bind(address == null ? new InetSocketAddress(port) : new InetSocketAddress(address, port),
                    BACKLOG);
            return channel;
        } catch (IOException e) {
            closeQuietly(channel);
            throw UserError.failure("cannot listen on " + (address == null ? "port " + port
                    : address.getHostAddress() + " port " + port) + ": " + Arguments.describe(e).toLowerCase());
        }
    }

    public static void closeQuietly(ServerSocketChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // Never served; nothing to release.
            }
        }
    }

    /** The port actually bound (differs from the configured one only for port 0 in tests). */
    public int port() {
        try {
            return ((InetSocketAddress) channel.getLocalAddress()).getPort();
        } catch (IOException e) {
            return -1;
        }
    }

    /** Read buffers allocated by all loops so far: never more than the buffer memory allows. */
    public int buffersAllocated() {
        return buffers.allocated();
    }

    /** Runs {@code event} on every event loop's thread (tests inject failures with it). */
    void postToLoops(Runnable event) {
        loops.forEach(loop -> loop.post(event));
    }

    /** Why the server stopped on its own, or null if it was asked to stop (or still runs). */
    public String failure() {
        return failure;
    }

    /** A shared part failed for good: log it and stop, on a thread of its own (the caller may be a loop). */
    private void fail(String reason) {
        if (failure == null) {
            failure = reason;
        }
        log.line("stopping: " + reason);
        Thread.ofPlatform().name("ferry-fatal-stop").daemon().start(this::stop);
    }

    /**
     * Stops accepting, ends every upload in flight (each file ends as
     * {@code ERROR}) and waits, bounded, for the threads to finish.
     *
     * @return true if this call did the stopping, false if another had already
     */
    public boolean stop() {
        if (!stopping.compareAndSet(false, true)) {
            awaitStopped();
            return false;
        }
        closeQuietly(channel);
        // Wakes the acceptor wherever it waits: for a slot, in a back-off, or in its selector for a connection.
        acceptor.interrupt();
        long deadline = System.nanoTime() + EventLoop.STOP_GRACE_NANOS;
        join(acceptor, deadline);
        loops.forEach(loop -> loop.stop(deadline));
        // The loops end at the deadline on their own; the extra half second covers their last records.
        loopThreads.forEach(thread -> join(thread, deadline + 500_000_000L));
        backoff.close();
        // Hooks of the last uploads run on within the same grace, then are ended.
        journal.close(deadline);
        stopped.countDown();
        return true;
    }

    /** Blocks until {@link #stop} has finished. */
    public void awaitStopped() {
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void join(Thread thread, long deadline) {
        try {
            thread.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
