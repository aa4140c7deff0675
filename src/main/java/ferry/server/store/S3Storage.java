package ferry.server.store;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * {@code s3://BUCKET/PREFIX} as the place uploads go: connection N's bytes
 * become the object {@code PREFIX/N.file} ({@link S3Sink}), through the AWS
 * SDK for Java v2 and its Apache HttpClient 5 transport. Endpoint, region and credentials come the
 * standard AWS way: {@code AWS_ENDPOINT_URL_S3} or {@code AWS_ENDPOINT_URL},
 * {@code AWS_REGION} or {@code AWS_DEFAULT_REGION}, {@code AWS_ACCESS_KEY_ID}
 * and {@code AWS_SECRET_ACCESS_KEY} (and {@code AWS_SESSION_TOKEN}), else the
 * SDK's default chains (profiles, and on AWS the instance's role).
 *
 * <p>Only the server's main class ({@code ferry.server.ServerMain}) names this
 * class, and only when FILE-DIR is an {@code s3://} URL: otherwise nothing of
 * the SDK is loaded.
 */
public final class S3Storage implements SinkFactory, ObjectStore, AutoCloseable {
    /**
     * Connections to the store at most: every part in flight and every small
     * upload's PUT holds one while it runs; more wait for one (for at most
     * {@link #CONNECTION_WAIT}), which holds their senders back.
     */
    private static final int CONNECTIONS = 256;
    private static final Duration CONNECTION_WAIT = Duration.ofSeconds(60);

    final S3Options options;
    private final PartMemory memory;
    private final S3Client client;
    private final String shownEndpoint;
    private long numberedBefore;
    private int abortedBefore;

    /** A storage over {@code client}, unchecked: {@link #open} checks the bucket (tests pass a client of their own). */
    S3Storage(S3Options options, S3Client client, String shownEndpoint) {
        this.options = options;
        this.client = client;
        this.shownEndpoint = shownEndpoint;
        this.memory = new PartMemory(options.memory(), options.partSize());
    }

    /**
     * A client for the bucket, checked: the bucket exists and answers; with
     * {@code listNumbers}, the objects {@code PREFIX/N.file} already there are
     * listed for {@link #numberedBefore}.
     *
     * @throws UserError (exit 1) when the bucket cannot be reached or does not exist
     */
    public static S3Storage open(S3Options options, Map<String, String> env, boolean listNumbers)
            throws UserError {
        String endpoint = first(env, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
        String region = first(env, "AWS_REGION", "AWS_DEFAULT_REGION");
        URI endpointUri = null;
        if (endpoint != null) {
            try {
                endpointUri = URI.create(endpoint);
                if (endpointUri.getHost() == null || !List.of("http", "https").contains(endpointUri.getScheme())) {
                    throw new IllegalArgumentException("not an http:// or https:// URL");
                }
            } catch (IllegalArgumentException e) {
                throw UserError.usage("invalid AWS_ENDPOINT_URL " + Arguments.quote(endpoint) + ": "
                        + e.getMessage());
            }
        }
        if (System.getProperty("slf4j.provider") == null) {
            // The SDK logs through SLF4J: ferry reports what fails in its own log, so no provider, and
            // none of SLF4J's three lines of warning about the missing one on standard error.
            System.setProperty("slf4j.provider", "org.slf4j.helpers.NOP_FallbackServiceProvider");
            System.setProperty("slf4j.internal.verbosity", "WARN");
        }
        var builder = S3Client.builder()
                .httpClient(Apache5HttpClient.builder()
                        .connectionTimeout(Duration.ofSeconds(5))
                        .socketTimeout(Duration.ofSeconds(60))
                        .maxConnections(CONNECTIONS)
                        .connectionAcquisitionTimeout(CONNECTION_WAIT)
                        .build())
                // Checksums only where S3 requires them: ferry's own SHA-256 is --checksum's; a
                // trailing CRC would need aws-chunked bodies, which not every S3 server takes.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .forcePathStyle(options.pathStyle() || (endpointUri != null && addressed(endpointUri.getHost())))
                // A body of known length as it is, not aws-chunked: over http:// the SDK then signs the
                // part's SHA-256 (ferry's parts are in memory, so reading them twice costs no I/O)
                // instead of every 128 KiB chunk, and a server that answers before the last chunk
                // (s3proxy does) cannot make a stored request look failed.
                // Expect: 100-continue (a round trip before the body) only for bodies of 1 MiB or more: not
                // for the 5 bytes of an ERROR marker, which a stop must write within its grace.
                .serviceConfiguration(S3Configuration.builder().chunkedEncodingEnabled(false)
                        .expectContinueThresholdInBytes(1L << 20).build())
                .credentialsProvider(credentials(env));
        if (endpointUri != null) {
            builder.endpointOverride(endpointUri);
        }
        try {
            builder.region(region != null ? Region.of(region)
                    : endpointUri != null ? Region.US_EAST_1 : new DefaultAwsRegionProviderChain().getRegion());
        } catch (SdkException e) {
            throw UserError.usage("no AWS region for " + options + ": set AWS_REGION (" + message(e) + ")");
        }
        S3Client client;
        try {
            client = builder.build();
        } catch (SdkException | IllegalArgumentException e) {
            throw UserError.failure("cannot use " + options + ": " + message(e));
        }
        var storage = new S3Storage(options, client, endpointUri == null ? "AWS" : endpointUri.toString());
        try {
            client.headBucket(b -> b.bucket(options.bucket()));
        } catch (NoSuchBucketException e) {
            storage.close();
            throw UserError.failure("cannot use " + options + ": no such bucket at " + storage.shownEndpoint);
        } catch (SdkException e) {
            storage.close();
            throw UserError.failure("cannot use " + options + " at " + storage.shownEndpoint + ": " + message(e));
        }
        if (listNumbers) {
            try {
                storage.numberedBefore = storage.highestNumber();
                storage.abortedBefore = storage.abortLeftUploads();
            } catch (UserError e) {
                storage.close();
                throw e;
            }
        }
        return storage;
    }

    /** True for an endpoint named by an IP address or {@code localhost}, which has no per-bucket host names. */
    static boolean addressed(String host) {
        String bare = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        return bare.equalsIgnoreCase("localhost") || bare.matches("[0-9.]+") || bare.contains(":");
    }

    private static AwsCredentialsProvider credentials(Map<String, String> env) {
        String id = env.get("AWS_ACCESS_KEY_ID");
        String secret = env.get("AWS_SECRET_ACCESS_KEY");
        if (id != null && !id.isEmpty() && secret != null) {
            String token = env.get("AWS_SESSION_TOKEN");
            return StaticCredentialsProvider.create(token == null || token.isEmpty()
                    ? AwsBasicCredentials.create(id, secret) : AwsSessionCredentials.create(id, secret, token));
        }
        return DefaultCredentialsProvider.builder().build();
    }

    private static String first(Map<String, String> env, String... names) {
        for (String name : names) {
            String value = env.get(name);
            if (value != null && !value.isEmpty()) {
                return value;
            }
        }
        return null;
    }

    /**
     * The highest N of the objects {@code PREFIX/N.file} an earlier run left,
     * or 0 (or not listed): a server with the local counter numbers on from
     * there, so it overwrites none of them (S3 has no rename to move them
     * aside with, as a directory's are).
     */
    @Override
    public long numberedBefore() {
        return numberedBefore;
    }

    private long highestNumber() throws UserError {
        String start = options.prefix().isEmpty() ? "" : options.prefix() + "/";
        Pattern numbered = Pattern.compile(Pattern.quote(start) + "([1-9][0-9]{0,17})\\.file");
        long highest = 0;
        try {
            for (S3Object object : client.listObjectsV2Paginator(b -> b.bucket(options.bucket()).prefix(start)
                    .delimiter("/")).contents()) {
                var matcher = numbered.matcher(object.key());
                if (matcher.matches()) {
                    highest = Math.max(highest, Long.parseLong(matcher.group(1)));
                }
            }
        } catch (SdkException e) {
            throw UserError.failure("cannot list " + options + ": " + message(e));
        }
        return highest;
    }

    /**
     * Aborts the multipart uploads of objects {@code PREFIX/N.file} that an
     * earlier run began and never completed nor aborted (it was killed, or
     * crashed): S3 keeps and bills their parts until then. Only with the local
     * counter, so only when this server is the one that numbers into the prefix:
     * with a shared counter, a live peer's uploads are pending there too, and S3
     * lists no upload's metadata (the {@link #TOKEN} that marks ferry's) to tell
     * a dead run's from them. Returns how many were aborted.
     */
    private int abortLeftUploads() throws UserError {
        String start = options.prefix().isEmpty() ? "" : options.prefix() + "/";
        Pattern numbered = Pattern.compile(Pattern.quote(start) + "[1-9][0-9]{0,17}\\.file");
        var left = new java.util.ArrayList<MultipartUpload>();
        try {
            for (MultipartUpload upload : client.listMultipartUploadsPaginator(b -> b.bucket(options.bucket())
                    .prefix(start)).uploads()) {
                if (numbered.matcher(upload.key()).matches()) {
                    left.add(upload);
                }
            }
        } catch (SdkException e) {
            throw UserError.failure("cannot list the multipart uploads in " + options + ": " + message(e));
        }
        // All at once: each is one request, and a distant store answers each late.
        var failures = new java.util.concurrent.ConcurrentLinkedQueue<String>();
        try (var aborts = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (MultipartUpload upload : left) {
                aborts.submit(() -> {
                    try {
                        abortMultipartUpload(upload.key(), upload.uploadId());
                    } catch (NoSuchUpload gone) {
                        // Completed or aborted meanwhile.
                    } catch (IOException e) {
                        failures.add(e.getMessage());
                    }
                });
            }
        }
        if (!failures.isEmpty()) {
            throw UserError.failure(failures.peek() + " (an earlier run left " + left.size()
                    + " multipart uploads unfinished in " + options + ")");
        }
        return left.size();
    }

    @Override
    public String startNote() {
        return abortedBefore == 0 ? null : "aborted " + abortedBefore + " multipart upload"
                + (abortedBefore == 1 ? "" : "s") + " an earlier run left unfinished in " + options
                + " (it was killed or crashed; their parts are dropped)";
    }

    @Override
    public UploadSink open(long number) {
        // Nothing remote yet: a small upload is one PUT when it completes, a large one a multipart upload.
        return new S3Sink(this, options.key(number));
    }

    @Override
    public String locate(long number) {
        return "s3://" + options.bucket() + "/" + options.key(number);
    }

    // ---- the requests a sink makes; each throws IOException with a plain reason ----

    /**
     * The user metadata that marks an object as written by one upload (a
     * random token of the sink's): a request retried after its first attempt
     * did succeed (the answer lost on a dropped keep-alive connection, say)
     * finds the object there, and the token tells it that the object is its own.
     */
    static final String TOKEN = "ferry-upload";

    @Override
    public String createMultipartUpload(String key, String token) throws IOException {
        return call("start a multipart upload of " + key, () -> client.createMultipartUpload(
                b -> b.bucket(options.bucket()).key(key).contentType("application/octet-stream")
                        .metadata(Map.of(TOKEN, token))).uploadId());
    }

    @Override
    public String uploadPart(String key, String uploadId, int part, RequestBody body) throws IOException {
        return call("store part " + part + " of " + key, () -> client.uploadPart(
                b -> b.bucket(options.bucket()).key(key).uploadId(uploadId).partNumber(part), body).eTag());
    }

    /** Completes the multipart upload {@code token} began, unless an object of that name exists already. */
    @Override
    public void completeMultipartUpload(String key, String uploadId, List<CompletedPart> parts, String token)
            throws IOException {
        try {
            call("complete " + key, () -> client.completeMultipartUpload(b -> b.bucket(options.bucket()).key(key)
                    .uploadId(uploadId).multipartUpload(m -> m.parts(parts)).ifNoneMatch("*")));
        } catch (Conflict | NoSuchUpload e) {
            // A retry after an attempt that completed it: the upload is gone, the object there is ours.
            if (!ours(key, token)) {
                throw e;
            }
        }
    }

    @Override
    public void abortMultipartUpload(String key, String uploadId) throws IOException {
        call("abort the multipart upload of " + key, () -> client.abortMultipartUpload(
                b -> b.bucket(options.bucket()).key(key).uploadId(uploadId)));
    }

    /** Creates {@code key} marked with {@code token}, unless an object of that name exists ({@code If-None-Match: *}). */
    @Override
    public void putObject(String key, RequestBody body, String token) throws IOException {
        try {
            call("store " + key, () -> client.putObject(b -> b.bucket(options.bucket()).key(key)
                    .contentType("application/octet-stream").metadata(Map.of(TOKEN, token)).ifNoneMatch("*"), body));
        } catch (Conflict e) {
            if (!ours(key, token)) {
                throw e;
            }
        }
    }

    /** True when the object {@code key} was written by the request that carried {@code token}. */
    private boolean ours(String key, String token) throws IOException {
        var head = call("read the metadata of " + key, () -> client.headObject(b -> b.bucket(options.bucket()).key(key)));
        return token.equals(head.metadata().get(TOKEN));
    }

    /** S3 answered 412: an object of that name exists (an earlier run's, or this upload's own first attempt). */
    static final class Conflict extends IOException {
        Conflict(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** S3 answered 404 NoSuchUpload (or 400 InvalidPart): the multipart upload or its parts are gone (completed, or aborted). */
    static final class NoSuchUpload extends IOException {
        NoSuchUpload(String message, Throwable cause) {
            super(message, cause);
        }
    }

    @FunctionalInterface
    private interface Request<T> {
        T run();
    }

    private <T> T call(String what, Request<T> request) throws IOException {
        try {
            return request.run();
        } catch (S3Exception e) {
            if (e.statusCode() == 412) {
                throw new Conflict("cannot " + what + ": s3://" + options.bucket()
                        + "/... already has that object (an earlier run's?), which is never overwritten", e);
            }
            // 400 InvalidPart: a store that keeps a completed upload's id answers a retried complete so (s3proxy).
            if (e.awsErrorDetails() != null && (e.statusCode() == 404 && "NoSuchUpload".equals(e.awsErrorDetails().errorCode())
                    || e.statusCode() == 400 && "InvalidPart".equals(e.awsErrorDetails().errorCode()))) {
                throw new NoSuchUpload("cannot " + what + ": " + message(e), e);
            }
            throw new IOException("cannot " + what + ": " + message(e), e);
        } catch (SdkException e) {
            if (Thread.currentThread().isInterrupted()) {
                throw new java.io.InterruptedIOException("interrupted while trying to " + what);
            }
            throw new IOException("cannot " + what + ": " + message(e), e);
        }
    }

    /** An SDK failure in plain words: S3's status and code, or the client's own message, without a stack trace. */
    static String message(Throwable e) {
        if (e instanceof S3Exception s3 && s3.awsErrorDetails() != null) {
            String code = s3.awsErrorDetails().errorCode();
            String text = s3.awsErrorDetails().errorMessage();
            return "the store answered " + s3.statusCode() + (code == null ? "" : " " + code)
                    + (text == null ? "" : ": " + text);
        }
        String text = String.valueOf(e.getMessage());
        // The SDK appends advice on retries and configuration after the first sentence's cause.
        int advice = text.indexOf(" (SDK Attempt Count");
        return (advice > 0 ? text.substring(0, advice) : text).strip();
    }

    @Override
    public PartMemory memory() {
        return memory;
    }

    @Override
    public void close() {
        client.close();
    }
}
