package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS together with the features around an upload, through the real
 * {@code ./server --tls-cert --tls-key} and real TLS peers
 * ({@code tls_sender.py}, {@code socat OPENSSL:}, {@code ./client --cacert}):
 * S3 storage ({@link TestS3}), the shared counter ({@link TestPostgres}),
 * socket activation ({@code systemd-socket-activate}) and HAProxy in TCP mode
 * with the committed {@code examples/scale-out/haproxy.cfg}. The access rules
 * before the handshake are {@link ServerTlsIT}'s.
 */
class TlsFeaturesIT {
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final int MIB = 1 << 20;
    private static final List<String> SMALL_PARTS = List.of("--s3-part-mib", "5", "--s3-memory-mib", "20");

    @TempDir
    static Path shared;
    private static TestCerts certs;

    @TempDir
    Path tmp;

    @BeforeAll
    static void makeCertificatesAndBuild() throws Exception {
        certs = TestCerts.forClass(shared, "server", "client");
    }

    private static List<String> tlsOptions(String... more) {
        var options = new ArrayList<>(List.of("--tls-cert", certs.server.cert().toString(), "--tls-key",
                certs.server.key().toString()));
        options.addAll(List.of(more));
        return options;
    }

    /** {@code ./client --cacert CA localhost PORT FILE}: TLS, trusting the test CA. */
    private static Ferry.Result client(int port, Path file) throws IOException, InterruptedException {
        return Ferry.run("client", List.of("--cacert", certs.ca.cert().toString(), "localhost", Integer.toString(port),
                file.toString()), Map.of(), RUN);
    }

    /** {@code socat -u OPEN:FILE OPENSSL:localhost:PORT,cafile=CA}: a whole upload, ended with close_notify. */
    private static Ferry.Result socat(int port, Path file) throws IOException, InterruptedException {
        return Ferry.exec(List.of("socat", "-u", "OPEN:" + file, "OPENSSL:localhost:" + port + ",cafile="
                + certs.ca.cert()), Map.of(), null, RUN);
    }

    /**
     * FILE-DIR {@code s3://}: S3 mode's rule for an upload that ends in
     * {@code ERROR} ({@link S3StorageIT}) holds for one cut short over TLS.
     * <ol>
     * <li>tls_sender.py sends 7 MiB (a multipart upload of two 5 MiB parts)
     * and ends with close_notify: once the server's close_notify confirms it,
     * {@code tls/1.file} holds exactly those bytes;</li>
     * <li>it sends 6 MiB (a multipart upload begun) and closes without
     * close_notify (TLS 1.2, a plain FIN): the upload is {@code truncated},
     * {@code tls/2.file} holds exactly {@code ERROR}, and no multipart upload
     * is left pending.</li>
     * </ol>
     */
    @Test
    void overS3ACompleteUploadIsStoredWholeAndOneWithoutCloseNotifyIsAnErrorObject() throws Exception {
        Path whole = Ferry.randomFile(tmp, "whole", 7L * MIB, 41);
        Path cut = Ferry.randomFile(tmp, "cut", 6L * MIB, 42);
        try (var s3 = TestS3.start();
             var server = Ferry.Server.start(tlsOptions(SMALL_PARTS.toArray(String[]::new)), s3.url("tls"), s3.env())) {
            var sent = ServerTlsIT.python(server.port, whole, "notify", certs.ca.cert());
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("protocol TLSv1.3", "confirmed");
            // Confirmed by the server's close_notify: the object is complete now.
            assertThat(s3.objects("tls/")).containsEntry("tls/1.file", 7L * MIB);
            assertThat(s3.sha256("tls/1.file")).isEqualTo(Checksums.sha256(whole));
            assertThat(server.awaitRecord(1).complete()).isTrue();

            var closed = ServerTlsIT.python(server.port, cut, "close", certs.ca.cert(), "--tls12");
            assertThat(closed.stdout()).as("sender: %s", closed.stdout()).contains("closed");
            var record = server.awaitRecord(2);
            assertThat(record.outcome()).as(record.line()).isEqualTo("truncated");
            assertThat(record.line()).contains("without the sender's TLS close_notify");
            assertThat(new String(s3.bytes("tls/2.file"), StandardCharsets.US_ASCII)).isEqualTo("ERROR");
            assertThat(s3.objects("")).hasSize(2);
            assertThat(s3.pendingMultipartUploads("")).isEmpty();
            Ferry.stop(server);
        }
    }

