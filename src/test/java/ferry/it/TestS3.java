package ferry.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ferry.testing.ClassFixtures;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * An S3 server of a test's own: s3proxy (from Maven Central, test scope) in
 * a process of its own, storing into a scratch directory through jclouds'
 * filesystem backend, on a free port of 127.0.0.1, with one bucket,
 * {@link #BUCKET}. It can be stopped and started again on the same port and
 * data (a store that goes away mid-run).
 *
 * <p>One s3proxy serves a whole test class ({@link ClassFixtures}): {@link #close()}
 * keeps it for the class's next {@link #start()}, which hands it over running,
 * on the same port, with an empty bucket (no object, no multipart upload) and
 * an empty log. When the class has ended, it is stopped and its directory
 * deleted, whatever happened.
 *
 * <p>The class path comes from {@code target/test-classpath.txt}, which the
 * build writes (maven-dependency-plugin, phase generate-test-resources). A
 * logging configuration keeps s3proxy to warnings: without one, it prints
 * every Jetty DEBUG line.
 */
public final class TestS3 implements AutoCloseable, ClassFixtures.Fixture {
    /** The bucket every test server has. */
    public static final String BUCKET = "ferry-test";
    /** s3proxy's credentials (any will do; these are the ones it checks). */
    public static final String ACCESS_KEY = "ferry";
    public static final String SECRET_KEY = "ferry-secret";
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    public final int port;
    private final Path dir;
    private Process process;
    private S3Client client;

    private TestS3(Path dir, int port) {
        this.dir = dir;
        this.port = port;
    }

    /** An s3proxy, started, with an empty {@link #BUCKET}: the class's kept one, or a new one. */
    public static TestS3 start() throws Exception {
        TestS3 kept = ClassFixtures.take(TestS3.class);
        if (kept != null) {
            return kept;
        }
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ferry-s3-");
        var s3 = new TestS3(dir, Ferry.freePort());
        try {
            Files.createDirectories(dir.resolve("data"));
            Files.writeString(dir.resolve("s3proxy.conf"), String.join("\n",
                    "s3proxy.endpoint=http://127.0.0.1:" + s3.port,
                    "s3proxy.authorization=aws-v2-or-v4",
                    "s3proxy.identity=" + ACCESS_KEY,
                    "s3proxy.credential=" + SECRET_KEY,
                    "jclouds.provider=filesystem-nio2",
                    "jclouds.filesystem.basedir=" + dir.resolve("data"), ""));
            Files.writeString(dir.resolve("logback.xml"), """
                    <configuration>
                      <appender name="ERR" class="ch.qos.logback.core.ConsoleAppender">
                        <target>System.err</target>
                        <encoder><pattern>s3proxy %level %logger{20}: %msg%n</pattern></encoder>
                      </appender>
                      <root level="WARN"><appender-ref ref="ERR"/></root>
                    </configuration>
                    """);
            s3.startAgain();
            s3.client().createBucket(b -> b.bucket(BUCKET));
            return s3;
        } catch (Exception | AssertionError e) {
            s3.destroy();
            throw e;
        }
    }

    /** The test class path, as the build wrote it. */
    static String classPath() throws IOException {
        Path file = Path.of(System.getProperty("ferry.root", "."), "target", "test-classpath.txt");
        assertTrue(Files.isRegularFile(file), file + " is missing: the build (mvn generate-test-resources) writes it");
        return Path.of(System.getProperty("ferry.root", "."), "target", "test-classes") + ":" + Files.readString(file).strip();
    }

    /** Running again, with an empty bucket and an empty log, as {@link #start()} made it. */
    @Override
    public void reset() throws Exception {
        if (process == null || !process.isAlive()) {
            startAgain();
        }
        for (MultipartUpload upload : client().listMultipartUploadsPaginator(b -> b.bucket(BUCKET)).uploads()) {
            client().abortMultipartUpload(b -> b.bucket(BUCKET).key(upload.key()).uploadId(upload.uploadId()));
        }
        var keys = new ArrayList<ObjectIdentifier>();
        for (S3Object object : client().listObjectsV2Paginator(b -> b.bucket(BUCKET)).contents()) {
            keys.add(ObjectIdentifier.builder().key(object.key()).build());
        }
        // DeleteObjects takes up to 1000 keys a request.
        for (int from = 0; from < keys.size(); from += 1000) {
            var batch = keys.subList(from, Math.min(keys.size(), from + 1000));
            client().deleteObjects(b -> b.bucket(BUCKET).delete(d -> d.objects(batch)));
        }
        assertTrue(objects("").isEmpty() && pendingMultipartUploads("").isEmpty(),
                "the bucket is not empty after a reset: " + objects(""));
        // s3proxy appends to it (O_APPEND): truncated, it holds this test's lines only.
        Files.write(dir.resolve("err.log"), new byte[0]);
    }

    /** Starts the (stopped) server on the same port and data, waiting until it accepts connections. */
    public void startAgain() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        process = new ProcessBuilder(java.toString(), "-Xmx512m", "-XX:+UseSerialGC",
                "-Dlogback.configurationFile=" + dir.resolve("logback.xml"),
                "-cp", classPath(), "org.gaul.s3proxy.Main", "--properties", dir.resolve("s3proxy.conf").toString())
                .redirectOutput(dir.resolve("out.log").toFile())
                .redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("err.log").toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (true) {
            try (var socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException notYet) {
                if (!process.isAlive()) {
                    throw new AssertionError("s3proxy exited " + process.exitValue() + ": " + log());
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("s3proxy did not listen within " + DEADLINE + ": " + log());
                }
                Thread.sleep(50);
            }
        }
    }

    /** Stops the server (SIGKILL: a store that vanishes), waiting until it has. */
    public void stop() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(DEADLINE.toSeconds(), TimeUnit.SECONDS);
            process = null;
        }
    }

    /** What s3proxy wrote to its standard error (warnings and errors). */
    public String log() {
        try {
            return Files.readString(dir.resolve("err.log"));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** {@code http://127.0.0.1:PORT}. */
    public String endpoint() {
        return "http://127.0.0.1:" + port;
    }

    /** {@code s3://BUCKET/prefix}. */
    public String url(String prefix) {
        return "s3://" + BUCKET + (prefix.isEmpty() ? "" : "/" + prefix);
    }

    /** The standard AWS variables that point an S3 client (ferry's, aws, rclone's env_auth) at this server. */
    public Map<String, String> env() {
        return Map.of("AWS_ENDPOINT_URL", endpoint(), "AWS_REGION", "us-east-1",
                "AWS_ACCESS_KEY_ID", ACCESS_KEY, "AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    }

    /** A client of the test's own (path-style, as an IP endpoint needs). */
    public synchronized S3Client client() {
        if (client == null) {
            client = S3Client.builder().endpointOverride(URI.create(endpoint())).region(Region.US_EAST_1)
                    .forcePathStyle(true)
                    .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY)))
                    .httpClient(Apache5HttpClient.create()).build();
        }
        return client;
    }

    /** Every object under {@code prefix}, key to size. */
    public Map<String, Long> objects(String prefix) {
        var objects = new TreeMap<String, Long>();
        for (S3Object object : client().listObjectsV2Paginator(b -> b.bucket(BUCKET).prefix(prefix)).contents()) {
            objects.put(object.key(), object.size());
        }
        return objects;
    }

    /** Multipart uploads begun and neither completed nor aborted under {@code prefix}: parts left billed. */
    public List<MultipartUpload> pendingMultipartUploads(String prefix) {
        return client().listMultipartUploads(b -> b.bucket(BUCKET).prefix(prefix)).uploads();
    }

    /** One object's bytes (for small ones). */
    public byte[] bytes(String key) {
        return client().getObjectAsBytes(b -> b.bucket(BUCKET).key(key)).asByteArray();
    }

    /** One object's SHA-256, in hex, read as a stream (for large ones). */
    public String sha256(String key) throws Exception {
        var digest = MessageDigest.getInstance("SHA-256");
        try (InputStream in = client().getObject(b -> b.bucket(BUCKET).key(key))) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** Puts an object (an earlier run's, say). */
    public void put(String key, byte[] content) {
        client().putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(content));
    }

    /** Gives the server back for the class's next test, or stops and deletes it when one is kept already. */
    @Override
    public void close() {
        if (!ClassFixtures.keep(this)) {
            destroy();
        }
    }

    /** Stops the server and deletes its directory, whatever happened. */
    @Override
    public void destroy() {
        if (client != null) {
            client.close();
        }
        try {
            stop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // Left in /tmp.
        }
    }
}
