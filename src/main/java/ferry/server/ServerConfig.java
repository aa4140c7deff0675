package ferry.server;

import ferry.common.UserError;
import ferry.server.net.NetConfig;
import ferry.server.store.S3Options;
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

    /**
     * What the server's heap needs besides the S3 part buffers: its own objects, the
     * S3 client's, and garbage between two collections (the launcher bounds the young
     * generation to 16 MiB). Measured: about 30 MiB live under 50 uploads into S3.
     */
    static final long HEAP_BESIDES_BUDGETS = 64L << 20;

    /**
     * The same configuration with its default budgets lowered to fit the heap, for a
     * server in a small container (a 256 MiB one gives the JVM a heap of about 64 MiB):
     * the plain {@code ./server PORT DIR} must start there. A budget the operator set
     * (flag or variable) is never changed: {@link #checkBudgets} refuses it if it does
     * not fit. Read buffers are lowered to half the heap, at least 4 MiB; S3 part buffers
     * to what leaves {@link #HEAP_BESIDES_BUDGETS} free, at least two parts.
     *
     * @param maxHeap      the JVM's largest heap ({@link Runtime#maxMemory()})
     * @param buffersGiven whether {@code --buffer-mib} was set
     * @param partsGiven   whether {@code --s3-memory-mib} was set
     */
    ServerConfig fitDefaultBudgets(long maxHeap, boolean buffersGiven, boolean partsGiven) {
        long mib = 1L << 20;
        long buffers = bufferMemory;
        if (!buffersGiven && buffers > maxHeap / 2) {
            buffers = Math.max(4 * mib, maxHeap / 2 / mib * mib);
        }
        ServiceOptions options = service;
        S3Options s3 = service.s3();
        if (s3 != null && !partsGiven && s3.memory() + HEAP_BESIDES_BUDGETS > maxHeap) {
            long parts = Math.max(2L * s3.partSize(), (maxHeap - HEAP_BESIDES_BUDGETS) / mib * mib);
            options = new ServiceOptions(service.listen(), service.access(), service.minFree(), service.checksum(),
                    service.fsync(), service.logFormat(), service.hook(), service.metrics(), service.counter(),
                    new S3Options(s3.bucket(), s3.prefix(), s3.partSize(), parts, s3.pathStyle()));
        }
        return new ServerConfig(port, directory, idleTimeout, maxConnections, maxBytes, maxDuration, buffers, options);
    }

    /**
     * Refuses budgets the JVM cannot hold, so that a server in a small container fails
     * at start with a line saying why, not later with an OutOfMemoryError that ends it:
     * the S3 part buffers live in the heap, with {@link #HEAP_BESIDES_BUDGETS} beside them;
     * the read buffers are direct buffers, whose limit is the heap's maximum by default.
     *
     * @param maxHeap the JVM's largest heap ({@link Runtime#maxMemory()})
     * @throws UserError (exit 2) naming the budget that does not fit and the heap
     */
    void checkBudgets(long maxHeap) throws UserError {
        String heap = (maxHeap >> 20) + " MiB";
        if (service.s3() != null && service.s3().memory() + HEAP_BESIDES_BUDGETS > maxHeap) {
            throw UserError.usage("--s3-memory-mib " + (service.s3().memory() >> 20) + " does not fit in the"
                    + " server's heap of " + heap + " (its part buffers and " + (HEAP_BESIDES_BUDGETS >> 20)
                    + " MiB for the rest): give the server more memory, or lower --s3-memory-mib");
        }
        if (bufferMemory > maxHeap) {
            throw UserError.usage("--buffer-mib " + (bufferMemory >> 20) + " exceeds the server's limit of direct"
                    + " buffers, " + heap + " (its heap's): give the server more memory, or lower --buffer-mib");
        }
    }

    /** Where the uploads go, as the log shows it: the directory, or {@code s3://BUCKET/PREFIX}. */
    String destination() {
        return directory != null ? directory.toString() : service.s3().toString();
    }

    /** What the I/O core needs of this configuration. */
    NetConfig net() {
        return new NetConfig(idleTimeout, maxConnections, maxBytes, maxDuration, bufferMemory, service.checksum(),
                service.access(), service.minFree(), directory, service.tls());
    }

    boolean limitsBytes() {
        return maxBytes > 0;
    }

    boolean limitsDuration() {
        return !maxDuration.isZero();
    }
}
