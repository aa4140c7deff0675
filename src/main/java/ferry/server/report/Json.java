package ferry.server.report;

import java.util.Map;

/**
 * Writes the log's flat JSON objects (RFC 8259): string, number and boolean
 * values, nulls left out. Twenty lines do this; a JSON library would be the
 * server's only run-time dependency for it.
 */
final class Json {
    private Json() {
    }

    /** The entries of {@code fields} in its iteration order. */
    static String object(Map<String, ?> fields) {
        var json = new StringBuilder(200).append('{');
        fields.forEach((key, value) -> append(json, key, value));
        return json.append('}').toString();
    }

    /** The entries named in {@code order}, in that order (for maps without one). */
    static String object(Map<String, ?> fields, String... order) {
        var json = new StringBuilder(200).append('{');
        for (String key : order) {
            append(json, key, fields.get(key));
        }
        return json.append('}').toString();
    }

    private static void append(StringBuilder json, String key, Object value) {
        if (value == null) {
            return;
        }
        if (json.length() > 1) {
            json.append(',');
        }
        string(json, key);
        json.append(':');
        if (value instanceof Number || value instanceof Boolean) {
            json.append(value);
        } else {
            string(json, value.toString());
        }
    }

    static void string(StringBuilder json, String text) {
        json.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> json.append("\\\"");
                case '\\' -> json.append("\\\\");
                case '\n' -> json.append("\\n");
                case '\r' -> json.append("\\r");
                case '\t' -> json.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        json.append('"');
    }
}
