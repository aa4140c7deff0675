package ferry.server.numbering;

import ferry.common.Arguments;
import ferry.common.UserError;

/**
 * The shared counter's database ({@code --counter}), parsed without loading anything of JDBC.
 *
 * @param jdbcUrl  {@code jdbc:postgresql://HOST:PORT/DB[?PARAMS]}, with no user or password in it
 * @param user     the user name, or null for the driver's default (or one in PARAMS)
 * @param password the password, or null
 * @param shown    the URL as the log shows it: the password masked
 */
public record CounterOptions(String jdbcUrl, String user, String password, String shown) {
    /** {@code :PORT}, then the path, query or fragment, if any. */
    private static final java.util.regex.Pattern PORT_AND_REST = java.util.regex.Pattern.compile(":[0-9]*([/?#].*)?",
            java.util.regex.Pattern.DOTALL);

    @Override
    public String toString() {
        return shown;
    }

    /**
     * A PostgreSQL URL, libpq's {@code postgresql://[USER[:PASSWORD]@]HOST[:PORT][/DB][?PARAMS]}
     * ({@code postgres://} too) or the driver's {@code jdbc:postgresql://...}; user and password
     * percent-encoded, as libpq wants them. Checked as text only: nothing of JDBC is loaded here.
     */
    public static CounterOptions parse(String label, String text) throws UserError {
        String rest = text.startsWith("jdbc:") ? text.substring("jdbc:".length()) : text;
        String problem = null;
        java.net.URI uri = null;
        try {
            uri = new java.net.URI(rest);
        } catch (java.net.URISyntaxException e) {
            problem = e.getReason();
        }
        if (uri != null) {
            String scheme = uri.getScheme();
            if (scheme == null || !(scheme.equalsIgnoreCase("postgresql") || scheme.equalsIgnoreCase("postgres"))) {
                problem = "not a postgresql:// URL";
            } else if (uri.getHost() == null || uri.getHost().isEmpty()) {
                problem = "no host (or not a valid one)";
            } else if (uri.getRawFragment() != null) {
                problem = "a URL with a #fragment";
            } else if ((uri.getRawPath() != null && uri.getRawPath().indexOf('@') >= 0)
                    || (uri.getRawQuery() != null && uri.getRawQuery().indexOf('@') >= 0)) {
                // Most likely a password whose unencoded / or ? ended the host early: never shown, never used.
                problem = "an @ after the host (write an @, /, ?, # or : of the user or password as %40, %2F, %3F,"
                        + " %23, %3A)";
            } else if (uri.getRawPath() != null && uri.getRawPath().length() > 1
                    && uri.getRawPath().indexOf('/', 1) >= 0) {
                problem = "the database name has a /";
            }
        }
        if (problem != null) {
            throw UserError.usage("invalid " + label + " " + Arguments.quote(masked(text))
                    + ": " + problem + "; must be postgresql://USER:PASSWORD@HOST:PORT/DB");
        }
        String user = null;
        String password = null;
        String userInfo = uri.getRawUserInfo();
        if (userInfo != null) {
            int colon = userInfo.indexOf(':');
            user = decode(colon < 0 ? userInfo : userInfo.substring(0, colon));
            password = colon < 0 ? null : decode(userInfo.substring(colon + 1));
        }
        int port = uri.getPort() < 0 ? 5432 : uri.getPort();
        String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
        String query = uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery();
        String jdbc = "jdbc:postgresql://" + uri.getHost() + ":" + port + path + query;
        String shown = uri.getScheme() + "://" + (user == null ? "" : user + (password == null ? "" : ":***") + "@")
                + uri.getHost() + ":" + port + path + masked(query);
        return new CounterOptions(jdbc, user, password, shown);
    }

    /**
     * {@code text} as an error may show it: the password of the URL's user
     * part, and of any {@code password=} parameter, as {@code ***}. Made for
     * text that is no valid URL, so it trusts no structure: the user part is
     * whatever lies between {@code ://} (or the start) and the last {@code @},
     * since a password may hold an unencoded {@code /}, {@code ?}, {@code #},
     * {@code :} or {@code @}; an {@code @} in the query only hides more.
     */
    static String masked(String text) {
        String shown = text;
        int at = text.lastIndexOf('@');
        int scheme = text.indexOf("://");
        if (at >= 0) {
            int start = scheme >= 0 && scheme < at ? scheme + 3 : 0;
            int colon = text.indexOf(':', start);
            if (colon >= 0 && colon < at) {
                shown = text.substring(0, colon) + ":***" + text.substring(at);
            }
        } else {
            // No @, so no user part: yet "USER:PASSWORD" with the host forgotten reads as HOST:PORT.
            // What follows the host's colon is shown only when it is a port.
            int start = scheme >= 0 ? scheme + 3 : 0;
            int colon = text.startsWith("[", start) ? text.indexOf("]:", start) + 1 : text.indexOf(':', start);
            if (colon > 0 && !PORT_AND_REST.matcher(text).region(colon, text.length()).matches()) {
                shown = text.substring(0, colon) + ":***";
            }
        }
        // A parameter's value ends at the next "&name=": an unencoded & inside the password stays hidden.
        return shown.replaceAll("(?i)(password=)(?:[^&]|&(?![A-Za-z_]+=))*", "$1***");
    }

    private static String decode(String text) {
        return java.net.URLDecoder.decode(text.replace("+", "%2B"), java.nio.charset.StandardCharsets.UTF_8);
    }
}
