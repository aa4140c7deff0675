package ferry.server.net;

import ferry.server.tls.ServerTls;
import java.nio.file.Path;
import java.time.Duration;

/**
 * What the I/O core needs to know: its limits and who it admits.
 *
 * @param idleTimeout    a connection silent for longer is aborted (S6: 10 s)
 * @param maxConnections uploads served at once; further connections wait in the kernel's accept queue
 * @param maxBytes       an upload larger than this is aborted; 0 for no limit
 * @param maxDuration    an upload that lasts longer is aborted; zero for no limit
 * @param bufferMemory   bytes of read buffers for the whole server, in {@link BufferPool#CHUNK_SIZE} chunks
 * @param checksum       compute each upload's SHA-256 as its bytes arrive
 * @param access         who may connect
 * @param minFree        the free space {@code directory}'s file system must keep for an upload to start, or null
 * @param directory      where the files go, for {@code minFree}; null for object storage
 * @param tls            the server's TLS, or null for plain TCP
 */
public record NetConfig(Duration idleTimeout, int maxConnections, long maxBytes, Duration maxDuration,
                        long bufferMemory, boolean checksum, AccessRules access, MinFree minFree, Path directory,
                        ServerTls tls) {
    /** Plain TCP. */
    public NetConfig(Duration idleTimeout, int maxConnections, long maxBytes, Duration maxDuration,
                     long bufferMemory, boolean checksum, AccessRules access, MinFree minFree, Path directory) {
        this(idleTimeout, maxConnections, maxBytes, maxDuration, bufferMemory, checksum, access, minFree, directory,
                null);
    }
}
