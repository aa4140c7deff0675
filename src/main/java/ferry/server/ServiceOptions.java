package ferry.server;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * What an operator may switch on beyond the spec; each is off (or the spec's
 * behaviour) by default.
 *
 * @param listen    the one address to bind, or null for every interface, IPv4 and IPv6 (S1)
 * @param access    who may connect; {@link AccessRules#EVERYONE} by default
 * @param minFree   the free space FILE-DIR's file system must keep for an upload to start, or null
 * @param checksum  compute each upload's SHA-256 as its bytes arrive
 * @param fsync     put a complete upload's file and directory entry on stable storage before confirming it
 * @param logFormat text (the default) or one JSON object per line
 * @param hook      the command run after each upload, or null
 * @param metrics   the address of the Prometheus endpoint, or null for none
 * @param counter   the shared counter's database, or null for the embedded local counter
 */
record ServiceOptions(InetAddress listen, AccessRules access, MinFree minFree, boolean checksum, boolean fsync,
                      LogFormat logFormat, HookOptions hook, InetSocketAddress metrics,
                      CounterOptions counter) {
    /** The spec's behaviour: every interface, everyone, no checks beyond it, a text log. */
    static final ServiceOptions DEFAULTS =
            new ServiceOptions(null, AccessRules.EVERYONE, null, false, false, LogFormat.TEXT, null, null, null);

    /** How the log is written. */
    enum LogFormat {
        /** {@code <time> ferry: key=value ...}, one line per event. */
        TEXT,
        /** One JSON object per line. */
        JSON
    }

    /**
     * The upload hook.
     *
     * @param command a shell command line; the file's path is appended as its last argument
     * @param jobs    hooks running at once, at most; more wait their turn
     * @param timeout a hook still running after this is ended (SIGTERM, then SIGKILL)
     */
    record HookOptions(String command, int jobs, Duration timeout) {
    }

    /**
     * The shared counter's database ({@code --counter}), parsed without loading anything of JDBC.
     *
     * @param jdbcUrl  {@code jdbc:postgresql://HOST:PORT/DB[?PARAMS]}, with no user or password in it
     * @param user     the user name, or null for the driver's default (or one in PARAMS)
     * @param password the password, or null
     * @param shown    the URL as the log shows it: the password masked
     */
    record CounterOptions(String jdbcUrl, String user, String password, String shown) {
        @Override
        public String toString() {
            return shown;
        }
    }
}
