package ferry.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import ferry.common.ExitCode;
import ferry.common.Options.Settings;
import ferry.common.UserError;
import ferry.common.tls.TlsPeers;
import ferry.it.TestCerts;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The client's TLS ({@link ClientTls}, {@link TlsSender}, {@link TlsLink}),
 * run in-process by the {@link Sender} against a receiver played by the test
 * with the JDK's {@link SSLSocket}, layered over a plain socket so that the
 * test chooses how it ends: the upload counts only after the receiver's
 * {@code close_notify}; a FIN without it, a reset, an early end, an alert are
 * errors; the server's name and CA are checked before any byte of the file
 * goes out; a client certificate is presented.
 */
@Timeout(60)
class TlsSenderTest {
    /** Every wait of the test itself: generous, for a loaded two-core machine. */
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    static Path shared;
    private static TestCerts certs;

    @TempDir
    Path dir;

    @BeforeAll
    static void makeCertificates() throws Exception {
        certs = TestCerts.create(shared.resolve("certs"));
    }

    /** A TLS receiver on a loopback port: a plain socket accepted, then the JDK's server TLS over it. */
    private static final class Receiver implements AutoCloseable {
        final ServerSocket server;
        Socket plain;

        Receiver() throws IOException {
            server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            server.setSoTimeout((int) WAIT.toMillis());
        }

        int port() {
            return server.getLocalPort();
        }

        /** The connection, before any TLS. */
        Socket acceptPlain() throws IOException {
            plain = server.accept();
            plain.setSoTimeout((int) WAIT.toMillis());
            return plain;
        }

        /** The connection with TLS over it ({@code protocol} only), presenting {@code identity}. */
        SSLSocket accept(String protocol, TestCerts.Pair identity, boolean wantClientCertificate) throws IOException {
            SSLContext context = TlsPeers.context(identity, certs.ca);
            var ssl = (SSLSocket) context.getSocketFactory().createSocket(acceptPlain(), null, false);
            ssl.setEnabledProtocols(new String[] {protocol});
            ssl.setNeedClientAuth(wantClientCertificate);
            return ssl;
        }

        /** Reads what is left on the plain socket until the client's end (or an error). */
        void drain() {
            try {
                InputStream in = plain.getInputStream();
                while (in.read(new byte[8192]) >= 0) {
                    // discarded
                }
            } catch (IOException e) {
                // the client reset: it is gone
            }
        }

        @Override
        public void close() throws IOException {
            if (plain != null) {
                plain.close();
            }
            server.close();
        }
    }

    private static Map<String, String> trusting(TestCerts.Pair ca) {
        return Map.of(ClientArgs.CACERT, ca.cert().toString());
    }

    /** Starts sending {@code content}, as a file, over TLS made from {@code env}, on a thread of its own. */
    private Future<Long> send(String host, int port, byte[] content, Duration timeout, Map<String, String> env)
            throws IOException, UserError {
        Path file = Files.write(dir.resolve("file-" + content.length), content);
        ClientTls tls = ClientTls.create(Settings.of(env));
        var config = new ClientConfig(host, port, file, timeout, true, false, List.of(file), 1, tls);
        return start(new Sender(config)::send);
    }

