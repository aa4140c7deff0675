package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ferry.it.TlsReceiver.Ending;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The real {@code ./client} over TLS ({@code --tls}, {@code --cacert},
 * {@code --cert}, {@code --key}) against independent TLS receivers: Python's
 * {@code ssl} module ({@code tls_receiver.py}) and {@code socat
 * OPENSSL-LISTEN:}, with certificates made by {@code openssl}
 * ({@link TestCerts}). An upload is confirmed only by the receiver's
 * {@code close_notify}; a bad certificate or name fails in the handshake,
 * before any byte of the file is sent.
 */
class ClientTlsIT {
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final Duration REPORT = Duration.ofSeconds(30);
    private static final long MEDIUM = 1 << 20;

    @TempDir
    static Path shared;
    private static TestCerts certs;
    private static Path medium;

    @TempDir
    Path tmp;

    @BeforeAll
    static void makeCertificatesAndBuild() throws Exception {
        certs = TestCerts.forClass(shared, "client");
        medium = Ferry.randomFile(shared, "medium.bin", MEDIUM, 19);
    }

    private static Ferry.Result client(List<String> options, int port, Path... files)
            throws IOException, InterruptedException {
        return client(options, Map.of(), "localhost", port, files);
    }

    private static Ferry.Result client(List<String> options, Map<String, String> env, String host, int port,
                                       Path... files) throws IOException, InterruptedException {
        var args = new ArrayList<>(options);
        args.add(host);
        args.add(Integer.toString(port));
        for (Path file : files) {
            args.add(file.toString());
        }
        return Ferry.run("client", args, env, RUN);
    }

    private static List<String> trustingCa() {
        return List.of("--cacert", certs.ca.cert().toString());
    }

    private static void assertFailedWith(Ferry.Result result, String regex) {
        assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(1);
        assertThat(result.stderr().lines().toList()).as("stderr lines").hasSize(1);
        assertThat(result.firstStderrLine()).matches(regex);
    }

    // ---- a complete upload: the receiver's close_notify confirms it -----------------------------

