package ferry.client;

import java.io.PrintStream;

/**
 * The progress line on standard error, for a terminal only (as curl and pv):
 * bytes sent, and the size and percentage when it is known, the rate over
 * the last two seconds, and the time left when the size is known; rewritten
 * in place with {@code \r} by a daemon thread of its own that reads what the
 * {@link Sender} publishes. The line ends as the summary line once the server
 * has confirmed, or with a newline before an {@code ERROR:} line, so that
 * the error starts on a line of its own. Neither this class nor its thread
 * exists when standard error is not a terminal or with {@code --quiet}.
 *
 * <p>Also home of the summary line that {@code --verbose} prints.
 */
final class Progress {
    /** Time between redraws: 250 ms, four a second. */
    private static final long INTERVAL_NANOS = 250_000_000L;
    /** Redraws the rate is measured over: the last 8, two seconds, so that it follows changes without jitter. */
    private static final int WINDOW = 8;
    /**
     * Longest line drawn: 79 characters. A line wider than the terminal
     * wraps, and {@code \r} would then rewrite only its last row.
     */
    private static final int WIDTH = 79;

    private final Sender sender;
    private final String server;
    private final PrintStream err;
    // Samples of (time, bytes sent), one per redraw, in a ring: the rate is taken over the window.
    private final long[] times = new long[WINDOW + 1];
    private final long[] bytes = new long[WINDOW + 1];
    private int samples;
    // Guarded by this: the length of the line on the screen (0: none), and whether the line is done.
    private int drawn;
    private String shown = "";
    private boolean closed;

    private Progress(Sender sender, String server, PrintStream err) {
        this.sender = sender;
        this.server = server;
        this.err = err;
    }

    /** Starts redrawing the line for {@code sender}'s upload to {@code server} on {@code err}. */
    static Progress start(Sender sender, String server, PrintStream err) {
        var progress = new Progress(sender, server, err);
        progress.sample(System.nanoTime());
        Thread.ofPlatform().name("ferry-progress").daemon().start(progress::run);
        // Interrupted (Ctrl-C): the shell's prompt must not follow a half-drawn line.
        Runtime.getRuntime().addShutdownHook(new Thread(progress::end, "ferry-progress-end"));
        return progress;
    }

    private synchronized void run() {
        long next = System.nanoTime() + INTERVAL_NANOS;
        try {
            while (!closed) {
                long now = System.nanoTime();
                long wait = next - now;
                if (wait > 0) {
                    wait(wait / 1_000_000, (int) (wait % 1_000_000));
                    continue;
                }
                draw(line(now));
                next = now + INTERVAL_NANOS;
            }
        } catch (InterruptedException e) {
            // Not interrupted by ferry; ends the redraws.
        }
    }

    /** Replaces the line with the summary, for good. */
    synchronized void succeeded(String summary) {
        if (closed) {
            return;
        }
        closed = true;
        notifyAll();
        err.print("\r" + summary + " ".repeat(Math.max(0, drawn - summary.length())) + "\n");
        err.flush();
        drawn = 0;
    }

    /** Ends the line where it stands (it tells how far the upload got), so that an ERROR: line can follow. */
    synchronized void end() {
        if (closed) {
            return;
        }
        closed = true;
        notifyAll();
        if (drawn > 0) {
            err.print("\n");
            err.flush();
            drawn = 0;
        }
    }

    private void draw(String line) {
        if (line.length() > WIDTH) {
            line = line.substring(0, WIDTH - 3) + "...";
        }
        if (line.equals(shown)) {
            return;
        }
        err.print("\r" + line + " ".repeat(Math.max(0, drawn - line.length())));
        err.flush();
        shown = line;
        drawn = line.length();
    }

    /** The line at {@code now}, from what the sender published. */
    private String line(long now) {
        int phase = sender.phase(); // first: once it reads CONFIRMING, the count read next is the final one
        long rate = sample(now);
        long sent = bytes[(samples - 1) % bytes.length];
        long size = sender.size();
        return switch (phase) {
            case Sender.OPENING -> "";
            case Sender.CONNECTING -> "connecting to " + server + " ...";
            case Sender.CONFIRMING -> "sent all " + size(sent) + "; waiting for " + server + " to confirm";
            default -> size < 0
                    ? "sending: " + size(sent) + ", " + size(rate) + "/s"
                    : "sending: " + size(sent) + " of " + size(size) + " (" + percent(sent, size) + "%), "
                            + size(rate) + "/s, ETA " + eta(size - sent, rate);
        };
    }

    /** Records the bytes sent at {@code now}; returns the rate in bytes per second over the window. */
    private long sample(long now) {
        int slot = samples % times.length;
        times[slot] = now;
        bytes[slot] = sender.sent();
        samples++;
        int oldest = samples > times.length ? samples % times.length : 0;
        long nanos = now - times[oldest];
        return nanos <= 0 ? 0 : (long) ((bytes[slot] - bytes[oldest]) * 1e9 / nanos);
    }

    /**
     * The summary line of a confirmed upload, e.g. {@code sent 104857600 bytes
     * (100.0 MiB) to host:9000 in 0.41 s (243.9 MiB/s); confirmed}.
     *
     * @param nanos from the start of the upload (name lookup included) to the server's confirmation
     */
    static String summary(long sent, String server, long nanos) {
        double seconds = Math.max(nanos, 1) / 1e9;
        return "sent " + sent + (sent == 1 ? " byte" : " bytes") + (sent >= 1024 ? " (" + size(sent) + ")" : "")
                + " to " + server + " in " + decimals(seconds, 2) + " s (" + size((long) (sent / seconds))
                + "/s); confirmed";
    }

    /** A size in binary units with one decimal: {@code 500 B}, {@code 1.5 KiB}, {@code 100.0 MiB}. */
    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String units = "KMGTPE";
        double value = bytes;
        int unit = -1;
        // Rounds up into the next unit rather than show 1024.0 KiB.
        while (unit + 1 < units.length() && value >= 1023.95) {
            value /= 1024;
            unit++;
        }
        return decimals(value, 1) + " " + units.charAt(unit) + "iB";
    }

    /** Whole percent, rounded down: 100 only once all is sent. */
    static long percent(long sent, long size) {
        // A double rounds a nearly complete upload of a huge file up to 100: cap until it is complete.
        return sent >= size ? 100 : Math.min(99, (long) Math.floor(sent * 100.0 / size));
    }

    /** The time left at {@code rate} bytes a second, {@code m:ss} or {@code h:mm:ss}; {@code --:--} when stalled. */
    static String eta(long left, long rate) {
        if (rate <= 0) {
            return "--:--";
        }
        long seconds = (left + rate - 1) / rate;
        long minutes = seconds / 60;
        String tail = (seconds % 60 < 10 ? ":0" : ":") + seconds % 60;
        return minutes < 60 ? minutes + tail : minutes / 60 + (minutes % 60 < 10 ? ":0" : ":") + minutes % 60 + tail;
    }

    /** {@code value} with {@code places} decimals (1 or 2), without java.util.Formatter, which is slow to load. */
    static String decimals(double value, int places) {
        long scale = places == 1 ? 10 : 100;
        long scaled = Math.round(value * scale);
        String fraction = Long.toString(scaled % scale);
        while (fraction.length() < places) {
            fraction = "0" + fraction;
        }
        return scaled / scale + "." + fraction;
    }
}