    /**
     * {@code --counter}: numbers come from the shared counter over TLS too.
     * <ol>
     * <li>A TLS receiver with the counter takes the first block (1-100):
     * socat's upload is {@code 1.file};</li>
     * <li>a second TLS receiver on the same database, in a directory of its
     * own, takes the next block: {@code ./client}'s upload is
     * {@code 101.file} (a local counter would have made it {@code 1.file}),
     * whole.</li>
     * </ol>
     */
    @Test
    void numbersComeFromTheSharedCounterOverTls() throws Exception {
        assumeTrue(Ferry.has("socat"), "socat is needed");
        Path file = Ferry.randomFile(tmp, "upload", MIB, 43);
        try (var postgres = TestPostgres.start()) {
            var env = Map.of("FERRY_COUNTER", postgres.url(null));
            try (var first = Ferry.Server.start(List.of(), tlsOptions(), tmp.resolve("a"), env)) {
                var sent = socat(first.port, file);
                assertThat(sent.exitCode()).as("socat: %s", sent.stderr()).isZero();
                var record = first.awaitRecord(1);
                assertThat(record.complete()).as(record.line()).isTrue();
                assertThat(first.file(1)).hasSameBinaryContentAs(file);
                Ferry.stop(first);
            }
            try (var second = Ferry.Server.start(List.of(), tlsOptions(), tmp.resolve("b"), env)) {
                Ferry.assertSucceeded(client(second.port, file));
                var record = second.awaitRecord(DEADLINE, r -> true);
                assertThat(record.conn()).as(record.line()).isEqualTo(101);
                assertThat(record.complete()).as(record.line()).isTrue();
                assertThat(record.line()).contains("tls=TLSv1.3");
                assertThat(second.file(101)).hasSameBinaryContentAs(file);
                assertThat(second.stdout()).contains("counter: numbers 101-200 from ");
                Ferry.stop(second);
            }
        }
    }

    /**
     * Socket activation: the listening socket systemd passes serves TLS.
     * <ol>
     * <li>systemd-socket-activate listens; socat (which waits for the
     * handshake as long as the JVM takes to start) connects, which starts
     * {@code ./server --tls-cert --tls-key}; its upload is complete and
     * {@code 1.file} holds it;</li>
     * <li>{@code ./client --cacert} sends a second one: exit 0 (the server's
     * close_notify arrived), {@code 2.file} holds it;</li>
     * <li>the server says it took the socket from systemd.</li>
     * </ol>
     */
    @Test
    void aTlsUploadOnTheSocketFromSystemdIsCompleteAndConfirmed() throws Exception {
        assumeTrue(Ferry.has("systemd-socket-activate") && Ferry.has("socat"),
                "systemd-socket-activate and socat are needed");
        int port = Ports.unused();
        Path dir = tmp.resolve("files");
        Path file = Ferry.randomFile(tmp, "upload", MIB, 44);
        var args = tlsOptions(Integer.toString(port), dir.toString());
        try (var activator = SocketActivationIT.activate(List.of("--listen=127.0.0.1:" + port), args, port)) {
            var sent = socat(port, file);
            assertThat(sent.exitCode()).as("socat: %s", sent.stderr()).isZero();
            awaitComplete(activator, 1);
            assertThat(dir.resolve("1.file")).hasSameBinaryContentAs(file);
            Ferry.assertSucceeded(client(port, file));
            // ./client exits 0 only after the server's close_notify, written once the upload is final.
            assertThat(dir.resolve("2.file")).hasSameBinaryContentAs(file);
            awaitComplete(activator, 2);
            assertThat(activator.stdout()).contains("ferry: listening on port " + port + " (socket from systemd)",
                    "TLS 1.3/1.2 only");
            Ferry.signal(activator.pid(), "TERM");
            assertThat(activator.awaitExit(DEADLINE).exitCode()).isZero();
        }
    }

    /** Waits for connection {@code n}'s record in {@code proc}'s log and checks that it is complete, over TLS. */
    private static void awaitComplete(Proc proc, long n) {
        var line = Pattern.compile(" ferry: conn=" + n + " .* outcome=(\\S+) .*");
        assertThat(Ferry.await(DEADLINE, () -> line.matcher(proc.stdout()).find()))
                .as("conn=%d's record; log:%n%s", n, proc.stdout()).isTrue();
        var m = line.matcher(proc.stdout());
        assertThat(m.find()).isTrue();
        assertThat(m.group(1)).as(m.group()).isEqualTo("complete");
        assertThat(m.group()).contains("tls=TLSv1.3");
    }

