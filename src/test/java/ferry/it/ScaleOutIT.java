package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Scale-out as the README shows it: three real {@code ./server} receivers,
 * each on its own port, writing to one bucket (s3proxy, {@link TestS3}) and
 * numbered by one PostgreSQL database ({@link TestPostgres}), fed by
 * {@code nc -N}, {@code ./client} and Python at once.
 */
class ScaleOutIT {
    private static final int UPLOADS = 300;
    private static final int RECEIVERS = 3;
    private static final String PREFIX = "scale";
    private static final long MIB = 1 << 20;
    /** The default part size: at or below it a single PUT, above it a multipart upload. */
    private static final long PART = 8 * MIB;
    /** The large uploads, by index (spread over the three tools and the three receivers); the rest are small. */
    private static final Map<Integer, Long> LARGE = Map.of(
            10, PART, 11, PART + 1, 12, PART - 1,
            40, 50 * MIB, 71, 16 * MIB, 102, 20 * MIB + 12_345,
            130, 9 * MIB, 161, 33 * MIB + 1, 195, 2 * PART + 1);

    @TempDir
    Path tmp;
    private TestS3 s3;
    private TestPostgres postgres;
    private final List<Ferry.Server> receivers = new ArrayList<>();

    @BeforeEach
    void startStores() throws Exception {
        postgres = TestPostgres.start();
        s3 = TestS3.start();
    }

    @AfterEach
    void stopAll() {
        receivers.forEach(Ferry.Server::close);
        if (s3 != null) {
            s3.close();
        }
        if (postgres != null) {
            postgres.close();
        }
    }

    /**
     * <ol>
     * <li>Three receivers share the bucket's prefix and the database.</li>
     * <li>300 uploads, eight at a time, each by one of nc, ./client and Python
     * (in turn) to one of the receivers (in turn): three empty ones, mostly
     * small ones (up to 64 KiB, every tenth up to 2 MiB), and large ones:
     * exactly one part (8 MiB), one byte more and one less, and multipart
     * uploads up to 50 MiB.</li>
     * <li>Every sender is confirmed (exit 0). The prefix holds exactly 300
     * objects, none {@code ERROR}, whose SHA-256 digests are those of the 300
     * sources; every key is {@code N.file} with a number one receiver logged,
     * no number twice across the receivers; no multipart upload is pending.</li>
     * </ol>
     */
    @Test
    void threeReceiversSharingABucketAndADatabaseSaveEveryUploadIntactUnderItsOwnNumber() throws Exception {
        startReceivers();
        List<Path> sources = sources();
        var expected = new HashMap<String, Integer>();
        var sizeOf = new HashMap<String, Long>();
        for (Path source : sources) {
            String sha = Checksums.sha256(source);
            expected.merge(sha, 1, Integer::sum);
            sizeOf.put(sha, Files.size(source));
        }
        long started = System.nanoTime();
        var pool = Executors.newFixedThreadPool(8);
        try {
            var sent = new ArrayList<Future<Ferry.Result>>();
            for (int i = 0; i < UPLOADS; i++) {
                Senders.Tool tool = Senders.Tool.values()[i % 3];
                Ferry.Server receiver = receivers.get(i / 3 % RECEIVERS);
                Path source = sources.get(i);
                sent.add(pool.submit(() -> tool.send(receiver.port, source)));
            }
            for (int i = 0; i < UPLOADS; i++) {
                var result = sent.get(i).get(3, TimeUnit.MINUTES);
                assertThat(result.exitCode()).as("upload %d (%s, %d bytes): stderr %s", i, Senders.Tool.values()[i % 3],
                        Files.size(sources.get(i)), result.stderr()).isZero();
            }
        } finally {
            pool.shutdownNow();
        }
        System.out.printf("ScaleOutIT: %d uploads (%d MiB) over %d receivers in %d ms%n", UPLOADS,
                sources.stream().mapToLong(Ferry::sizeOf).sum() >> 20, RECEIVERS,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        Map<String, Long> objects = s3.objects(PREFIX + "/");
        assertThat(objects).hasSize(UPLOADS);
        var found = S3MemoryIT.digests(s3, objects.keySet());
        var missing = new HashMap<>(expected);
        found.forEach((sha, n) -> missing.merge(sha, -n, Integer::sum));
        missing.values().removeIf(n -> n == 0);
        assertThat(missing).as("sources without their intact object (1) or objects of no source (-1), by SHA-256; the"
                + " sources' sizes: %s", missing.keySet().stream().map(sizeOf::get).toList()).isEmpty();
        assertThat(s3.pendingMultipartUploads(PREFIX + "/")).isEmpty();

        var numbers = new TreeSet<Long>();
        for (String key : objects.keySet()) {
            assertThat(key).matches(PREFIX + "/[1-9][0-9]*\\.file");
            numbers.add(Long.parseLong(key.substring(PREFIX.length() + 1, key.length() - ".file".length())));
        }
        Set<Long> logged = new HashSet<>();
        for (var receiver : receivers) {
            assertThat(Ferry.await(Duration.ofSeconds(10), () -> !receiver.loggedNumbers().isEmpty())).isTrue();
            for (long n : receiver.loggedNumbers()) {
                assertThat(logged.add(n)).as("conn=%d logged twice, or by two receivers", n).isTrue();
            }
        }
        assertThat(logged).isEqualTo(numbers);
        for (var receiver : receivers) {
            assertThat(receiver.stop()).isZero();
            assertThat(receiver.stderr()).isEmpty();
            assertThat(receiver.stdout()).as("outcomes").doesNotContainPattern("outcome=(?!complete )");
        }
    }

    private void startReceivers() throws Exception {
        var starts = Executors.newFixedThreadPool(RECEIVERS);
        try {
            var started = new ArrayList<Future<Ferry.Server>>();
            for (int i = 0; i < RECEIVERS; i++) {
                started.add(starts.submit(() -> Ferry.Server.start(List.of("--counter", postgres.url(null)), s3.url(PREFIX),
                        s3.env())));
            }
            for (var receiver : started) {
                receivers.add(receiver.get(2, TimeUnit.MINUTES));
            }
        } finally {
            starts.shutdownNow();
        }
    }

    /** The 300 sources, written to the temporary directory (seeded: the same on every run). */
    private List<Path> sources() throws Exception {
        var random = new Random(10);
        var sources = new ArrayList<Path>();
        Path dir = Files.createDirectories(tmp.resolve("sources"));
        for (int i = 0; i < UPLOADS; i++) {
            long size;
            if (i < 3) {
                size = 0;
            } else if (LARGE.containsKey(i)) {
                size = LARGE.get(i);
            } else if (i % 10 == 0) {
                size = 64 * 1024 + random.nextInt((int) (2 * MIB));
            } else {
                size = 1 + random.nextInt(64 * 1024);
            }
            sources.add(Ferry.randomFile(dir, i + ".bin", size, 1000 + i));
        }
        return sources;
    }
}