    private static <T> FutureTask<T> start(Callable<T> work) {
        var task = new FutureTask<>(work);
        Thread.ofPlatform().name("tls-test").daemon().start(task);
        return task;
    }

    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
    void anUploadCountsOnlyAfterTheReceiversCloseNotify(String protocol) throws Exception {
        byte[] file = bytes(3 << 20);
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), file, Duration.ofSeconds(10), trusting(certs.ca));
            try (SSLSocket ssl = receiver.accept(protocol, certs.server, false)) {
                assertThat(ssl.getInputStream().readAllBytes()).as("all, up to the client's close_notify")
                        .isEqualTo(file);
                assertThat(ssl.getSession().getProtocol()).isEqualTo(protocol);
                if (protocol.equals("TLSv1.3")) { // TLS 1.2's receiver answers the close_notify at once
                    assertThat(sending.isDone()).as("the client waits for the receiver's close_notify").isFalse();
                }
            }
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo(file.length);
        }
    }

    /** A FIFO has no size: it is read as a stream (the reader thread's buffers), then confirmed the same way. */
    @Test
    void aStreamFromAFifoArrivesWholeAndIsConfirmed() throws Exception {
        byte[] content = bytes(2 << 20);
        Path fifo = dir.resolve("fifo");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertThat(mkfifo.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        assertThat(mkfifo.exitValue()).isZero();
        start(() -> Files.write(fifo, content)); // opening it waits for the client's open
        try (var receiver = new Receiver()) {
            var config = new ClientConfig("127.0.0.1", receiver.port(), fifo, Duration.ofSeconds(10), true, false,
                    List.of(fifo), 1, ClientTls.create(Settings.of(trusting(certs.ca))));
            Future<Long> sending = start(new Sender(config)::send);
            try (SSLSocket ssl = receiver.accept("TLSv1.3", certs.server, false)) {
                assertThat(ssl.getInputStream().readAllBytes()).isEqualTo(content);
            }
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo(content.length);
        }
    }

    /** An empty file: the handshake, no record of data, the two close_notify. */
    @Test
    void anEmptyFileIsConfirmedToo() throws Exception {
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), new byte[0], Duration.ofSeconds(10),
                    trusting(certs.ca));
            try (SSLSocket ssl = receiver.accept("TLSv1.3", certs.server, false)) {
                assertThat(ssl.getInputStream().readAllBytes()).isEmpty();
            }
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isZero();
        }
    }

    @Test
    void aReceiverThatClosesWithoutCloseNotifyLeavesTheUploadUnconfirmed() throws Exception {
        byte[] file = bytes(100_000);
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), file, Duration.ofSeconds(10), trusting(certs.ca));
            SSLSocket ssl = receiver.accept("TLSv1.3", certs.server, false);
            assertThat(ssl.getInputStream().readAllBytes()).isEqualTo(file);
            receiver.plain.close(); // a FIN, without the receiver's close_notify
            assertThat(failure(sending)).hasMessage("all 100000 bytes sent, but 127.0.0.1:" + receiver.port()
                    + " closed the connection without TLS close_notify; the upload is unconfirmed");
        }
    }

    @Test
    void aReceiverThatResetsAfterTheLastByteLeavesTheUploadUnconfirmed() throws Exception {
        byte[] file = bytes(100_000);
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), file, Duration.ofSeconds(10), trusting(certs.ca));
            SSLSocket ssl = receiver.accept("TLSv1.3", certs.server, false);
            assertThat(ssl.getInputStream().readAllBytes()).isEqualTo(file);
            receiver.plain.setSoLinger(true, 0);
            receiver.plain.close();
            assertThat(failure(sending)).hasMessage("all 100000 bytes sent, but the connection to 127.0.0.1:"
                    + receiver.port() + " then failed: the server reset the connection; the upload is unconfirmed");
        }
    }

    /** The receiver ends its side (close_notify) while the upload is still going: an error at once. */
    @Test
    void aReceiverThatEndsTheSessionMidUploadIsAnError() throws Exception {
        byte[] file = bytes(32 << 20); // far more than the sockets' buffers hold
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), file, Duration.ofSeconds(10), trusting(certs.ca));
            SSLSocket ssl = receiver.accept("TLSv1.3", certs.server, false);
            assertThat(ssl.getInputStream().readNBytes(1000)).hasSize(1000);
            ssl.shutdownOutput(); // close_notify; then it reads no more
            assertThat(failure(sending).getMessage()).matches("the server closed the connection to 127\\.0\\.0\\.1:"
                    + receiver.port() + " after \\d+ bytes, before the upload ended");
        }
    }

    /** A TLS 1.3 receiver asks for a KeyUpdate mid-upload: the client answers, and every byte arrives. */
    @Test
    void aKeyUpdateFromTheReceiverMidUploadLosesNothing() throws Exception {
        byte[] file = bytes(3 << 20);
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), file, Duration.ofSeconds(10), trusting(certs.ca));
            try (SSLSocket ssl = receiver.accept("TLSv1.3", certs.server, false)) {
                byte[] first = ssl.getInputStream().readNBytes(100_000);
                ssl.startHandshake(); // established TLS 1.3: a KeyUpdate that asks for the client's
                byte[] rest = ssl.getInputStream().readAllBytes();
                assertThat(first.length + rest.length).isEqualTo(file.length);
                assertThat(rest).isEqualTo(java.util.Arrays.copyOfRange(file, first.length, file.length));
            }
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo(file.length);
        }
    }

    /**
     * The stall limit over TLS (C4):
     * <ol>
     *   <li>the receiver completes the handshake, then reads nothing;</li>
     *   <li>the client fills both sockets' buffers with records, then can send no more;</li>
     *   <li>1 s (its limit) later it gives up with an error, well within C4's 10 s.</li>
     * </ol>
     */
    @Test
    void aReceiverThatStopsReadingIsGivenUpOnAfterTheStallLimit() throws Exception {
        byte[] file = bytes(32 << 20);
        try (var receiver = new Receiver()) {
            long start = System.nanoTime();
            Future<Long> sending = send("127.0.0.1", receiver.port(), file, Duration.ofSeconds(1), trusting(certs.ca));
            SSLSocket ssl = receiver.accept("TLSv1.3", certs.server, false);
            ssl.startHandshake(); // then reads nothing
            UserError error = failure(sending);
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertThat(error).hasMessageStartingWith("the server took no data for 1 s (");
            assertThat(millis).as("after its limit, within C4's").isBetween(1000L, 10_000L);
        }
    }

    /** A wrong name, an unknown CA (--cacert's or the system's): the handshake fails with the reason, no byte sent. */
    @ParameterizedTest
    @CsvSource({
        "wrong-name, cacert, the server's certificate is not for \"127.0.0.1\" (",
        "other-ca, cacert, the server's certificate is not trusted by the CAs of FERRY_CACERT (",
        "server, system, the server's certificate is not trusted by the system's trust store ("
    })
    void anUnacceptableServerCertificateFailsTheHandshakeBeforeAnyByteIsSent(String which, String trust,
                                                                              String reason) throws Exception {
        TestCerts.Pair identity = switch (which) {
            case "wrong-name" -> certs.wrongName;
            case "other-ca" -> certs.untrustedServer;
            default -> certs.server;
        };
        Map<String, String> env = trust.equals("cacert") ? trusting(certs.ca) : Map.of(ClientArgs.TLS, "1");
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), bytes(1000), Duration.ofSeconds(10), env);
            SSLSocket ssl = receiver.accept("TLSv1.3", identity, false);
            Future<byte[]> received = start(() -> ssl.getInputStream().readAllBytes());
            assertThat(failure(sending)).hasMessageStartingWith("TLS handshake with 127.0.0.1:" + receiver.port()
                    + " failed: " + reason);
            Throwable cause = catchThrowable(() -> received.get(WAIT.toSeconds(), TimeUnit.SECONDS)).getCause();
            assertThat(cause).as("the receiver got no byte of the file").isInstanceOf(IOException.class);
            if (!(cause instanceof SocketException)) {
                // The client's alert; unless its reset, right after, overtook it (seen once under load: the
                // receiver was still writing its flight), and the receiver's socket says only reset.
                assertThat(cause).isInstanceOf(SSLException.class).hasMessageContaining("Received fatal alert");
            }
        }
    }

    /**
     * The handshake counts under the connect limit (C4):
     * <ol>
     *   <li>the receiver accepts the TCP connection and says nothing (not a TLS server);</li>
     *   <li>the client's ClientHello goes unanswered;</li>
     *   <li>1 s (its limit) after it began, the client gives up, saying it may not be a TLS server.</li>
     * </ol>
     */
    @Test
    void aReceiverThatNeverAnswersTheHandshakeIsGivenUpOnWithinTheConnectLimit() throws Exception {
        try (var receiver = new Receiver()) {
            long start = System.nanoTime();
            Future<Long> sending = send("127.0.0.1", receiver.port(), bytes(1000), Duration.ofSeconds(1),
                    trusting(certs.ca));
            receiver.acceptPlain(); // a plain TCP peer that says nothing
            UserError error = failure(sending);
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertThat(error).hasMessage("the TLS handshake with 127.0.0.1:" + receiver.port()
                    + " did not complete within 1 s (is it a TLS server?)");
            assertThat(millis).isBetween(1000L, 10_000L);
        }
    }

    @Test
    void aReceiverThatClosesDuringTheHandshakeIsAnError() throws Exception {
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), bytes(1000), Duration.ofSeconds(10),
                    trusting(certs.ca));
            InputStream in = receiver.acceptPlain().getInputStream();
            byte[] header = in.readNBytes(5);
            assertThat(header).as("a TLS handshake record").hasSize(5).startsWith((byte) 22);
            in.readNBytes(((header[3] & 0xff) << 8) | (header[4] & 0xff)); // the ClientHello, read whole
            receiver.plain.shutdownOutput();
            assertThat(failure(sending)).hasMessage("TLS handshake with 127.0.0.1:" + receiver.port()
                    + " failed: the server closed the connection during the TLS handshake");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
    void aClientCertificateIsPresented(String protocol) throws Exception {
        byte[] file = bytes(100_000);
        var env = new HashMap<>(trusting(certs.ca));
        env.put(ClientArgs.CERT, certs.client.cert().toString());
        env.put(ClientArgs.KEY, certs.client.key().toString());
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("localhost", receiver.port(), file, Duration.ofSeconds(10), env);
            try (SSLSocket ssl = receiver.accept(protocol, certs.server, true)) {
                assertThat(ssl.getInputStream().readAllBytes()).isEqualTo(file);
                assertThat(ssl.getSession().getPeerPrincipal().getName()).isEqualTo("CN=ferry test client");
            }
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo(file.length);
        }
    }

    /**
     * A receiver that refuses the client's certificate (none, or one of another CA): TLS 1.3 says so only
     * after the client's side of the handshake, TLS 1.2 in it; either way an error that names the alert.
     */
    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "none  | TLSv1.3 | the server sent the TLS alert certificate_required: it refused this client's certificate, or wanted one (--cert, --key)",
        "other | TLSv1.3 | the server sent the TLS alert certificate_unknown: it refused this client's certificate, or wanted one (--cert, --key)",
        "none  | TLSv1.2 | failed: the server refused the handshake with the TLS alert handshake_failure",
        "other | TLSv1.2 | failed: the server refused the handshake with the TLS alert certificate_unknown"
    })
    void aRefusedClientCertificateIsAnError(String which, String protocol, String message) throws Exception {
        var env = new HashMap<>(trusting(certs.ca));
        if (which.equals("other")) {
            env.put(ClientArgs.CERT, certs.otherClient.cert().toString());
            env.put(ClientArgs.KEY, certs.otherClient.key().toString());
        }
        try (var receiver = new Receiver()) {
            Future<Long> sending = send("127.0.0.1", receiver.port(), bytes(100_000), Duration.ofSeconds(10), env);
            SSLSocket ssl = receiver.accept(protocol, certs.server, true);
            assertThatThrownBy(() -> ssl.getInputStream().readAllBytes()).isInstanceOf(SSLException.class);
            receiver.drain();
            assertThat(failure(sending)).hasMessageContaining(message);
        }
    }

    @ParameterizedTest
    @CsvSource({
        "FERRY_CERT, 'FERRY_CERT needs --key (FERRY_KEY) too: a client certificate and its private key'",
        "FERRY_KEY, 'FERRY_KEY needs --cert (FERRY_CERT) too: a client certificate and its private key'"
    })
    void aCertificateWithoutItsKeyOrAKeyWithoutItsCertificateIsAUsageError(String given, String message) {
        assertThatThrownBy(() -> ClientTls.create(Settings.of(Map.of(given, certs.client.cert().toString()))))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessage(message);
    }

    @Test
    void theTrustIsNamedForMessages() throws Exception {
        assertThat(ClientTls.create(Settings.of(Map.of(ClientArgs.TLS, "1"))).trust())
                .isEqualTo("the system's trust store");
        assertThat(ClientTls.create(Settings.of(trusting(certs.ca))).trust()).isEqualTo("the CAs of FERRY_CACERT");
    }

    /** The error the sender ended with; fails if it succeeded. */
    private static UserError failure(Future<Long> sending) throws InterruptedException {
        try {
            long sent = sending.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            throw new AssertionError("the sender succeeded with " + sent + " bytes");
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(UserError.class);
            return (UserError) e.getCause();
        } catch (TimeoutException e) {
            throw new AssertionError("the sender did not end within " + WAIT, e);
        }
    }

    private static byte[] bytes(int size) {
        var bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        return bytes;
    }
}