    /**
     * 1. A Python receiver that answers the sender's close_notify with its own.
     * 2. The client sends 1 MiB over TLS 1.3, or 1.2, trusting the test CA.
     * 3. It exits 0; the receiver got the sender's close_notify and every byte.
     */
    @ParameterizedTest
    @ValueSource(strings = {"1.3", "1.2"})
    void aCompleteUploadIsConfirmedByTheReceiversCloseNotify(String version) throws Exception {
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.NOTIFY, "--max-tls", version)) {
            var result = client(trustingCa(), receiver.port(), medium);
            Ferry.assertSucceeded(result);
            assertThat(receiver.awaitEnd(1, REPORT)).isEqualTo("done 1 " + MEDIUM + " close_notify=yes TLSv" + version);
            assertThat(Checksums.sha256(receiver.file(1))).isEqualTo(Checksums.sha256(medium));
        }
    }

    /**
     * 1. socat -u OPENSSL-LISTEN: saves what arrives (socat 1.7.4 answers the
     *    sender's close_notify with its own before it closes).
     * 2. The client sends 1 MiB with --tls implied by --cacert.
     * 3. It exits 0 and socat's file holds the same bytes.
     */
    @Test
    void socatAsTheReceiverConfirmsACompleteUpload() throws Exception {
        assumeTrue(Ferry.has("socat"), "socat is needed");
        int port = Ports.unused();
        Path out = tmp.resolve("socat.out");
        try (var socat = Proc.start(List.of("socat", "-u", "OPENSSL-LISTEN:" + port + ",bind=127.0.0.1,reuseaddr,cert="
                + certs.server.cert() + ",key=" + certs.server.key() + ",verify=0", "OPEN:" + out + ",creat,trunc"),
                Map.of(), null)) {
            assertThat(Ferry.await(REPORT, () -> Ferry.listening(port))).as("socat listens").isTrue();
            var result = client(trustingCa(), port, medium);
            Ferry.assertSucceeded(result);
            assertThat(socat.awaitExit(REPORT).exitCode()).isZero();
            assertThat(Checksums.sha256(out)).isEqualTo(Checksums.sha256(medium));
        }
    }

    /**
     * 1. A pipe as the client's standard input (a stream, read on the
     *    client's reader thread rather than from a file by position).
     * 2. The client sends it over TLS to a receiver that confirms.
     * 3. It exits 0 and the receiver has the same bytes.
     */
    @Test
    void aStreamFromAPipeArrivesWhole() throws Exception {
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.NOTIFY);
             var sender = Proc.bash("cat \"$1\" | \"$CLIENT\" --cacert \"$2\" localhost \"$3\" -",
                     List.of(medium.toString(), certs.ca.cert().toString(), Integer.toString(receiver.port())),
                     Map.of())) {
            Ferry.assertSucceeded(sender.awaitExit(RUN));
            assertThat(receiver.awaitEnd(1, REPORT)).startsWith("done 1 " + MEDIUM + " close_notify=yes");
            assertThat(Checksums.sha256(receiver.file(1))).isEqualTo(Checksums.sha256(medium));
        }
    }

    // ---- a receiver that does not confirm -------------------------------------------------------

    /**
     * 1. A Python receiver that reads everything, the sender's close_notify
     *    too, then closes without its own close_notify (a TCP FIN only).
     * 2. The client exits 1: the upload is unconfirmed.
     */
    @ParameterizedTest
    @ValueSource(strings = {"1.3", "1.2"})
    void aReceiverThatClosesWithoutCloseNotifyIsAnError(String version) throws Exception {
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.SILENT, "--max-tls", version)) {
            var result = client(trustingCa(), receiver.port(), medium);
            assertFailedWith(result, "ERROR: all " + MEDIUM + " bytes sent, but localhost:\\d+ closed the connection"
                    + " without TLS close_notify; the upload is unconfirmed");
            assertThat(receiver.awaitEnd(1, REPORT)).startsWith("done 1 " + MEDIUM + " close_notify=yes");
        }
    }

    /** 1. A Python receiver that resets the connection after the last byte. 2. The client exits 1. */
    @Test
    void aReceiverThatResetsIsAnError() throws Exception {
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.RESET)) {
            var result = client(trustingCa(), receiver.port(), medium);
            assertFailedWith(result, "ERROR: all " + MEDIUM + " bytes sent, but the connection to localhost:\\d+"
                    + " then failed: the server reset the connection; the upload is unconfirmed");
        }
    }

    /**
     * 1. A Python receiver that completes the handshake, then reads nothing.
     * 2. The client sends 32 MiB with a 1.5 s limit: the socket's buffers fill.
     * 3. It gives up once the network took nothing for 1.5 s, as without TLS.
     */
    @Test
    void aReceiverThatStopsReadingIsGivenUpOnAfterTheStallLimit() throws Exception {
        Path large = Ferry.randomFile(tmp, "large.bin", 32L << 20, 7);
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.STALL)) {
            var result = client(trustingCa(), Map.of("FERRY_CLIENT_TIMEOUT_MS", "1500"), "localhost", receiver.port(),
                    large);
            assertFailedWith(result, "ERROR: the server took no data for 1.5 s \\(\\d+ bytes sent\\); giving up");
            assertThat(receiver.awaitEnd(1, REPORT)).isEqualTo("stalled 1");
        }
    }

    // ---- certificates and names checked in the handshake, before any byte ----------------------

    /**
     * 1. A receiver whose certificate, from the trusted CA, names only ferry.invalid.
     * 2. The client connects to it as 127.0.0.1 (checked against the IP
     *    addresses) or localhost (against the DNS names), with the real
     *    default time limits.
     * 3. It exits 1 naming the reason, within the 10 s connect rule, and the
     *    receiver saved nothing: the handshake failed before any byte.
     */
    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "localhost"})
    void aWrongNameFailsTheHandshakeAndSendsNothing(String host) throws Exception {
        try (var receiver = TlsReceiver.start(certs.wrongName, tmp.resolve("in"), Ending.NOTIFY)) {
            var result = client(trustingCa(), Map.of(), host, receiver.port(), medium);
            assertFailedWith(result, "ERROR: TLS handshake with " + host + ":\\d+ failed: the server's certificate"
                    + " is not for \"" + host + "\" \\(No subject alternative .*\\)");
            // Refused by the certificate check, not by the 10 s limit running out.
            assertThat(result.elapsed()).isLessThan(Duration.ofSeconds(10));
            assertThat(receiver.awaitEnd(1, REPORT)).startsWith("failed 1 ");
            assertThat(receiver.file(1)).doesNotExist();
        }
    }

    /**
     * 1. A receiver whose certificate is from a CA that neither --cacert nor
     *    the system's trust store holds.
     * 2. The client fails in the handshake, naming what it trusted; nothing is saved.
     */
    @ParameterizedTest
    @CsvSource({"--cacert, the CAs of --cacert", "--tls, the system's trust store"})
    void anUntrustedCertificateFailsTheHandshakeAndSendsNothing(String option, String trusted) throws Exception {
        var options = option.equals("--tls") ? List.of("--tls") : trustingCa();
        try (var receiver = TlsReceiver.start(certs.untrustedServer, tmp.resolve("in"), Ending.NOTIFY)) {
            var result = client(options, receiver.port(), medium);
            assertFailedWith(result, "ERROR: TLS handshake with localhost:\\d+ failed: the server's certificate is not"
                    + " trusted by " + trusted + " \\(.+\\)");
            assertThat(receiver.awaitEnd(1, REPORT)).startsWith("failed 1 ");
            assertThat(receiver.file(1)).doesNotExist();
        }
    }

    /**
     * 1. A plain TCP peer that reads and never answers (no TLS server).
     * 2. The client with --tls and a 1.5 s limit.
     * 3. It gives up on the handshake within the connect limit.
     */
    @Test
    void aHandshakeThatNeverCompletesEndsWithinTheConnectLimit() throws Exception {
        try (var peer = FaultPeer.serve(FaultPeer.Policy.drain())) {
            var result = client(trustingCa(), Map.of("FERRY_CLIENT_TIMEOUT_MS", "1500"), "127.0.0.1", peer.port(),
                    medium);
            assertFailedWith(result, "ERROR: the TLS handshake with 127.0.0.1:\\d+ did not complete within 1.5 s"
                    + " \\(is it a TLS server\\?\\)");
        }
    }

    // ---- mutual TLS ---------------------------------------------------------------------------

    /**
     * 1. A receiver that wants a client certificate from the test CA.
     * 2. The client presents one, its key as openssl writes it (PKCS#8), in
     *    SEC1 form, or an RSA key in PKCS#1 form, over TLS 1.3 or 1.2.
     * 3. It exits 0 and the receiver has every byte.
     */
    @ParameterizedTest
    @CsvSource({"pkcs8, 1.3", "sec1, 1.3", "pkcs1, 1.3", "pkcs8, 1.2"})
    void aClientCertificateFromTheTrustedCaIsAccepted(String form, String version) throws Exception {
        TestCerts.Pair identity = switch (form) {
            case "sec1" -> new TestCerts.Pair(certs.client.cert(), certs.sec1(certs.client));
            case "pkcs1" -> certs.rsa("rsa-client-" + version);
            default -> certs.client;
        };
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.NOTIFY,
                "--client-ca", certs.ca.cert().toString(), "--max-tls", version)) {
            var options = new ArrayList<>(trustingCa());
            options.addAll(List.of("--cert", identity.cert().toString(), "--key", identity.key().toString()));
            Ferry.assertSucceeded(client(options, receiver.port(), medium));
            assertThat(receiver.awaitEnd(1, REPORT)).startsWith("done 1 " + MEDIUM + " close_notify=yes");
            assertThat(Checksums.sha256(receiver.file(1))).isEqualTo(Checksums.sha256(medium));
        }
    }

    /**
     * 1. A receiver that wants a client certificate from the test CA.
     * 2. The client presents one from another CA, or none, over TLS 1.3
     *    (where it learns of the refusal only after its own handshake, from
     *    the receiver's alert) or 1.2.
     * 3. It exits 1 naming the alert; the receiver saved nothing.
     */
    @ParameterizedTest
    @CsvSource({"other, 1.3, unknown_ca", "none, 1.3, certificate_required", "other, 1.2, unknown_ca"})
    void aRefusedClientCertificateIsAnError(String which, String version, String alert) throws Exception {
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.NOTIFY,
                "--client-ca", certs.ca.cert().toString(), "--max-tls", version)) {
            var options = new ArrayList<>(trustingCa());
            if (which.equals("other")) {
                options.addAll(List.of("--cert", certs.otherClient.cert().toString(),
                        "--key", certs.otherClient.key().toString()));
            }
            var result = client(options, receiver.port(), medium);
            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(1);
            assertThat(result.stderr().lines().toList()).as("stderr lines").hasSize(1);
            assertThat(result.firstStderrLine()).startsWith("ERROR: ").contains("TLS alert " + alert);
            assertThat(receiver.awaitEnd(1, REPORT)).startsWith("failed 1 ");
            assertThat(receiver.file(1)).doesNotExist();
        }
    }

    // ---- several files --------------------------------------------------------------------------

    /**
     * 1. A receiver serving 4 connections at once.
     * 2. The client sends 4 files in one run, 2 at a time (one handshake each).
     * 3. It exits 0; connection i, in accept order, holds file i.
     */
    @Test
    void severalFilesTwoAtATimeEachArriveWhole() throws Exception {
        var files = new Path[4];
        for (int i = 0; i < files.length; i++) {
            files[i] = Ferry.randomFile(tmp, "file" + i, 200_000 + i, 100 + i);
        }
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.NOTIFY, "--count", "4")) {
            var options = new ArrayList<>(trustingCa());
            options.addAll(List.of("--parallel", "2"));
            Ferry.assertSucceeded(client(options, receiver.port(), files));
            for (int i = 0; i < files.length; i++) {
                assertThat(receiver.awaitEnd(i + 1, REPORT)).startsWith("done " + (i + 1));
                assertThat(Checksums.sha256(receiver.file(i + 1))).as("file %d", i).isEqualTo(Checksums.sha256(files[i]));
            }
        }
    }

    // ---- wrong options: one ERROR: line, exit 2, before the network ----------------------------

    /** Each wrong TLS option is one ERROR: line naming it, and exit 2; nothing listens on the port. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--cert {client.crt}|--cert needs --key \\(FERRY_KEY\\) too: a client certificate and its private key",
            "--key {client.key}|--key needs --cert \\(FERRY_CERT\\) too: a client certificate and its private key",
            "--cacert {missing}|cannot read --cacert \".*missing.pem\": no such file or directory",
            "--cacert {client.key}|--cacert \".*client.key\" holds no certificate .*",
            "--cert {client.crt} --key {other-client.key}|--key \".*other-client.key\" does not match the certificate"
                    + " of --cert \".*client.crt\" \\(its first, the leaf\\)",
            "--cert {client.crt} --key {client.crt}|--key \".*client.crt\" holds no private key .*"})
    void aWrongTlsOptionIsOneErrorLineAndExit2(String options, String message) throws Exception {
        var args = new ArrayList<String>();
        for (String option : options.split(" ")) {
            args.add(option.startsWith("{") ? certs.dir().resolve(option.substring(1, option.length() - 1)
                    .replace("missing", "missing.pem")).toString() : option);
        }
        args.addAll(List.of("127.0.0.1", Integer.toString(Ports.unused()), medium.toString()));
        var result = Ferry.run("client", args, Map.of(), RUN);
        assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(2);
        assertThat(result.stderr().lines().toList()).as("stderr lines").hasSize(1);
        assertThat(result.firstStderrLine()).matches("ERROR: " + message);
    }

    // ---- the plain client loads no TLS class ----------------------------------------------------

    /**
     * 1. The client sends a file to a plain receiver, the JVM logging every
     *    class it loads; then, as a check of the check, to a TLS receiver.
     * 2. Without TLS no class of javax.net.ssl, sun.security.ssl or ferry's
     *    TLS code is loaded; with it they are.
     */
    @Test
    void theClientLoadsTlsClassesOnlyWithTls() throws Exception {
        String tlsClass = "(?s).*\\b(javax\\.net\\.ssl|sun\\.security\\.ssl|ferry\\.common\\.tls|ferry\\.client\\.Tls"
                + "|ferry\\.client\\.ClientTls)\\b.*";
        Path plainLog = tmp.resolve("plain.log");
        try (var peer = FaultPeer.serve(FaultPeer.Policy.drain())) {
            var result = client(List.of(), Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + plainLog),
                    "127.0.0.1", peer.port(), medium);
            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
        }
        assertThat(Files.readString(plainLog)).contains("ferry.client.Sender").doesNotMatch(tlsClass);
        Path tlsLog = tmp.resolve("tls.log");
        try (var receiver = TlsReceiver.start(certs.server, tmp.resolve("in"), Ending.NOTIFY)) {
            var result = client(trustingCa(), Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + tlsLog),
                    "localhost", receiver.port(), medium);
            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
        }
        assertThat(Files.readString(tlsLog)).matches(tlsClass);
    }
}
