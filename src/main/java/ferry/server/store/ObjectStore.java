package ferry.server.store;

import java.io.IOException;
import java.util.List;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * The object store as an {@link S3Sink} uses it: S3's calls for one object, and
 * the part memory all uploads share. {@link S3Storage} makes the calls over
 * HTTP. Every call may be slow (it holds the calling upload's worker, and so
 * that upload's sender, never another) and may fail with an
 * {@link IOException} whose message says in plain words what failed. A call
 * retried after an attempt that did succeed must not fail for that: the
 * {@code token} marks what one upload wrote.
 */
interface ObjectStore {
    /** The part buffers of the whole server. */
    PartMemory memory();

    /** Begins a multipart upload of {@code key}; returns its id. */
    String createMultipartUpload(String key, String token) throws IOException;

    /** Stores part {@code part} (from 1); returns its ETag. */
    String uploadPart(String key, String uploadId, int part, RequestBody body) throws IOException;

    /** Makes the object from the parts, unless an object of that name exists that {@code token} did not write. */
    void completeMultipartUpload(String key, String uploadId, List<CompletedPart> parts, String token)
            throws IOException;

    /** Drops the multipart upload and its parts. */
    void abortMultipartUpload(String key, String uploadId) throws IOException;

    /** Creates {@code key} in one request, unless an object of that name exists that {@code token} did not write. */
    void putObject(String key, RequestBody body, String token) throws IOException;
}
