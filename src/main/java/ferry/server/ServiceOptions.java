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
 */
record ServiceOptions(InetAddress listen, AccessRules access, MinFree minFree, boolean checksum, boolean fsync,
                      LogFormat logFormat, HookOptions hook, InetSocketAddress metrics) {
    /** The spec's behaviour: every interface, everyone, no checks beyond it, a text log. */
    static final ServiceOptions DEFAULTS =
            new ServiceOptions(null, AccessRules.EVERYONE, null, false, false, LogFormat.TEXT, null, null);

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

    ServiceOptions withListen(InetAddress address) {
        return new ServiceOptions(address, access, minFree, checksum, fsync, logFormat, hook, metrics);
    }

    ServiceOptions withAccess(AccessRules rules) {
        return new ServiceOptions(listen, rules, minFree, checksum, fsync, logFormat, hook, metrics);
    }

    ServiceOptions withMinFree(MinFree free) {
        return new ServiceOptions(listen, access, free, checksum, fsync, logFormat, hook, metrics);
    }

    ServiceOptions withChecksum(boolean on) {
        return new ServiceOptions(listen, access, minFree, on, fsync, logFormat, hook, metrics);
    }

    ServiceOptions withFsync(boolean on) {
        return new ServiceOptions(listen, access, minFree, checksum, on, logFormat, hook, metrics);
    }

    ServiceOptions withLogFormat(LogFormat format) {
        return new ServiceOptions(listen, access, minFree, checksum, fsync, format, hook, metrics);
    }

    ServiceOptions withHook(HookOptions options) {
        return new ServiceOptions(listen, access, minFree, checksum, fsync, logFormat, options, metrics);
    }

    ServiceOptions withMetrics(InetSocketAddress address) {
        return new ServiceOptions(listen, access, minFree, checksum, fsync, logFormat, hook, address);
    }
}
