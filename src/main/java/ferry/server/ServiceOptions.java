package ferry.server;

import ferry.server.net.AccessRules;
import ferry.server.net.MinFree;
import ferry.server.numbering.CounterOptions;
import ferry.server.report.HookOptions;
import ferry.server.report.LogFormat;
import ferry.server.store.S3Options;
import ferry.server.tls.ServerTls;
import java.net.InetAddress;
import java.net.InetSocketAddress;

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
 * @param s3        the object storage FILE-DIR names ({@code s3://BUCKET/PREFIX}), or null for a directory
 * @param tls       the server's TLS ({@code --tls-cert}, {@code --tls-key}), or null for plain TCP
 */
record ServiceOptions(InetAddress listen, AccessRules access, MinFree minFree, boolean checksum, boolean fsync,
                      LogFormat logFormat, HookOptions hook, InetSocketAddress metrics,
                      CounterOptions counter, S3Options s3, ServerTls tls) {
    /** Plain TCP. */
    ServiceOptions(InetAddress listen, AccessRules access, MinFree minFree, boolean checksum, boolean fsync,
                   LogFormat logFormat, HookOptions hook, InetSocketAddress metrics,
                   CounterOptions counter, S3Options s3) {
        this(listen, access, minFree, checksum, fsync, logFormat, hook, metrics, counter, s3, null);
    }

    /** The spec's behaviour: every interface, everyone, no checks beyond it, a text log. */
    static final ServiceOptions DEFAULTS =
            new ServiceOptions(null, AccessRules.EVERYONE, null, false, false, LogFormat.TEXT, null, null, null, null);
}
