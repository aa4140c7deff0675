package ferry.server.report;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.common.Version;
import ferry.server.report.ServerEvents.Refusal;
import java.nio.file.Path;
import java.time.Instant;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the metrics count for each event, read back as a scrape reads them (no HTTP: that is MetricsIT's). */
class PrometheusMetricsTest {
    @TempDir
    Path dir;

    private static UploadRecord record(long number, long bytes, long millis, Outcome outcome) {
        var start = Instant.parse("2026-01-01T00:00:00Z");
        return new UploadRecord(number, "127.0.0.1:40000", bytes, start, start.plusMillis(millis), outcome,
                outcome == Outcome.COMPLETE ? null : "why", "/srv/" + number + ".file", null, null);
    }

    /** The value of the one sample named {@code sample} (with its labels, as written), or NaN when absent. */
    private static double value(String scrape, String sample) {
        var matcher = Pattern.compile("^" + Pattern.quote(sample) + " (\\S+)$", Pattern.MULTILINE).matcher(scrape);
        return matcher.find() ? Double.parseDouble(matcher.group(1)) : Double.NaN;
    }

    @Test
    void beforeAnyEventEverySeriesIsThereAtZero() {
        String scrape = new PrometheusMetrics(dir).scrape();
        for (Outcome outcome : Outcome.values()) {
            assertThat(value(scrape, "ferry_uploads_total{outcome=\"" + outcome.label() + "\"}")).isZero();
        }
        assertThat(value(scrape, "ferry_connections_refused_total{by=\"rule\"}")).isZero();
        assertThat(value(scrape, "ferry_connections_refused_total{by=\"free-space\"}")).isZero();
        assertThat(value(scrape, "ferry_accept_backoffs_total")).isZero();
        assertThat(value(scrape, "ferry_received_bytes_total")).isZero();
        assertThat(value(scrape, "ferry_uploads_in_flight")).isZero();
        assertThat(value(scrape, "ferry_upload_duration_seconds_count")).isZero();
        assertThat(value(scrape, "ferry_upload_size_bytes_count")).isZero();
        assertThat(value(scrape, "ferry_build_info{version=\"" + Version.number() + "\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_directory_free_bytes")).isPositive();
    }

    @Test
    void eachUploadIsCountedByOutcomeWithItsBytesDurationAndSize() {
        var metrics = new PrometheusMetrics(dir);
        metrics.uploadStarted(1);
        metrics.uploadStarted(2);
        metrics.uploadStarted(3);
        assertThat(value(metrics.scrape(), "ferry_uploads_in_flight")).isEqualTo(3);
        metrics.uploadEnded(record(1, 500, 20, Outcome.COMPLETE));
        metrics.uploadEnded(record(2, 3 << 20, 10_400, Outcome.IDLE_TIMEOUT));
        String scrape = metrics.scrape();
        assertThat(value(scrape, "ferry_uploads_in_flight")).isEqualTo(1);
        assertThat(value(scrape, "ferry_uploads_total{outcome=\"complete\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_uploads_total{outcome=\"idle-timeout\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_uploads_total{outcome=\"reset\"}")).isZero();
        assertThat(value(scrape, "ferry_received_bytes_total")).isEqualTo(500 + (3 << 20));
        // 20 ms and 10.4 s; 500 B and 3 MiB.
        assertThat(value(scrape, "ferry_upload_duration_seconds_bucket{le=\"0.01\"}")).isZero();
        assertThat(value(scrape, "ferry_upload_duration_seconds_bucket{le=\"0.05\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_upload_duration_seconds_bucket{le=\"10.0\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_upload_duration_seconds_bucket{le=\"30.0\"}")).isEqualTo(2);
        assertThat(value(scrape, "ferry_upload_duration_seconds_count")).isEqualTo(2);
        assertThat(value(scrape, "ferry_upload_duration_seconds_sum")).isCloseTo(10.42, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"1024.0\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"1048576.0\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"1.6777216E7\"}")).isEqualTo(2);
        assertThat(value(scrape, "ferry_upload_size_bytes_sum")).isEqualTo(500 + (3 << 20));
    }

    @Test
    void aBucketHoldsItsUpperBoundAndLargerValuesGoToInfinity() {
        var metrics = new PrometheusMetrics(dir);
        for (long bytes : new long[] {0, 1024, 1025, 2L << 40}) {
            metrics.uploadEnded(record(1, bytes, 1000, Outcome.COMPLETE));
        }
        String scrape = metrics.scrape();
        assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"1024.0\"}")).isEqualTo(2);
        assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"65536.0\"}")).isEqualTo(3);
        assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"1.099511627776E12\"}")).isEqualTo(3);
        assertThat(value(scrape, "ferry_upload_size_bytes_bucket{le=\"+Inf\"}")).isEqualTo(4);
        assertThat(value(scrape, "ferry_upload_size_bytes_count")).isEqualTo(4);
        assertThat(value(scrape, "ferry_upload_duration_seconds_bucket{le=\"0.5\"}")).isZero();
        assertThat(value(scrape, "ferry_upload_duration_seconds_bucket{le=\"1.0\"}")).as("1 s is in le=1").isEqualTo(4);
    }

    /** Workers of many uploads report at once: no count is lost. */
    @Test
    void concurrentReportsAreAllCounted() throws Exception {
        var metrics = new PrometheusMetrics(dir);
        int threads = 4;
        int each = 50_000;
        var workers = new java.util.ArrayList<Thread>();
        for (int t = 0; t < threads; t++) {
            workers.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < each; i++) {
                    metrics.uploadStarted(i);
                    metrics.uploadEnded(record(i, 2, 1, Outcome.RESET));
                }
            }));
        }
        for (Thread worker : workers) {
            worker.join(java.time.Duration.ofSeconds(30));
        }
        String scrape = metrics.scrape();
        assertThat(value(scrape, "ferry_uploads_total{outcome=\"reset\"}")).isEqualTo(threads * each);
        assertThat(value(scrape, "ferry_received_bytes_total")).isEqualTo(2.0 * threads * each);
        assertThat(value(scrape, "ferry_upload_size_bytes_count")).isEqualTo(threads * each);
        assertThat(value(scrape, "ferry_upload_size_bytes_sum")).isEqualTo(2.0 * threads * each);
        assertThat(value(scrape, "ferry_uploads_in_flight")).isZero();
    }

    @Test
    void everyOutcomeHasItsOwnSeries() {
        var metrics = new PrometheusMetrics(dir);
        Outcome[] outcomes = Outcome.values();
        for (int i = 0; i < outcomes.length; i++) {
            for (int n = 0; n <= i; n++) {
                metrics.uploadStarted(n);
                metrics.uploadEnded(record(n, 1, 1, outcomes[i]));
            }
        }
        String scrape = metrics.scrape();
        for (int i = 0; i < outcomes.length; i++) {
            assertThat(value(scrape, "ferry_uploads_total{outcome=\"" + outcomes[i].label() + "\"}"))
                    .as(outcomes[i].label()).isEqualTo(i + 1);
        }
        assertThat(value(scrape, "ferry_uploads_in_flight")).isZero();
    }

    @Test
    void refusalsAreCountedByRuleOrFreeSpaceAndBackOffsOnTheirOwn() {
        var metrics = new PrometheusMetrics(dir);
        metrics.refused(Refusal.RULE);
        metrics.refused(Refusal.FREE_SPACE);
        metrics.refused(Refusal.FREE_SPACE);
        metrics.acceptBackedOff();
        String scrape = metrics.scrape();
        assertThat(value(scrape, "ferry_connections_refused_total{by=\"rule\"}")).isEqualTo(1);
        assertThat(value(scrape, "ferry_connections_refused_total{by=\"free-space\"}")).isEqualTo(2);
        assertThat(value(scrape, "ferry_accept_backoffs_total")).isEqualTo(1);
        assertThat(value(scrape, "ferry_uploads_in_flight")).isZero();
    }

    @Test
    void freeSpaceThatCannotBeReadIsLeftOutNotReportedAsZero() {
        String scrape = new PrometheusMetrics(dir.resolve("gone")).scrape();
        assertThat(scrape).doesNotContain("ferry_directory_free_bytes ");
    }
}