    /**
     * HAProxy in TCP mode, with {@code examples/scale-out/haproxy.cfg} as
     * committed, in front of two TLS receivers: it passes TLS through
     * untouched, and its health checks leave nothing.
     * <ol>
     * <li>HAProxy starts while receiver b is down and marks it DOWN; b
     * starts, and HAProxy marks it UP: at least two of its checks reached b's
     * TLS port;</li>
     * <li>{@code ./client --cacert} sends two uploads through the balancer,
     * naming it {@code localhost} (the name the receivers' certificate
     * holds): each exits 0, which over TLS means the receiver's close_notify
     * came through, and each is saved whole;</li>
     * <li>an upload one byte over the receivers' {@code --max-bytes} fails at
     * the receiver after its last byte: through HAProxy, which turns the
     * receiver's reset into a clean close, {@code ./client --tls} still exits
     * 1 (no close_notify), which plain TCP cannot tell
     * ({@link LoadBalancerIT#aFailureAfterTheLastByteReachesTheSenderAsACleanClose});</li>
     * <li>the receivers logged these three uploads and nothing else: no
     * health check became a connection (no record, no file).</li>
     * </ol>
     */
    @Test
    void throughHaproxyInTcpModeTlsUploadsAreConfirmedAndHealthChecksLeaveNoFiles() throws Exception {
        assumeTrue(Ferry.has("haproxy"), "haproxy is needed");
        Path config = Ferry.ROOT.resolve("examples/scale-out/haproxy.cfg");
        var env = Map.of("FERRY_MAX_BYTES", Integer.toString(2 * MIB));
        Path file = Ferry.randomFile(tmp, "upload", MIB, 45);
        Path over = Ferry.randomFile(tmp, "over", 2L * MIB + 1, 46);
        int portB = Ports.unused();
        try (var a = Ferry.Server.start(List.of(), tlsOptions(), tmp.resolve("a"), env)) {
            int portA = a.port;
            while (portB == portA) {
                portB = Ports.unused();
            }
            try (var haproxy = LoadBalancerIT.Balancer.start(config, tmp, Ports.unused(), portA, portB)) {
                awaitHaproxyLog(haproxy, "receivers/b is DOWN");
                try (var b = Ferry.Server.start(List.of(), tlsOptions(), portB, tmp.resolve("b").toString(),
                        tmp.resolve("b"), env)) {
                    awaitHaproxyLog(haproxy, "receivers/b is UP");
                    for (int i = 0; i < 2; i++) {
                        Ferry.assertSucceeded(client(haproxy.port, file));
                    }
                    var failed = client(haproxy.port, over);
                    assertThat(failed.exitCode()).as("./client over TLS through HAProxy; stderr: %s", failed.stderr())
                            .isEqualTo(1);
                    assertThat(failed.stderr()).startsWith("ERROR:");

                    var records = new ArrayList<Ferry.Server.Record>();
                    assertThat(Ferry.await(DEADLINE, () -> {
                        records.clear();
                        records.addAll(a.records());
                        records.addAll(b.records());
                        return records.size() >= 3;
                    })).as("three records").isTrue();
                    assertThat(records).extracting(Ferry.Server.Record::outcome)
                            .containsExactlyInAnyOrder("complete", "complete", "too-large");
                    for (var record : records) {
                        Path saved = Path.of(record.file());
                        if (record.complete()) {
                            assertThat(saved).hasSameBinaryContentAs(file);
                        } else {
                            assertThat(saved).hasContent("ERROR");
                        }
                    }
                    // HAProxy went on checking both every second meanwhile: still only these three.
                    assertThat(uploadFiles(tmp.resolve("a")) + uploadFiles(tmp.resolve("b")))
                            .as("N.file in both directories").isEqualTo(3);
                    assertThat(a.records().size() + b.records().size()).as("records of both").isEqualTo(3);
                }
            }
        }
    }

    private static long uploadFiles(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".file")).count();
        }
    }

    private static void awaitHaproxyLog(LoadBalancerIT.Balancer haproxy, String fragment) {
        assertThat(Ferry.await(DEADLINE, () -> haproxy.log().contains(fragment)))
                .as("HAProxy logs \"%s\"; its log:%n%s", fragment, haproxy.log()).isTrue();
    }
}
