package ferry.server.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import ferry.common.tls.TlsPeers;
import ferry.it.TestCerts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ServerTls}: the engines it makes (TLS 1.3 and 1.2 only, a client
 * certificate required with mutual TLS) and the rotation of its pair: a new
 * pair renamed into place serves the next handshake; a broken one is logged
 * once and the old pair goes on serving. Which certificate a handshake
 * presents is read by a JDK client engine ({@link EnginePeer}).
 */
@Timeout(30)
class ServerTlsTest {
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

    private static ServerTls load(Path cert, Path key, Path clientCa) throws UserError {
        return ServerTls.load(cert, "--tls-cert", key, "--tls-key", clientCa, "--tls-client-ca");
    }

    @Test
    void enginesAreServersOfTls13And12OnlyAndAskForACertificateOnlyWithMutualTls() throws Exception {
        ServerTls plain = load(certs.server.cert(), certs.server.key(), null);
        SSLEngine engine = plain.engine();
        assertThat(engine.getUseClientMode()).isFalse();
        assertThat(engine.getEnabledProtocols()).containsExactlyInAnyOrder("TLSv1.3", "TLSv1.2");
        assertThat(engine.getNeedClientAuth()).isFalse();
        assertThat(plain.mutual()).isFalse();
        assertThat(plain.clientCaFile()).isNull();
        assertThat(plain.toString()).isEqualTo("TLS 1.3/1.2 only, certificate " + certs.server.cert());

        ServerTls mutual = load(certs.server.cert(), certs.server.key(), certs.ca.cert());
        assertThat(mutual.engine().getNeedClientAuth()).isTrue();
        assertThat(mutual.mutual()).isTrue();
        assertThat(mutual.clientCaFile()).isEqualTo(certs.ca.cert());
        assertThat(mutual.toString()).endsWith(", client certificates from the CAs of " + certs.ca.cert());
        // No session tickets: a sender that never reads would hold one unread, and end with a reset.
        assertThat(System.getProperty("jdk.tls.server.newSessionTicketCount")).isEqualTo("0");
        assertThat(System.getProperty("jdk.tls.server.enableSessionTicketExtension")).isEqualTo("false");
    }

    @Test
    void aKeyOfAnotherCertificateOrAnUnreadableClientCaIsAUsageError() {
        assertThatThrownBy(() -> load(certs.server.cert(), certs.client.key(), null))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessageContaining("--tls-key");
        assertThatThrownBy(() -> load(certs.server.cert(), certs.server.key(), dir.resolve("missing.pem")))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessageContaining("--tls-client-ca");
    }

    /**
     * Rotation, one check at a time:
     * <ol>
     *   <li>nothing changed: nothing logged, the first pair serves;</li>
     *   <li>a new pair renamed into place: one line, and the next handshake presents it;</li>
     *   <li>a key that does not match renamed into place: one line, and again none at the next check;
     *       the previous pair still serves;</li>
     *   <li>the pair made whole again: served.</li>
     * </ol>
     */
    @Test
    void aRenamedNewPairServesTheNextHandshakeAndABrokenOneKeepsTheOld() throws Exception {
        Path cert = dir.resolve("tls.crt");
        Path key = dir.resolve("tls.key");
        Files.copy(certs.server.cert(), cert);
        Files.copy(certs.server.key(), key);
        ServerTls tls = load(cert, key, null);
        var log = new CopyOnWriteArrayList<String>();

        tls.reloadIfChanged(log::add);
        assertThat(log).isEmpty();
        assertThat(served(tls)).isEqualTo("CN=localhost");

        TestCerts.renameIntoPlace(certs.wrongName.cert(), cert);
        TestCerts.renameIntoPlace(certs.wrongName.key(), key);
        tls.reloadIfChanged(log::add);
        assertThat(log).containsExactly("TLS: serving the new certificate of --tls-cert " + cert
                + " to new connections");
        assertThat(served(tls)).isEqualTo("CN=ferry.invalid");

        log.clear();
        TestCerts.renameIntoPlace(certs.client.key(), key);
        tls.reloadIfChanged(log::add);
        tls.reloadIfChanged(log::add);
        assertThat(log).singleElement().asString()
                .startsWith("TLS: the new certificate and key were not taken, the old ones still serve: ")
                .contains("--tls-key");
        assertThat(served(tls)).as("the old pair").isEqualTo("CN=ferry.invalid");

        log.clear();
        TestCerts.renameIntoPlace(certs.wrongName.key(), key);
        tls.reloadIfChanged(log::add);
        assertThat(log).singleElement().asString().startsWith("TLS: serving the new certificate");
        assertThat(served(tls)).isEqualTo("CN=ferry.invalid");
    }

    /** The watcher finds a renamed pair by itself, well within the 5 s that rotation promises. */
    @Test
    void theWatcherTakesARenamedPairWithinFiveSeconds() throws Exception {
        Path cert = dir.resolve("tls.crt");
        Path key = dir.resolve("tls.key");
        Files.copy(certs.server.cert(), cert);
        Files.copy(certs.server.key(), key);
        ServerTls tls = load(cert, key, null);
        var log = new LinkedBlockingQueue<String>();
        tls.watch(log::add);
        Path newKey = Files.copy(certs.wrongName.key(), dir.resolve("new.key"));
        Path newCert = Files.copy(certs.wrongName.cert(), dir.resolve("new.crt"));
        // The key first: a check between the two renames sees the new key with the old certificate.
        Files.move(newKey, key, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        Files.move(newCert, cert, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        long start = System.nanoTime();
        String line;
        do {
            line = log.poll(10, TimeUnit.SECONDS);
            assertThat(line).as("a line within 10 s").isNotNull();
        } while (!line.startsWith("TLS: serving the new certificate"));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThat(served(tls)).isEqualTo("CN=ferry.invalid");
    }

    /** The subject of the certificate that a handshake with {@code tls} presents now. */
    private static String served(ServerTls tls) throws Exception {
        SSLContext trustAll = TlsPeers.context(null, certs.ca);
        try (var server = new ServerSide(); var peer = new EnginePeer(trustAll, server.port(), "TLSv1.3", WAIT)) {
            var handshake = new FutureTask<>(() -> {
                peer.handshake();
                peer.send(new byte[0]);
                return ((X509Certificate) peer.session().getPeerCertificates()[0])
                        .getSubjectX500Principal().getName();
            });
            Thread.ofPlatform().name("tls-peer").daemon().start(handshake);
            TlsConnection connection = server.accept(tls.connection());
            while (!connection.established()) {
                assertThat(server.awaitReadable(WAIT)).isTrue();
                assertThat(server.burst()).isNull();
            }
            return handshake.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        }
    }
}
