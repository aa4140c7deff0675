package ferry.server;

import ferry.server.net.NetConfig;
import java.nio.file.Path;
import java.time.Duration;

/**
 * What the server needs to run.
 *
 * @param port           TCP port to listen on, all interfaces
 * @param directory      where N.file goes; null when it goes to object storage ({@link ServiceOptions#s3()})
 * @param idleTimeout    a connection silent for longer is aborted; default 10 s
 * @param maxConnections uploads served at once; further connections wait in the
 *                       kernel's accept queue until one ends; default from the
 *                       file-descriptor limit ({@link ServerArgs#defaultMaxConnections})
 * @param maxBytes       an upload larger than this is aborted; 0 for no limit (the default)
 * @param maxDuration    an upload that lasts longer is aborted; zero for no limit (the default)
 * @param bufferMemory   bytes of read buffers for the whole server, shared by all uploads
 *                       ({@link #DEFAULT_BUFFER_MEMORY} by default); an upload holds one
 *                       1 MiB buffer only while its worker reads and saves
 * @param service        the operator's options (address, access rules, checksums, hooks, metrics ...);
 *                       {@link ServiceOptions#DEFAULTS} is the spec's behaviour
 */
record ServerConfig(int port, Path directory, Duration idleTimeout, int maxConnections, long maxBytes,
                    Duration maxDuration, long bufferMemory, ServiceOptions service) {
    /** The spec's idle limit (S6). */
    static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(10);
    /** Environment variable that shortens the idle limit, in milliseconds (for tests). */
    static final String IDLE_TIMEOUT_VARIABLE = "FERRY_IDLE_TIMEOUT_MS";
    /** Environment variable that caps the uploads served at once. */
    static final String MAX_CONNECTIONS_VARIABLE = "FERRY_MAX_CONNECTIONS";
    /** Environment variable that caps the size of one upload, in bytes. */
    static final String MAX_BYTES_VARIABLE = "FERRY_MAX_BYTES";
    /** Environment variable that caps the duration of one upload, in milliseconds. */
    static final String MAX_DURATION_VARIABLE = "FERRY_MAX_DURATION_MS";
    /** Environment variable that sets the buffer memory, in MiB. */
    static final String BUFFER_MEMORY_VARIABLE = "FERRY_BUFFER_MIB";
    /** Buffer memory when none is set: 64 MiB, 64 chunks of 1 MiB. */
    static final long DEFAULT_BUFFER_MEMORY = 64L << 20;

    /** The given limits and buffer memory, and the spec's behaviour otherwise. */
    ServerConfig(int port, Path directory, Duration idleTimeout, int maxConnections, long maxBytes,
                 Duration maxDuration, long bufferMemory) {
        this(port, directory, idleTimeout, maxConnections, maxBytes, maxDuration, bufferMemory,
                ServiceOptions.DEFAULTS);
    }

    /** The given limits, with the default buffer memory. */
    ServerConfig(int port, Path directory, Duration idleTimeout, int maxConnections, long maxBytes,
                 Duration maxDuration) {
        this(port, directory, idleTimeout, maxConnections, maxBytes, maxDuration, DEFAULT_BUFFER_MEMORY);
    }

    /** The same configuration with other service options (for tests). */
    ServerConfig with(ServiceOptions options) {
        return new ServerConfig(port, directory, idleTimeout, maxConnections, maxBytes, maxDuration, bufferMemory,
                options);
    }

    /** The given port, directory and idle limit; no size or duration limit; 10,000 connections at once. */
    ServerConfig(int port, Path directory, Duration idleTimeout) {
        this(port, directory, idleTimeout, 10_000, 0, Duration.ZERO);
    }

    /** Where the uploads go, as the log shows it: the directory, or {@code s3://BUCKET/PREFIX}. */
    String destination() {
        return directory != null ? directory.toString() : service.s3().toString();
    }

    /** What the I/O core needs of this configuration. */
    NetConfig net() {
        return new NetConfig(idleTimeout, maxConnections, maxBytes, maxDuration, bufferMemory, service.checksum(),
                service.access(), service.minFree(), directory);
    }

    boolean limitsBytes() {
        return maxBytes > 0;
    }

    boolean limitsDuration() {
        return !maxDuration.isZero();
    }
}
