package ferry.server.net;

import ferry.server.report.Journal;
import ferry.server.store.SinkFactory;
import ferry.server.tls.ServerTls;

/**
 * What every upload of one server shares.
 *
 * @param sinks    opens each upload's sink
 * @param buffers  the read buffers of the whole server
 * @param journal  where each upload's record goes
 * @param backoff  the shared pace of retries while out of file descriptors
 * @param maxBytes the size limit of one upload, or 0 for none
 * @param checksum compute each upload's SHA-256 as its bytes arrive
 * @param tls      the server's TLS, or null for plain TCP
 */
record UploadContext(SinkFactory sinks, BufferPool buffers, Journal journal, OpenBackoff backoff, long maxBytes,
                     boolean checksum, ServerTls tls) {
}
