package ferry.server.tls;

import ferry.common.UserError;
import ferry.common.tls.FixedKeyManager;
import ferry.common.tls.TlsFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;

/**
 * The server's TLS: its certificate and key ({@code --tls-cert}, {@code --tls-key}), the CAs of the senders'
 * certificates with mutual TLS ({@code --tls-client-ca}), and an {@link SSLEngine} for each connection. Loaded
 * only when {@code --tls-cert} is set: a plain server loads no class of {@code javax.net.ssl}.
 *
 * <p>Rotation: {@link #watch} checks the certificate's and the key's files every
 * {@link #WATCH_PERIOD}; when either changed (a new file renamed into place), the pair is read again and serves
 * the connections accepted from then on. A broken new pair is logged once, and the old one kept.
 */
public final class ServerTls {
    /** How often the files are checked for a new pair; a rotation serves new connections within 5 s. */
    public static final Duration WATCH_PERIOD = Duration.ofSeconds(1);

    private final Path certFile;
    private final Path keyFile;
    private final Path clientCaFile;
    private final String certLabel;
    private final String keyLabel;
    private final String clientCaLabel;
    /** The trust in the senders' CAs with mutual TLS, else null; read once (not rotated). */
    private final TrustManager[] clientTrust;
    private volatile SSLContext context;
    /** What the files looked like when the pair in use (or the last broken one) was read. */
    private volatile String stamp;

    /**
     * The JDK's count of TLS 1.3 session tickets a server sends after the handshake (JDK 23 and later; older ones
     * ignore it). ferry sends none: one upload per connection gains nothing from resumption, and a sender that
     * never reads (socat -u, a killed sender) would hold the ticket unread, so that its kernel ends the
     * connection with a reset instead of the FIN that the record can call truncated.
     */
    private static final String TICKET_COUNT = "jdk.tls.server.newSessionTicketCount";
    /** The JDK's stateless session tickets, the TLS 1.2 form (RFC 5077). */
    private static final String STATELESS_TICKETS = "jdk.tls.server.enableSessionTicketExtension";

    private ServerTls(Path certFile, String certLabel, Path keyFile, String keyLabel, Path clientCaFile,
                      String clientCaLabel) throws UserError {
        if (System.getProperty(TICKET_COUNT) == null && System.getProperty(STATELESS_TICKETS) == null) {
            // Before the first TLS class reads them. Both: with the count at 0 alone, the JDK 25 still offers
            // TLS 1.2 tickets, then breaks the handshake (OpenSSL: unexpected message).
            System.setProperty(TICKET_COUNT, "0");
            System.setProperty(STATELESS_TICKETS, "false");
        }
        this.certFile = certFile;
        this.keyFile = keyFile;
        this.clientCaFile = clientCaFile;
        this.certLabel = certLabel;
        this.keyLabel = keyLabel;
        this.clientCaLabel = clientCaLabel;
        this.clientTrust = clientCaFile == null ? null
                : TlsFiles.trustManagers(TlsFiles.certificates(clientCaFile, clientCaLabel));
        this.stamp = stamp();
        this.context = context();
    }

    /**
     * Reads and checks the files: one unreadable, holding no certificate or no key, or a key that does not
     * match the certificate is a usage error (exit 2), before anything is created.
     *
     * @param clientCaFile the CAs of the senders' certificates (mutual TLS), or null
     */
    public static ServerTls load(Path certFile, String certLabel, Path keyFile, String keyLabel, Path clientCaFile,
                                 String clientCaLabel) throws UserError {
        return new ServerTls(certFile, certLabel, keyFile, keyLabel, clientCaFile, clientCaLabel);
    }

    /** True with mutual TLS: every sender must present a certificate that chains to the client CAs. */
    public boolean mutual() {
        return clientTrust != null;
    }

    /** A server-side engine for one connection, with the pair in use now. */
    public SSLEngine engine() {
        SSLEngine engine = context.createSSLEngine();
        engine.setUseClientMode(false);
        engine.setEnabledProtocols(TlsFiles.PROTOCOLS.clone());
        if (clientTrust != null) {
            engine.setNeedClientAuth(true);
        }
        return engine;
    }

    /** A connection's TLS, for {@code ferry.server.net}. */
    public TlsConnection connection() {
        return new TlsConnection(engine());
    }

    private SSLContext context() throws UserError {
        List<X509Certificate> chain = TlsFiles.certificates(certFile, certLabel);
        PrivateKey key = TlsFiles.privateKey(keyFile, keyLabel);
        TlsFiles.checkPair(key, chain.get(0), keyLabel, keyFile, certLabel, certFile);
        try {
            SSLContext built = TlsFiles.newContext();
            built.init(new KeyManager[] {new FixedKeyManager(chain, key)}, clientTrust, null);
            return built;
        } catch (GeneralSecurityException e) {
            throw UserError.usage(certLabel + " and " + keyLabel + " cannot be used for TLS: " + e.getMessage());
        }
    }

    /** The files' identity, time and size: a file renamed into place, or rewritten, changes it. */
    private String stamp() {
        return stampOf(certFile) + "|" + stampOf(keyFile);
    }

    private static String stampOf(Path file) {
        try {
            var attributes = Files.readAttributes(file, BasicFileAttributes.class);
            return attributes.fileKey() + "/" + attributes.lastModifiedTime().toMillis() + "/" + attributes.size();
        } catch (IOException e) {
            return "missing";
        }
    }

    /**
     * Checks the files every {@link #WATCH_PERIOD} on a daemon thread, and serves a changed pair to new
     * connections; {@code log} gets one line per change: the new pair in use, or why it was not taken.
     */
    public void watch(Consumer<String> log) {
        Thread.ofPlatform().name("ferry-tls-watch").daemon().start(() -> {
            while (true) {
                try {
                    Thread.sleep(WATCH_PERIOD);
                } catch (InterruptedException e) {
                    return;
                }
                reloadIfChanged(log);
            }
        });
    }

    /** One check of the files (the watcher's; for tests). */
    void reloadIfChanged(Consumer<String> log) {
        String now = stamp();
        if (Objects.equals(now, stamp)) {
            return;
        }
        stamp = now;
        try {
            context = context();
            log.accept("TLS: serving the new certificate of " + certLabel + " " + certFile
                    + " to new connections");
        } catch (UserError | RuntimeException e) {
            log.accept("TLS: the new certificate and key were not taken, the old ones still serve: "
                    + e.getMessage());
        }
    }

    /** The client CA file, or null (for the start line). */
    public Path clientCaFile() {
        return clientCaFile;
    }

    @Override
    public String toString() {
        return "TLS 1.3/1.2 only, certificate " + certFile + (clientCaFile == null ? ""
                : ", client certificates from the CAs of " + clientCaFile);
    }
}
