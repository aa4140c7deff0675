package ferry.server.store;

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
public record S3Options(String bucket, String prefix, int partSize, long memory, boolean pathStyle) {
    /** Parts of 8 MiB, as the AWS CLI's. */
    public static final int DEFAULT_PART_MIB = 8;
    /**
     * 160 MiB of part buffers: 20 parts of 8 MiB. With 64 MiB of read buffers
     * and the JVM's own memory, 50 uploads of 100 MiB at once peaked at 340 MiB
     * for the whole process tree (256 MiB peaked at 449 MiB, above the 384 MiB
     * that the hardening issue asked for).
     */
    public static final int DEFAULT_MEMORY_MIB = 160;

    /** The object of connection {@code number}: {@code PREFIX/N.file}. */
    public String key(long number) {
        return prefix.isEmpty() ? number + ".file" : prefix + "/" + number + ".file";
    }

    /** {@code s3://BUCKET/PREFIX}, as the log shows it. */
    @Override
    public String toString() {
        return "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix);
    }
}
