package ferry.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Samples a process's resident set size ({@code VmRSS} of
 * {@code /proc/PID/status}), or a process tree's ({@link #tree}), every
 * {@code interval} on a thread of its own and keeps the peak; {@link #close()} stops it. The kernel's own high-water
 * mark ({@code VmHWM}) is read too: it catches a peak between two samples.
 */
final class RssSampler implements AutoCloseable {
    private final long pid;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile long peakKib;
    private volatile int samples;

    RssSampler(long pid, Duration interval) {
        this(pid, interval, () -> field(pid, "VmRSS"));
    }

    /**
     * Samples the sum of the resident sets of {@code root} and all its
     * descendants (a launcher and its JVM, say), found again at each sample;
     * {@link #highWaterMib()} is then the root's own.
     */
    static RssSampler tree(ProcessHandle root, Duration interval) {
        return new RssSampler(root.pid(), interval, () -> treeKib(root));
    }

    /** VmRSS of {@code root} and its descendants, in KiB, or -1 once the root is gone. */
    static long treeKib(ProcessHandle root) {
        long sum = field(root.pid(), "VmRSS");
        if (sum < 0) {
            return -1;
        }
        for (ProcessHandle child : root.descendants().toList()) {
            sum += Math.max(0, field(child.pid(), "VmRSS"));
        }
        return sum;
    }

    private RssSampler(long pid, Duration interval, java.util.function.LongSupplier kib) {
        this.pid = pid;
        this.thread = Thread.ofPlatform().daemon().name("rss-" + pid).start(() -> {
            while (running) {
                long rss = kib.getAsLong();
                if (rss < 0) {
                    return; // the process is gone
                }
                peakKib = Math.max(peakKib, rss);
                samples++;
                try {
                    Thread.sleep(interval.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    /** A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1 once the process is gone. */
    static long field(long pid, String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith(name + ":")) {
                    return Long.parseLong(line.substring(name.length() + 1).replace("kB", "").strip());
                }
            }
            return -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /** The highest VmRSS sampled so far, in MiB. */
    long peakMib() {
        return peakKib >> 10;
    }

    /** The kernel's high-water mark of the resident set, in MiB (-1 once the process is gone). */
    long highWaterMib() {
        long hwm = field(pid, "VmHWM");
        return hwm < 0 ? -1 : hwm >> 10;
    }

    int samples() {
        return samples;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
