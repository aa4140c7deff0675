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
 * @param s3        the object storage FILE-DIR names ({@code s3://BUCKET/PREFIX}), or null for a directory
 */
record ServiceOptions(InetAddress listen, AccessRules access, MinFree minFree, boolean checksum, boolean fsync,
                      LogFormat logFormat, HookOptions hook, InetSocketAddress metrics,
                      CounterOptions counter, S3Options s3) {
    /** The spec's behaviour: every interface, everyone, no checks beyond it, a text log. */
    static final ServiceOptions DEFAULTS =
            new ServiceOptions(null, AccessRules.EVERYONE, null, false, false, LogFormat.TEXT, null, null, null, null);

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

    /**
     * Object storage in place of FILE-DIR, parsed without loading anything of the S3 SDK.
     * Endpoint, region and credentials come from the standard AWS variables and profiles.
     *
     * @param bucket    the bucket
     * @param prefix    the key prefix, without a slash at either end; empty for the bucket's top
     * @param partSize  bytes of one multipart part (whole MiB, at least 5 MiB)
     * @param memory    bytes of part buffers for the whole server (at least two parts)
     * @param pathStyle address the bucket in the path ({@code http://host/bucket/key}) whatever the endpoint;
     *                  otherwise only for an endpoint that is an IP address or localhost
     */
    record S3Options(String bucket, String prefix, int partSize, long memory, boolean pathStyle) {
        /** Parts of 8 MiB, as the AWS CLI's. */
        static final int DEFAULT_PART_MIB = 8;
        /** 256 MiB of part buffers: 32 parts of 8 MiB. */
        static final int DEFAULT_MEMORY_MIB = 256;

        /** The object of connection {@code number}: {@code PREFIX/N.file}. */
        String key(long number) {
            return prefix.isEmpty() ? number + ".file" : prefix + "/" + number + ".file";
        }

        /** {@code s3://BUCKET/PREFIX}, as the log shows it. */
        @Override
        public String toString() {
            return "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix);
        }
    }
}
