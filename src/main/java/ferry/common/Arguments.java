package ferry.common;

import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;

/** Checks of command-line and environment values shared by the server and the client. */
public final class Arguments {
    private Arguments() {
    }

    /** Parses a TCP port, 1 to 65535, written in decimal digits only. */
    public static int port(String text) throws UserError {
        if (text.isEmpty() || text.length() > 5 || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw UserError.usage("invalid port " + quote(text) + ": must be a number from 1 to 65535");
        }
        int port = Integer.parseInt(text);
        if (port < 1 || port > 65535) {
            throw UserError.usage("invalid port " + quote(text) + ": must be a number from 1 to 65535");
        }
        return port;
    }

    /**
     * Parses {@code text} as a whole number from 1 to {@code max}; the message
     * names the option as {@code label} (its flag or its variable).
     */
    public static long number(String label, String text, String what, long max) throws UserError {
        long value = 0;
        boolean valid = text.length() <= 19 && !text.isEmpty() && text.chars().allMatch(c -> c >= '0' && c <= '9');
        if (valid) {
            try {
                value = Long.parseLong(text);
            } catch (NumberFormatException e) {
                valid = false; // 19 digits can still overflow a long
            }
        }
        if (!valid || value < 1 || value > max) {
            throw UserError.usage("invalid " + label + " " + quote(text) + ": must be " + what + " from 1 to " + max);
        }
        return value;
    }

    /** Quotes a user-supplied value for a message, escaping control characters. */
    public static String quote(String text) {
        StringBuilder quoted = new StringBuilder(text.length() + 2).append('"');
        text.codePoints().forEach(c -> {
            if (c < 0x20 || c == 0x7f) {
                quoted.append(String.format("\\x%02x", c));
            } else {
                quoted.appendCodePoint(c);
            }
        });
        return quoted.append('"').toString();
    }

    /** Says in plain words what an I/O failure was, without a class name or stack trace. */
    public static String describe(Exception e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof FileSystemException fs && fs.getReason() != null) {
            return fs.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** Formats a duration for a message: "10 s", "1.5 s", "250 ms". */
    public static String seconds(Duration duration) {
        long millis = duration.toMillis();
        if (millis < 1000) {
            return millis + " ms";
        }
        return (millis % 1000 == 0 ? String.valueOf(millis / 1000) : String.valueOf(millis / 1000.0)) + " s";
    }
}
