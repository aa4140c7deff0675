package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code ./server} with {@code --tls-cert}, {@code --tls-key} and
 * {@code --tls-client-ca}, fed by independent TLS senders: Python's
 * {@code ssl} module ({@code tls_sender.py}), {@code socat -u FILE
 * OPENSSL:...} and {@code ./client --cacert}, with certificates made by
 * {@code openssl} ({@link TestCerts}). An upload is complete only when the
 * sender's {@code close_notify} arrived after its last byte; every other end
 * leaves {@code ERROR}.
 */
class ServerTlsIT {
    static final Path TLS_SENDER = Ferry.ROOT.resolve("src/test/resources/ferry/it/tls_sender.py");
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final Duration RECORD = Duration.ofSeconds(30);
    private static final long MEDIUM = 1 << 20;

    @TempDir
    static Path shared;
    private static TestCerts certs;
    private static Path medium;

    @TempDir
    Path tmp;

    @BeforeAll
    static void makeCertificatesAndBuild() throws Exception {
        certs = TestCerts.forClass(shared, "server");
        medium = Ferry.randomFile(shared, "medium.bin", MEDIUM, 23);
    }

    private static List<String> tlsOptions() {
        return List.of("--tls-cert", certs.server.cert().toString(), "--tls-key", certs.server.key().toString());
    }

    private static List<String> mutualOptions() {
        var options = new ArrayList<>(tlsOptions());
        options.addAll(List.of("--tls-client-ca", certs.ca.cert().toString()));
        return options;
    }

    private Ferry.Server server(List<String> options) throws IOException {
        return server(options, Map.of());
    }

    private Ferry.Server server(List<String> options, Map<String, String> env) throws IOException {
        return Ferry.Server.start(List.of(), options, tmp.resolve("out"), env);
    }

    /** tls_sender.py: {@code ending} is notify (close_notify, then wait for the server's) or close (none). */
    static Ferry.Result python(int port, Path file, String ending, Path ca, String... extra)
            throws IOException, InterruptedException {
        var command = new ArrayList<>(List.of("python3", TLS_SENDER.toString(), Integer.toString(port),
                file.toString(), ending, ca.toString()));
        command.addAll(List.of(extra));
        return Ferry.exec(command, Map.of(), null, RUN);
    }

    private static void assertError(Ferry.Server server, Ferry.Server.Record record) throws IOException {
        assertThat(record.complete()).as(record.line()).isFalse();
        assertThat(Files.readString(server.dir.resolve(record.conn() + ".file"))).isEqualTo("ERROR");
    }

    // ---- complete uploads: the sender's close_notify after its last byte -------------------------

    @Test
    void pythonWithCloseNotifyIsCompleteAndConfirmedByTheServersCloseNotify() throws Exception {
        try (var server = server(tlsOptions())) {
            var sent = python(server.port, medium, "notify", certs.ca.cert());
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("protocol TLSv1.3", "confirmed");
            assertThat(sent.exitCode()).isZero();
            var record = server.awaitRecord(1);
            assertThat(record.complete()).as(record.line()).isTrue();
            assertThat(record.bytes()).isEqualTo(MEDIUM);
            assertThat(server.dir.resolve("1.file")).hasSameBinaryContentAs(medium);
        }
    }

    /** The stream in pieces of 1000 bytes: the server's reads end in mid-record, which it keeps for the next. */
    @Test
    void recordsCutInTwoByTheNetworkAreJoined() throws Exception {
        Path file = Ferry.randomFile(tmp, "dribbled.bin", 200_000, 29);
        try (var server = server(tlsOptions())) {
            var sent = python(server.port, file, "notify", certs.ca.cert(), "--dribble");
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("protocol TLSv1.3", "confirmed");
            var record = server.awaitRecord(1);
            assertThat(record.complete()).as(record.line()).isTrue();
            assertThat(server.dir.resolve("1.file")).hasSameBinaryContentAs(file);
        }
    }

