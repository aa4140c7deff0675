package ferry.server.report;

import ferry.common.Arguments;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;

/**
 * The server's log on standard output: one line per event. As text (the
 * default) each line starts with an RFC 3339 UTC timestamp (millisecond
 * precision) and {@code ferry:}, then the message or {@code key=value}
 * fields; as JSON each line is one object with {@code time} and
 * {@code event} first. Lines from different threads never interleave
 * ({@link PrintStream} is synchronized).
 */
public final class Log {
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSX").withZone(ZoneOffset.UTC);

    private final PrintStream out;
    private final LogFormat format;

    public Log(PrintStream out) {
        this(out, LogFormat.TEXT);
    }

    public Log(PrintStream out, LogFormat format) {
        this.out = out;
        this.format = format;
    }

    /** Writes {@code text} as one line, stamped with the current time (in JSON: event {@code notice}). */
    public void line(String text) {
        notice("notice", text);
    }

    /** A message of a kind ({@code listening}, {@code stopped} ...): as text only the message shows. */
    public void notice(String event, String text) {
        Instant now = Instant.now();
        if (format == LogFormat.JSON) {
            out.println(Json.object(Map.of("time", TIME.format(now), "event", event, "message", text),
                    "time", "event", "message"));
        } else {
            out.println(TIME.format(now) + " ferry: " + text);
        }
    }

    /**
     * An event with fields. As text: {@code text} (its fields as the text log
     * has always written them); as JSON: {@code fields} after time and event,
     * in their map's order, null values left out.
     */
    void event(Instant time, String event, String text, Map<String, Object> fields) {
        if (format == LogFormat.JSON) {
            var all = new java.util.LinkedHashMap<String, Object>();
            all.put("time", TIME.format(time));
            all.put("event", event);
            all.putAll(fields);
            out.println(Json.object(all));
        } else {
            out.println(TIME.format(time) + " ferry: " + text);
        }
    }

    /** A failure in plain words: an I/O error's message, or for anything else its type too. */
    public static String describe(Throwable e) {
        if (e instanceof IOException io) {
            return Arguments.describe(io);
        }
        return "unexpected failure: " + e;
    }
}
