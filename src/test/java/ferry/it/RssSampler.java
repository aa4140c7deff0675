package ferry.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Samples a process's resident set size ({@code VmRSS} of
 * {@code /proc/PID/status}) every {@code interval} on a thread of its own
 * and keeps the peak; {@link #close()} stops it. The kernel's own high-water
 * mark ({@code VmHWM}) is read too: it catches a peak between two samples.
 */
final class RssSampler implements AutoCloseable {
    private final long pid;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile long peakKib;
    private volatile int samples;

    RssSampler(long pid, Duration interval) {
        this.pid = pid;
        this.thread = Thread.ofPlatform().daemon().name("rss-" + pid).start(() -> {
            while (running) {
                long rss = field(pid, "VmRSS");
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
