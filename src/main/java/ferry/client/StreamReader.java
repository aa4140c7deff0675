package ferry.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.Selector;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Reads a stream (pipe, FIFO, device, procfs file) on a thread of its own,
 * into two fixed buffers that it hands to the sender in turn, and wakes the
 * sender's selector whenever one is ready. So the sender waits for the
 * source and for the network at the same time: a source that produces
 * nothing for a while is not a stalled network, and a server that resets the
 * connection meanwhile is noticed at once. Memory is the two buffers,
 * whatever the length of the stream.
 */
final class StreamReader implements AutoCloseable {
    /**
     * Size of each of the two buffers: 128 KiB. A pipe holds 64 KiB by
     * default, so a read from one rarely fills even that; a device can.
     */
    static final int BUFFER_SIZE = 128 * 1024;
    /** What {@link #poll()} returns at the end of the stream (or after a read failed). */
    static final ByteBuffer END = ByteBuffer.allocate(0);

    private final ReadableByteChannel source;
    private final Selector selector;
    private final BlockingQueue<ByteBuffer> empty = new ArrayBlockingQueue<>(2);
    /** Filled buffers in order, then {@link #END}: at most both buffers and the end. */
    private final BlockingQueue<ByteBuffer> filled = new ArrayBlockingQueue<>(3);
    private final Thread thread;
    private volatile IOException failure;

    private StreamReader(ReadableByteChannel source, Selector selector) {
        this.source = source;
        this.selector = selector;
        empty.add(ByteBuffer.allocateDirect(BUFFER_SIZE));
        empty.add(ByteBuffer.allocateDirect(BUFFER_SIZE));
        this.thread = Thread.ofPlatform().name("ferry-source").daemon().unstarted(this::run);
    }

    /** Starts reading {@code source}; {@code selector} is woken whenever {@link #poll()} has something new. */
    static StreamReader start(ReadableByteChannel source, Selector selector) {
        var reader = new StreamReader(source, selector);
        reader.thread.start();
        return reader;
    }

    private void run() {
        try {
            while (true) {
                ByteBuffer buffer = empty.take();
                buffer.clear();
                int n;
                try {
                    n = source.read(buffer);
                } catch (IOException e) {
                    failure = e;
                    n = -1;
                }
                if (n == 0) {
                    // Only a non-blocking descriptor (inherited so) reads nothing without an end: wait a little.
                    empty.put(buffer);
                    Thread.sleep(10);
                    continue;
                }
                if (n < 0) {
                    filled.put(END);
                    selector.wakeup();
                    return;
                }
                buffer.flip();
                filled.put(buffer);
                selector.wakeup();
            }
        } catch (InterruptedException e) {
            // Closed: the sender gave up.
        }
    }

    /**
     * The next buffer of data, {@link #END} once the stream has ended, or
     * null while the source has produced nothing new. A buffer must be given
     * back with {@link #recycle} once sent.
     */
    ByteBuffer poll() {
        return filled.poll();
    }

    void recycle(ByteBuffer buffer) {
        empty.add(buffer);
    }

    /** Why the stream ended, if reading it failed rather than reaching its end; null otherwise. */
    IOException failure() {
        return failure;
    }

    /** Stops the reading thread, also while it waits in a read (the interrupt closes the source's channel). */
    @Override
    public void close() {
        thread.interrupt();
    }
}