    @Test
    void tls12IsServedToo() throws Exception {
        try (var server = server(tlsOptions())) {
            var sent = python(server.port, medium, "notify", certs.ca.cert(), "--tls12");
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("protocol TLSv1.2", "confirmed");
            assertThat(server.awaitRecord(1).complete()).isTrue();
            assertThat(server.dir.resolve("1.file")).hasSameBinaryContentAs(medium);
        }
    }

    @Test
    void socatWholeUploadIsComplete() throws Exception {
        assumeTrue(Ferry.has("socat"), "socat is needed");
        try (var server = server(tlsOptions())) {
            var sent = Ferry.exec(List.of("socat", "-u", "OPEN:" + medium, "OPENSSL:localhost:" + server.port
                    + ",cafile=" + certs.ca.cert()), Map.of(), null, RUN);
            assertThat(sent.exitCode()).as("socat: %s", sent.stderr()).isZero();
            var record = server.awaitRecord(1);
            assertThat(record.complete()).as(record.line()).isTrue();
            assertThat(server.dir.resolve("1.file")).hasSameBinaryContentAs(medium);
        }
    }

    @Test
    void ferryClientOverTlsIsCompleteAndExitsZero() throws Exception {
        try (var server = server(tlsOptions())) {
            var sent = Ferry.run("client", List.of("--cacert", certs.ca.cert().toString(), "localhost",
                    Integer.toString(server.port), medium.toString()), Map.of(), RUN);
            assertThat(sent.exitCode()).as("client: %s", sent.stderr()).isZero();
            assertThat(server.awaitRecord(1).complete()).isTrue();
            assertThat(server.dir.resolve("1.file")).hasSameBinaryContentAs(medium);
        }
    }

    // ---- cut-off uploads: no close_notify -----------------------------------------------------------

    /** TLS 1.2: its session ticket comes within the handshake, so close() leaves nothing unread: a plain FIN. */
    @Test
    void pythonClosingWithoutCloseNotifyIsTruncated() throws Exception {
        try (var server = server(tlsOptions())) {
            var sent = python(server.port, medium, "close", certs.ca.cert(), "--tls12");
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("closed");
            var record = server.awaitRecord(1);
            assertThat(record.outcome()).as(record.line()).isEqualTo("truncated");
            assertThat(record.line()).contains("truncated", "without the sender's TLS close_notify");
            assertError(server, record);
        }
    }

    @Test
    void socatKilledMidUploadLeavesError() throws Exception {
        assumeTrue(Ferry.has("socat"), "socat is needed");
        try (var server = server(tlsOptions());
             var socat = Proc.start(List.of("socat", "-u", "STDIN", "OPENSSL:localhost:" + server.port + ",cafile="
                     + certs.ca.cert()), Map.of(), ProcessBuilder.Redirect.PIPE)) {
            OutputStream in = socat.stdin();
            // 1 MiB through a 64 KiB pipe: when the write returns, socat has read (and sent) most of it.
            in.write(Files.readAllBytes(medium));
            in.flush();
            socat.signal("KILL");
            var record = server.awaitRecord(1);
            assertThat(record.outcome()).as(record.line()).isIn("truncated", "reset");
            assertError(server, record);
        }
    }

    // ---- not TLS, stalled, refused ------------------------------------------------------------------

    @Test
    void plainTcpPeerOnATlsPortLeavesError() throws Exception {
        try (var server = server(tlsOptions())) {
            try (var socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", server.port), 10_000);
                socket.getOutputStream().write("plain text, not TLS\n".repeat(100).getBytes());
                socket.shutdownOutput();
                server.awaitRecord(1);
            }
            var record = server.awaitRecord(1);
            assertThat(record.outcome()).as(record.line()).isEqualTo("tls-failed");
            assertError(server, record);
            // A plain peer that sends nothing and closes: no empty N.file that looks complete.
            try (var socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", server.port), 10_000);
                socket.shutdownOutput();
                server.awaitRecord(2);
            }
            var empty = server.awaitRecord(2);
            assertThat(empty.outcome()).as(empty.line()).isEqualTo("truncated");
            assertError(server, empty);
        }
    }

