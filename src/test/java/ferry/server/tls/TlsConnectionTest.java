package ferry.server.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.tls.TlsPeers;
import ferry.it.TestCerts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link TlsConnection} driven as the server's upload drives it, against a
 * sender played by the test ({@link EnginePeer}, the JDK's client engine):
 * an upload is complete only at the sender's {@code close_notify}, which the
 * server answers with its own; a TCP end without it is truncated; plain bytes,
 * a broken record or a refused certificate are TLS failures; a record cut in
 * two between bursts is joined; a KeyUpdate or a renegotiation mid-upload
 * loses nothing.
 */
@Timeout(30)
class TlsConnectionTest {
    /** Every wait of the test: generous, for a loaded two-core machine. */
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    static Path dir;
    private static TestCerts certs;
    private static ServerTls tls;
    private static ServerTls mutual;
    private static SSLContext anonymous;

    @BeforeAll
    static void makeCertificates() throws Exception {
        certs = TestCerts.create(dir.resolve("certs"));
        tls = ServerTls.load(certs.server.cert(), "--tls-cert", certs.server.key(), "--tls-key", null, null);
        mutual = ServerTls.load(certs.server.cert(), "--tls-cert", certs.server.key(), "--tls-key",
                certs.ca.cert(), "--tls-client-ca");
        anonymous = TlsPeers.context(null, certs.ca);
    }

    /** Runs the sender's part on a thread of its own. */
    private static <T> FutureTask<T> peer(Callable<T> part) {
        var task = new FutureTask<>(part);
        Thread.ofPlatform().name("tls-peer").daemon().start(task);
        return task;
    }

    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
    void completeOnlyAtTheSendersCloseNotifyWhichTheServerAnswersWithItsOwn(String protocol) throws Exception {
        byte[] file = bytes(1 << 20);
        var end = new CountDownLatch(1);
        try (var server = new ServerSide(); var sender = new EnginePeer(anonymous, server.port(), protocol, WAIT)) {
            var sending = peer(() -> {
                sender.handshake();
                sender.send(sender.records(file));
                end.await();
                sender.send(sender.closeNotify());
                return sender.awaitCloseNotify();
            });
            TlsConnection connection = server.accept(tls.connection());
            while (server.receivedSize() < file.length) {
                assertThat(server.awaitReadable(WAIT)).as("the file's bytes arrive").isTrue();
                assertThat(server.burst()).as("every byte arrived, but no close_notify yet: not an end").isNull();
            }
            end.countDown();
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.failure()).isNull();
            assertThat(ending.complete()).isTrue();
            assertThat(ending.data()).isEqualTo(file);
            assertThat(connection.protocol()).isEqualTo(protocol);
            assertThat(connection.clientSubject()).isNull();
            assertThat(connection.closeNotify(server.channel())).isTrue();
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).as("the server's close_notify came").isTrue();
        }
    }

    @Test
    void aTcpEndWithoutCloseNotifyIsTruncated() throws Exception {
        byte[] file = bytes(100_000);
        try (var server = new ServerSide(); var sender = new EnginePeer(anonymous, server.port(), "TLSv1.3", WAIT)) {
            peer(() -> {
                sender.handshake();
                sender.send(sender.records(file));
                sender.shutdownOutput();
                return null;
            });
            TlsConnection connection = server.accept(tls.connection());
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.complete()).isFalse();
            assertThat(ending.data()).as("every byte before the FIN was read").isEqualTo(file);
            assertThat(connection.truncated(ending.failure())).isTrue();
            assertThat(connection.failure(ending.failure())).isEqualTo(
                    "the stream was truncated: the connection ended without the sender's TLS close_notify");
        }
    }

    @Test
    void aTcpEndBeforeTheHandshakeIsTruncatedAndNamesTheHandshake() throws Exception {
        try (var server = new ServerSide(); var sender = new Socket(InetAddress.getLoopbackAddress(), server.port())) {
            TlsConnection connection = server.accept(tls.connection());
            sender.shutdownOutput();
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.complete()).isFalse();
            assertThat(connection.truncated(ending.failure())).isTrue();
            assertThat(connection.failure(ending.failure())).isEqualTo(
                    "the stream was truncated: the connection ended before the TLS handshake completed");
            assertThat(connection.established()).isFalse();
            assertThat(connection.protocol()).isNull();
            assertThat(connection.clientSubject()).isNull();
        }
    }

    /** A plain-TCP sender on a TLS port: a failed handshake, and an alert back that says why. */
    @Test
    void plainBytesFailTheHandshakeAndAreAnsweredWithAnAlert() throws Exception {
        try (var server = new ServerSide(); var sender = new Socket(InetAddress.getLoopbackAddress(), server.port())) {
            sender.setSoTimeout((int) WAIT.toMillis());
            TlsConnection connection = server.accept(tls.connection());
            sender.getOutputStream().write("hello, this is plain text\n".repeat(10).getBytes());
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.complete()).isFalse();
            assertThat(ending.failure()).isInstanceOf(SSLException.class);
            assertThat(connection.truncated(ending.failure())).isFalse();
            assertThat(connection.failure(ending.failure())).startsWith("TLS handshake failed: ");
            byte[] answer = sender.getInputStream().readNBytes(5);
            assertThat(answer).as("a TLS alert record").hasSize(5).startsWith((byte) 21);
        }
    }

    /**
     * A record cut in two by the network, across two bursts:
     * <ol>
     *   <li>the sender's last handshake message and the first half of a record arrive in one segment;</li>
     *   <li>the burst that completes the handshake ends with no byte of the file: the half is kept;</li>
     *   <li>the second half comes in the next burst, and the record is whole.</li>
     * </ol>
     */
    @Test
    void aRecordCutInTwoBetweenBurstsIsJoined() throws Exception {
        byte[] file = bytes(12_000);
        var rest = new CountDownLatch(1);
        try (var server = new ServerSide(); var sender = new EnginePeer(anonymous, server.port(), "TLSv1.3", WAIT)) {
            var sending = peer(() -> {
                sender.handshake();
                byte[] record = sender.records(file);
                int half = record.length / 2;
                sender.send(Arrays.copyOf(record, half));
                rest.await();
                sender.send(Arrays.copyOfRange(record, half, record.length));
                sender.send(sender.closeNotify());
                return sender.awaitCloseNotify();
            });
            TlsConnection connection = server.accept(tls.connection());
            while (!connection.established()) {
                assertThat(server.awaitReadable(WAIT)).isTrue();
                assertThat(server.burst()).isNull();
            }
            assertThat(server.receivedSize()).as("half a record decrypts to nothing").isZero();
            rest.countDown();
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.failure()).isNull();
            assertThat(ending.data()).isEqualTo(file);
            assertThat(connection.closeNotify(server.channel())).isTrue();
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void aBrokenRecordAfterTheHandshakeIsATlsFailure() throws Exception {
        try (var server = new ServerSide(); var sender = new EnginePeer(anonymous, server.port(), "TLSv1.3", WAIT)) {
            peer(() -> {
                sender.handshake();
                byte[] record = sender.records(bytes(1000));
                record[record.length / 2] ^= 1;
                sender.send(record);
                return null;
            });
            TlsConnection connection = server.accept(tls.connection());
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.failure()).isInstanceOf(SSLException.class);
            assertThat(connection.established()).isTrue();
            assertThat(connection.failure(ending.failure())).startsWith("TLS failed: ");
            assertThat(ending.data()).isEmpty();
        }
    }

    /** A reset is the socket's own error: no TLS reason, so that the record says reset. */
    @Test
    void aResetIsNoTlsFailure() throws Exception {
        try (var server = new ServerSide(); var sender = new EnginePeer(anonymous, server.port(), "TLSv1.3", WAIT)) {
            var sending = peer(() -> {
                sender.handshake();
                sender.send(sender.records(bytes(1000)));
                return null;
            });
            TlsConnection connection = server.accept(tls.connection());
            while (server.receivedSize() < 1000) {
                assertThat(server.awaitReadable(WAIT)).isTrue();
                assertThat(server.burst()).isNull();
            }
            sending.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            sender.reset();
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.failure()).isNotNull();
            assertThat(connection.truncated(ending.failure())).isFalse();
            assertThat(connection.failure(ending.failure())).isNull();
        }
    }

    /** TLS 1.3's KeyUpdate, asked for by the sender, and TLS 1.2's renegotiation, mid-upload. */
    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
    void aNewHandshakeMidUploadLosesNothing(String protocol) throws Exception {
        byte[] first = bytes(50_000);
        byte[] second = bytes(70_000);
        try (var server = new ServerSide(); var sender = new EnginePeer(anonymous, server.port(), protocol, WAIT)) {
            var sending = peer(() -> {
                sender.handshake();
                sender.send(sender.records(first));
                sender.handshake();
                sender.send(sender.records(second));
                sender.send(sender.closeNotify());
                return sender.awaitCloseNotify();
            });
            TlsConnection connection = server.accept(tls.connection());
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.failure()).isNull();
            assertThat(ending.complete()).isTrue();
            var both = ByteBuffer.allocate(first.length + second.length).put(first).put(second).array();
            assertThat(ending.data()).isEqualTo(both);
            assertThat(connection.closeNotify(server.channel())).isTrue();
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        }
    }

    /** The caller must lend room for a whole record's bytes: less is a bug of the caller's, said so. */
    @Test
    void aReadBufferSmallerThanARecordIsRefused() throws Exception {
        try (var server = new ServerSide(); var sender = new EnginePeer(anonymous, server.port(), "TLSv1.3", WAIT)) {
            var established = new CountDownLatch(1);
            peer(() -> {
                sender.handshake();
                sender.send(new byte[0]);
                established.await();
                sender.send(sender.records(bytes(16_000)));
                return null;
            });
            TlsConnection connection = server.accept(tls.connection());
            while (!connection.established()) {
                assertThat(server.awaitReadable(WAIT)).isTrue();
                assertThat(server.burst()).isNull();
            }
            established.countDown();
            connection.begin(ByteBuffer.allocate(64 << 10));
            try {
                assertThatThrownBy(() -> {
                    while (true) {
                        assertThat(server.awaitReadable(WAIT)).isTrue();
                        connection.read(server.channel(), ByteBuffer.allocate(100));
                    }
                }).isInstanceOf(IllegalStateException.class).hasMessage("the TLS read buffer is too small");
            } finally {
                connection.end();
            }
        }
    }

    @Test
    void mutualTlsNamesTheSendersCertificate() throws Exception {
        byte[] file = bytes(5000);
        SSLContext withCertificate = TlsPeers.context(certs.client, certs.ca);
        try (var server = new ServerSide();
             var sender = new EnginePeer(withCertificate, server.port(), "TLSv1.3", WAIT)) {
            var sending = peer(() -> {
                sender.handshake();
                sender.send(sender.records(file));
                sender.send(sender.closeNotify());
                return sender.awaitCloseNotify();
            });
            TlsConnection connection = server.accept(mutual.connection());
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.complete()).isTrue();
            assertThat(ending.data()).isEqualTo(file);
            assertThat(connection.protocol()).isEqualTo("TLSv1.3");
            assertThat(connection.clientSubject()).isEqualTo("CN=ferry test client");
            assertThat(connection.closeNotify(server.channel())).isTrue();
            assertThat(sending.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        }
    }

    /** Without a certificate, or with one of another CA: the handshake fails, and no byte counts. */
    @ParameterizedTest
    @ValueSource(strings = {"none/TLSv1.3", "none/TLSv1.2", "other/TLSv1.3", "other/TLSv1.2"})
    void mutualTlsRefusesASenderWithoutATrustedCertificate(String kind) throws Exception {
        String[] parts = kind.split("/");
        SSLContext context = parts[0].equals("none") ? anonymous : TlsPeers.context(certs.otherClient, certs.ca);
        try (var server = new ServerSide(); var sender = new EnginePeer(context, server.port(), parts[1], WAIT)) {
            peer(() -> {
                sender.handshake(); // TLS 1.3: the client's side completes before the server refuses
                sender.send(sender.records(bytes(1000)));
                sender.send(sender.closeNotify());
                return sender.awaitCloseNotify();
            });
            TlsConnection connection = server.accept(mutual.connection());
            ServerSide.Ending ending = server.run(WAIT);
            assertThat(ending.complete()).isFalse();
            assertThat(ending.data()).isEmpty();
            assertThat(ending.failure()).isInstanceOf(SSLException.class);
            assertThat(connection.failure(ending.failure())).startsWith("TLS handshake failed: ");
            assertThat(connection.clientSubject()).isNull();
        }
    }

    static byte[] bytes(int size) {
        var bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        return bytes;
    }
}
