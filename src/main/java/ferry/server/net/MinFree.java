package ferry.server.net;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.nio.file.FileStore;
import java.util.Locale;

/**
 * The free space FILE-DIR's file system must keep for a new upload to
 * start: a size ({@code 500M}, {@code 2GiB}, {@code 1048576}) or a share of
 * the file system ({@code 5%}). Checked at every accept with one
 * {@code statvfs}, so space freed by an operator is seen at the next
 * connection; an upload already running is never cut by it (one that fills
 * the disk fails as {@code write-failed}).
 *
 * @param bytes   the free bytes to keep, or 0 when {@code percent} is used
 * @param percent the share to keep, 0-100, or 0 when {@code bytes} is used
 * @param text    as the operator wrote it
 */
public record MinFree(long bytes, double percent, String text) {
    /** Parses a size with an optional unit (K, M, G, T; KiB, MiB, ...; powers of 1024) or a percentage. */
    public static MinFree parse(String label, String text) throws UserError {
        String bad = "invalid " + label + " " + Arguments.quote(text)
                + ": must be a size (e.g. 500M, 2G, 1048576) or a percentage (e.g. 5%)";
        String t = text.strip();
        try {
            if (t.endsWith("%")) {
                double percent = Double.parseDouble(t.substring(0, t.length() - 1));
                if (!(percent > 0 && percent < 100) || !t.matches("[0-9]+(\\.[0-9]+)?%")) {
                    throw UserError.usage(bad);
                }
                return new MinFree(0, percent, text);
            }
            var matcher = java.util.regex.Pattern.compile("([0-9]{1,18})\\s*([KMGT]?)(I?B)?")
                    .matcher(t.toUpperCase(Locale.ROOT));
            if (!matcher.matches() || matcher.group(3) != null && matcher.group(2).isEmpty()
                    && !matcher.group(3).equals("B")) {
                throw UserError.usage(bad);
            }
            int shift = switch (matcher.group(2)) {
                case "K" -> 10;
                case "M" -> 20;
                case "G" -> 30;
                case "T" -> 40;
                default -> 0;
            };
            long number = Long.parseLong(matcher.group(1));
            if (number < 1 || number > Long.MAX_VALUE >> shift) {
                throw UserError.usage(bad);
            }
            return new MinFree(number << shift, 0, text);
        } catch (NumberFormatException e) {
            throw UserError.usage(bad);
        }
    }

    /** The free bytes to keep on {@code store}. */
    long required(FileStore store) throws IOException {
        return percent > 0 ? (long) (store.getTotalSpace() * percent / 100) : bytes;
    }
}
