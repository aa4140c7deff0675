package ferry.server;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
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
 * loops. Stops in order: the listening socket closes first, so no connection
 * is accepted after that, then every loop aborts what it holds.
 */
final class FerryServer {
    /** Pending connections the kernel may queue before accept; capped by net.core.somaxconn. */
    private static final int BACKLOG = 4096;
    /** How long {@link #stop} waits in all for the threads to finish aborting uploads. */
    private static final long STOP_GRACE_NANOS = 3_000_000_000L;

    private final ServerSocketChannel channel;
    private final Thread acceptor;
    private final List<EventLoop> loops;
    private final List<Thread> loopThreads;
    private final AtomicBoolean stopping = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);

    private FerryServer(ServerSocketChannel channel, Thread acceptor, List<EventLoop> loops, List<Thread> loopThreads) {
        this.channel = channel;
        this.acceptor = acceptor;
        this.loops = loops;
        this.loopThreads = loopThreads;
    }

    /** Binds the port on every interface, IPv4 and IPv6, and starts serving. */
    static FerryServer start(ServerConfig config, ConnectionCounter counter, SinkFactory sinks, PrintStream log)
            throws UserError {
        ServerSocketChannel channel = bind(config.port());
        int loopCount = Math.max(1, Runtime.getRuntime().availableProcessors());
        var loops = new ArrayList<EventLoop>(loopCount);
        var loopThreads = new ArrayList<Thread>(loopCount);
        var slots = new Semaphore(config.maxConnections());
        for (int i = 1; i <= loopCount; i++) {
            var loop = new EventLoop(config, slots, log);
            loops.add(loop);
            loopThreads.add(Thread.ofPlatform().name("ferry-loop-" + i).daemon().start(loop));
        }
        var listener = new Listener(channel, counter, sinks, List.copyOf(loops), slots, log);
        Thread acceptor = Thread.ofPlatform().name("ferry-accept").daemon().start(listener);
        return new FerryServer(channel, acceptor, List.copyOf(loops), List.copyOf(loopThreads));
    }

    private static ServerSocketChannel bind(int port) throws UserError {
        ServerSocketChannel channel = null;
        try {
            channel = ServerSocketChannel.open();
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            channel.bind(new InetSocketAddress(port), BACKLOG);
            return channel;
        } catch (IOException e) {
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // Never bound; nothing to release.
                }
            }
            throw UserError.failure("cannot listen on port " + port + ": " + Arguments.describe(e).toLowerCase());
        }
    }

    /** The port actually bound (differs from the configured one only for port 0 in tests). */
    int port() {
        try {
            return ((InetSocketAddress) channel.getLocalAddress()).getPort();
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * Stops accepting, aborts every upload in flight (each file ends as
     * {@code ERROR}) and waits, bounded, for the threads to finish.
     *
     * @return true if this call did the stopping, false if another had already
     */
    boolean stop() {
        if (!stopping.compareAndSet(false, true)) {
            awaitStopped();
            return false;
        }
        try {
            channel.close();
        } catch (IOException e) {
            // The port is released with the process in any case.
        }
        // Wakes the acceptor if it waits for a slot or backs off; accept itself ends with the close.
        acceptor.interrupt();
        long deadline = System.nanoTime() + STOP_GRACE_NANOS;
        join(acceptor, deadline);
        loops.forEach(EventLoop::stop);
        loopThreads.forEach(thread -> join(thread, deadline));
        stopped.countDown();
        return true;
    }

    /** Blocks until {@link #stop} has finished. */
    void awaitStopped() {
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void join(Thread thread, long deadline) {
        try {
            thread.join(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
