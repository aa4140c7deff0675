package ferry.server;

import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * The server's log on standard output: one line per event, each starting
 * with an RFC 3339 UTC timestamp (millisecond precision) and {@code ferry:}.
 * Lines from different threads never interleave ({@link PrintStream} is
 * synchronized).
 */
final class Log {
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSX").withZone(ZoneOffset.UTC);

    private final PrintStream out;

    Log(PrintStream out) {
        this.out = out;
    }

    /** Writes {@code text} as one line, stamped with the current time. */
    void line(String text) {
        line(Instant.now(), text);
    }

    void line(Instant time, String text) {
        out.println(TIME.format(time) + " ferry: " + text);
    }
}