    @Test
    void stalledHandshakeHoldsUpNoOtherAndEndsAfterTheIdleLimit() throws Exception {
        try (var server = server(tlsOptions(), Map.of("FERRY_IDLE_TIMEOUT_MS", "3000"));
             var stalled = new Socket()) {
            stalled.connect(new InetSocketAddress("127.0.0.1", server.port), 10_000);
            stalled.getOutputStream().write(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01}); // half a ClientHello
            stalled.getOutputStream().flush();
            var sent = python(server.port, medium, "notify", certs.ca.cert());
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("confirmed");
            assertThat(server.awaitRecord(2).complete()).isTrue();
            assertThat(server.records()).as("the stalled handshake is still waiting").extracting(r -> r.conn())
                    .doesNotContain(1L);
            var record = server.awaitRecord(1);
            assertThat(record.outcome()).as(record.line()).isEqualTo("idle-timeout");
            assertError(server, record);
        }
    }

    @Test
    void mutualTlsServesAClientOfTheCa() throws Exception {
        try (var server = server(mutualOptions())) {
            assertThat(server.stdout()).contains("TLS 1.3/1.2 only, certificate " + certs.server.cert(),
                    "client certificates from the CAs of " + certs.ca.cert());
            var sent = python(server.port, medium, "notify", certs.ca.cert(), "--cert", certs.client.cert().toString(),
                    "--key", certs.client.key().toString());
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("confirmed");
            assertThat(server.awaitRecord(1).complete()).isTrue();
            assertThat(server.dir.resolve("1.file")).hasSameBinaryContentAs(medium);
            // ferry's own client sends its last flight (certificate, proof, Finished) in one record, which the
            // server's engine checks in a delegated task: the record must still name it.
            var ours = Ferry.run("client", List.of("--cacert", certs.ca.cert().toString(), "--cert",
                    certs.client.cert().toString(), "--key", certs.client.key().toString(), "localhost",
                    Integer.toString(server.port), medium.toString()), Map.of(), RUN);
            assertThat(ours.exitCode()).as("client: %s", ours.stderr()).isZero();
            var record = server.awaitRecord(2);
            assertThat(record.complete()).isTrue();
            assertThat(record.line()).contains(" tls=TLSv1.3 ", " tls-client=\"CN=ferry test client\"");
            assertThat(server.dir.resolve("2.file")).hasSameBinaryContentAs(medium);
        }
    }

    @Test
    void mutualTlsRefusesNoCertificateAndAnotherCasWithError() throws Exception {
        try (var server = server(mutualOptions())) {
            var none = python(server.port, medium, "notify", certs.ca.cert());
            assertThat(none.stdout()).as("sender: %s", none.stdout()).doesNotContain("confirmed");
            var first = server.awaitRecord(1);
            assertThat(first.outcome()).as(first.line()).isEqualTo("tls-failed");
            assertError(server, first);
            var other = python(server.port, medium, "notify", certs.ca.cert(), "--cert",
                    certs.otherClient.cert().toString(), "--key", certs.otherClient.key().toString());
            assertThat(other.stdout()).as("sender: %s", other.stdout()).doesNotContain("confirmed");
            var second = server.awaitRecord(2);
            assertThat(second.outcome()).as(second.line()).isEqualTo("tls-failed");
            assertError(server, second);
        }
    }

    @Test
    void recordHookAndMetricsSayTheProtocolAndTheClientsSubject() throws Exception {
        Path hookOut = tmp.resolve("hook.txt");
        Path script = tmp.resolve("hook.sh");
        Files.writeString(script, "#!/bin/sh\nprintf '%s|%s\\n' \"$FERRY_TLS\" \"$FERRY_TLS_CLIENT\" > '"
                + hookOut + ".tmp' && mv '" + hookOut + ".tmp' '" + hookOut + "'\n");
        script.toFile().setExecutable(true);
        int metricsPort = Ports.unused();
        var options = new ArrayList<>(mutualOptions());
        options.addAll(List.of("--on-upload", "'" + script + "'", "--metrics", "127.0.0.1:" + metricsPort));
        try (var server = server(options)) {
            var sent = python(server.port, medium, "notify", certs.ca.cert(), "--cert", certs.client.cert().toString(),
                    "--key", certs.client.key().toString());
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("confirmed");
            var record = server.awaitRecord(1);
            assertThat(record.line()).contains(" tls=TLSv1.3 ", " tls-client=\"CN=ferry test client\"");
            assertThat(Ferry.await(RECORD, () -> Files.exists(hookOut))).as("the hook ran").isTrue();
            assertThat(Files.readString(hookOut)).isEqualTo("TLSv1.3|CN=ferry test client\n");
            MetricsIT.awaitSample(metricsPort, "ferry_tls_uploads_total{protocol=\"TLSv1.3\"}", 1);
        }
        Files.delete(hookOut);
        tmp.resolve("out").toFile().renameTo(tmp.resolve("out-text").toFile());
        var json = new ArrayList<>(tlsOptions());
        json.addAll(List.of("--log-format", "json"));
        try (var server = Ferry.Server.start(List.of(), json, tmp.resolve("out"), Map.of())) {
            var sent = python(server.port, medium, "notify", certs.ca.cert(), "--tls12");
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).contains("confirmed");
            assertThat(server.awaitLine(RECORD, "\"conn\":1,")).contains("\"outcome\":\"complete\"",
                    "\"tls\":\"TLSv1.2\"").doesNotContain("tls_client");
        }
    }

    /** The access rules act before the handshake: a denied peer is reset unnumbered, its TLS never begun. */
    @Test
    void accessRulesRefuseBeforeTheHandshake() throws Exception {
        var options = new ArrayList<>(tlsOptions());
        options.addAll(List.of("--deny", "127.0.0.1/32"));
        try (var server = server(options)) {
            var sent = python(server.port, medium, "notify", certs.ca.cert());
            assertThat(sent.stdout()).as("sender: %s", sent.stdout()).startsWith("failed:").doesNotContain("protocol");
            assertThat(Ferry.await(RECORD, () -> server.stdout().contains("refused peer=127.0.0.1:"))).isTrue();
            assertThat(server.records()).isEmpty();
        }
    }

    /** A stop (SIGTERM) mid-upload over TLS: exit 0, and the file reads ERROR, as without TLS (S3). */
    @Test
    void stopMidUploadLeavesError() throws Exception {
        try (var server = server(tlsOptions());
             var stalled = Proc.start(List.of("python3", TLS_SENDER.toString(), Integer.toString(server.port),
                     "/dev/zero", "notify", certs.ca.cert().toString()), Map.of(), null)) {
            assertThat(Ferry.await(RECORD, () -> stalled.stdout().contains("protocol TLSv1.3"))).isTrue();
            server.signal("TERM");
            assertThat(server.awaitExit(RUN)).isZero();
            var record = server.awaitRecord(1);
            assertThat(record.outcome()).as(record.line()).isEqualTo("shutdown");
            assertError(server, record);
        }
    }

    // ---- rotation ----------------------------------------------------------------------------------

    @Test
    void renamedNewPairServesNewConnectionsAndABrokenOneKeepsTheOld() throws Exception {
        Path cert = tmp.resolve("live.pem");
        Path key = tmp.resolve("live.key");
        Files.copy(certs.server.cert(), cert);
        Files.copy(certs.server.key(), key);
        try (var server = server(List.of("--tls-cert", cert.toString(), "--tls-key", key.toString()))) {
            assertThat(python(server.port, medium, "notify", certs.ca.cert()).stdout()).contains("confirmed");
            // The new pair, from another CA, renamed into place as certbot and cert-manager do: key, then cert.
            TestCerts.renameIntoPlace(certs.untrustedServer.key(), key);
            TestCerts.renameIntoPlace(certs.untrustedServer.cert(), cert);
            server.awaitLine(Duration.ofSeconds(5), "serving the new certificate");
            var rotated = python(server.port, medium, "notify", certs.otherCa.cert());
            assertThat(rotated.stdout()).as("sender trusting only the new CA: %s", rotated.stdout())
                    .contains("confirmed");
            // A broken pair: logged once, the pair in use goes on serving.
            Path garbage = tmp.resolve("garbage");
            Files.writeString(garbage, "not a certificate\n");
            TestCerts.renameIntoPlace(garbage, cert);
            String broken = "were not taken, the old ones still serve: --tls-cert \"" + cert + "\" holds no certificate";
            server.awaitLine(Duration.ofSeconds(5), broken);
            // The old pair goes on serving, upload after upload, for several of the watcher's periods.
            long brokenSince = System.nanoTime();
            do {
                var kept = python(server.port, medium, "notify", certs.otherCa.cert());
                assertThat(kept.stdout()).as("sender: %s", kept.stdout()).contains("confirmed");
            } while (System.nanoTime() - brokenSince < Duration.ofMillis(2500).toNanos());
            // A good pair again: the watcher has looked since, and logged the broken one no second time.
            TestCerts.renameIntoPlace(certs.untrustedServer.cert(), cert);
            assertThat(Ferry.await(Duration.ofSeconds(5), () -> server.stdout().lines()
                    .filter(l -> l.contains("serving the new certificate")).count() == 2)).isTrue();
            assertThat(server.stdout().lines().filter(l -> l.contains(broken))).hasSize(1);
            assertThat(server.records()).extracting(r -> r.outcome()).containsOnly("complete");
        }
    }

    // ---- start-up errors and class loading ----------------------------------------------------------

    @Test
    void badTlsFilesAreOneErrorLineExitTwoAndNoDirectory() throws Exception {
        Path dir = tmp.resolve("never");
        String port = Integer.toString(Ports.unused());
        List<List<String>> bad = List.of(
                List.of("--tls-cert", certs.server.cert().toString()),
                List.of("--tls-key", certs.server.key().toString()),
                List.of("--tls-cert", certs.server.cert().toString(), "--tls-key", certs.client.key().toString()),
                List.of("--tls-cert", tmp.resolve("missing.pem").toString(), "--tls-key",
                        certs.server.key().toString()),
                List.of("--tls-client-ca", certs.ca.cert().toString()));
        for (List<String> options : bad) {
            var args = new ArrayList<>(options);
            args.addAll(List.of(port, dir.toString()));
            var result = Ferry.run("server", args, Map.of(), RUN);
            assertThat(result.exitCode()).as("%s: %s", options, result.stderr()).isEqualTo(2);
            assertThat(result.stderr().lines().toList()).as("%s", options).hasSize(1);
            assertThat(result.firstStderrLine()).startsWith("ERROR: ");
            assertThat(dir).doesNotExist();
        }
        var env = Ferry.run("server", List.of(port, dir.toString()),
                Map.of("FERRY_TLS_CERT", certs.server.cert().toString()), RUN);
        assertThat(env.exitCode()).isEqualTo(2);
        assertThat(env.firstStderrLine()).isEqualTo("ERROR: FERRY_TLS_CERT needs --tls-key (FERRY_TLS_KEY) too: the"
                + " server's certificate and its private key");
        assertThat(dir).doesNotExist();
    }

    @Test
    void aPlainServerLoadsNoTlsClass() throws Exception {
        String tlsClass = "(?s).*\\b(javax\\.net\\.ssl|sun\\.security\\.ssl|ferry\\.server\\.tls)\\.\\w.*";
        Path plainLog = tmp.resolve("plain.log");
        try (var server = server(List.of(), Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + plainLog))) {
            var sent = Ferry.client("127.0.0.1", server.port, medium, Map.of());
            assertThat(sent.exitCode()).as("client: %s", sent.stderr()).isZero();
            assertThat(server.awaitRecord(1).complete()).isTrue();
        }
        assertThat(Files.readString(plainLog)).contains("ferry.server.net.Upload").doesNotMatch(tlsClass);
        Path tlsLog = tmp.resolve("tls.log");
        tmp.resolve("out").toFile().renameTo(tmp.resolve("out-plain").toFile());
        try (var server = server(tlsOptions(), Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + tlsLog))) {
            assertThat(python(server.port, medium, "notify", certs.ca.cert()).stdout()).contains("confirmed");
            assertThat(server.awaitRecord(1).complete()).isTrue();
        }
        assertThat(Files.readString(tlsLog)).matches(tlsClass);
    }
}
