package ferry.common;

import java.util.List;
import java.util.Random;

/**
 * Random argument strings of the kinds that break command-line tools: numbers
 * out of range or too long for any integer type, signs, spaces, empty
 * strings, digits of other scripts, control characters, IPv6 literals with and
 * without brackets, shell and format metacharacters, very long strings.
 */
public final class HostileStrings {
    private static final List<String> PIECES = List.of(
            "", "0", "1", "65535", "65536", "-1", "+80", "99999999999999999999999", "2147483648", "9223372036854775808",
            " ", "\t", "\n", "\u0001", "\u007f", "٨٠", "８０", "é", "😀", "\u202e", "%", "%s", "%n", "$(id)", "`id`",
            "'", "\"", "\\", "/", "..", "~", "*", "?", ";", "|", "&", "-", "--", "--help", "-h",
            "[", "]", ":", "::", "::1", "[::1]", "fe80::1%lo", "[fe80::1%25lo]", "127.0.0.1", "256.1.1.1", "1.2.3",
            "0x50", "1e3", "80.0", "localhost", "a b", "x".repeat(300), "0".repeat(40) + "80", "\u0000".replace('\u0000', '0'));

    private HostileStrings() {
    }

    /** One random string of one to four pieces; empty now and then. */
    public static String next(Random random) {
        int pieces = random.nextInt(5);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < pieces; i++) {
            text.append(PIECES.get(random.nextInt(PIECES.size())));
        }
        if (random.nextInt(20) == 0) {
            text.append("y".repeat(5000));
        }
        return text.toString();
    }
}
