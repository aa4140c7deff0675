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

    /** {@code text} with the password of a URL's user part, and any {@code password=} parameter, as {@code ***}. */
    static String masked(String text) {
        return text.replaceAll("(://[^:/@?#]*:)[^@/?#]*@", "$1***@").replaceAll("(?i)(password=)[^&]*", "$1***");
    }

    private static String decode(String text) {
        return java.net.URLDecoder.decode(text.replace("+", "%2B"), java.nio.charset.StandardCharsets.UTF_8);
    }
}
