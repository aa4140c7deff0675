package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A stop or a crash of a server writing to S3 leaves no multipart upload
 * behind (issue 18, item 11): one real {@code ./server} writing to s3proxy
 * ({@link TestS3}), with parts of 5 MiB, and ten Python senders that each
 * send 6 MiB (a multipart upload begun, its first part stored) and hold
 * their connection open.
 */
class S3StopIT {
    private static final int UPLOADS = 10;
    private static final long SIZE = 6L << 20;
    /**
     * How late the store answers each request. The stop's grace is 3 s: an abort
     * that made its two requests (the multipart abort, the ERROR marker) one
     * after the other would need 3.6 s; made at once, 1.8 s.
     */
    private static final Duration LATE = Duration.ofMillis(1800);

    /**
     * <ol>
     * <li>The server reaches s3proxy through {@link LateAnswers}: every answer comes
     * {@link #LATE} late.</li>
     * <li>Ten uploads of 6 MiB each have their first part stored in s3proxy.</li>
     * <li>SIGTERM: the server exits 0 within 10 s.</li>
     * <li>Every one of the ten uploads is logged as {@code shutdown} with its ERROR
     * object confirmed within the stop's grace (no {@code marker-failed}); every one of
     * the ten objects holds exactly ERROR, and no multipart upload (and so no part) is
     * left.</li>
     * </ol>
     */
    @Test
    void aStopBeforeALateStoreAnswersLeavesTenErrorObjectsAndNoParts() throws Exception {
        String prefix = "stop";
        try (var s3 = TestS3.start(); var late = new LateAnswers(s3.port, LATE)) {
            var env = new HashMap<>(s3.env());
            env.put("AWS_ENDPOINT_URL", "http://127.0.0.1:" + late.port());
            var senders = new ArrayList<Senders.Interactive>();
            try (var receiver = Ferry.Server.start(List.of("--s3-part-mib", "5"), s3.url(prefix), env)) {
                startUploads(receiver, senders);
                awaitFirstParts(s3, prefix, receiver);

                assertThat(receiver.stop()).as("exit code of a stopped server").isZero();

                Map<String, Long> objects = s3.objects(prefix + "/");
                assertThat(objects).as("the log:%n%s", receiver.stdout()).hasSize(UPLOADS);
                for (String key : objects.keySet()) {
                    assertThat(new String(s3.bytes(key), java.nio.charset.StandardCharsets.US_ASCII)).as(key)
                            .isEqualTo("ERROR");
                }
                assertThat(s3.pendingMultipartUploads(prefix + "/")).as("multipart uploads left").isEmpty();
                // Each marker confirmed within the stop's grace: none logged as unfinished (marker-failed).
                assertThat(receiver.records()).hasSize(UPLOADS).allMatch(r -> r.outcome().equals("shutdown")
                        && !r.line().contains("marker-failed"), "logged as shutdown, its ERROR object confirmed");
            } finally {
                senders.forEach(Senders.Interactive::close);
            }
        }
    }

    /**
     * <ol>
     * <li>Ten uploads of 6 MiB each have their first part stored.</li>
     * <li>SIGKILL to the server's JVM (a crash): the ten multipart uploads stay pending.</li>
     * <li>A server started again on the same prefix aborts them before it listens, and
     * says so in one line; none is left.</li>
     * </ol>
     */
    @Test
    void aStartAfterACrashAbortsTheMultipartUploadsTheCrashLeft() throws Exception {
        String prefix = "crash";
        try (var s3 = TestS3.start()) {
            var senders = new ArrayList<Senders.Interactive>();
            try (var receiver = Ferry.Server.start(List.of("--s3-part-mib", "5"), s3.url(prefix), s3.env())) {
                startUploads(receiver, senders);
                awaitFirstParts(s3, prefix, receiver);
                receiver.killJvm();
            } finally {
                senders.forEach(Senders.Interactive::close);
            }
            assertThat(s3.pendingMultipartUploads(prefix + "/")).as("left by the crash").hasSize(UPLOADS);
            // Another prefix's pending upload is not this server's to abort.
            String other = s3.client().createMultipartUpload(b -> b.bucket(TestS3.BUCKET).key("other/1.file"))
                    .uploadId();

            try (var again = Ferry.Server.start(List.of("--s3-part-mib", "5"), s3.url(prefix), s3.env())) {
                assertThat(again.stdout().lines().filter(l -> l.contains("multipart upload")).toList())
                        .as("the start's log").singleElement().asString()
                        .endsWith(" ferry: aborted " + UPLOADS + " multipart uploads an earlier run left unfinished in "
                                + s3.url(prefix) + " (it was killed or crashed; their parts are dropped)");
                assertThat(s3.pendingMultipartUploads(prefix + "/")).as("left after the start").isEmpty();
                assertThat(s3.pendingMultipartUploads("other/")).extracting(u -> u.uploadId()).containsExactly(other);
                assertThat(again.stop()).isZero();
            }
        }
    }

    private static void startUploads(Ferry.Server receiver, List<Senders.Interactive> senders) throws Exception {
        for (int i = 1; i <= UPLOADS; i++) {
            senders.add(Senders.Interactive.start(receiver.port, "hold", SIZE, i, 0));
        }
    }

    /** Waits until each of the uploads has a multipart upload with a part stored (the server has its id). */
    private static void awaitFirstParts(TestS3 s3, String prefix, Ferry.Server receiver) {
        boolean stored = Ferry.await(Duration.ofSeconds(60), Duration.ofMillis(200), () -> {
            var uploads = s3.pendingMultipartUploads(prefix + "/");
            return uploads.size() == UPLOADS && uploads.stream().allMatch(u -> !s3.client().listParts(
                    b -> b.bucket(TestS3.BUCKET).key(u.key()).uploadId(u.uploadId())).parts().isEmpty());
        });
        assertThat(stored).as("%d multipart uploads with a part stored; the log:%n%s", UPLOADS, receiver.stdout())
                .isTrue();
    }
}
