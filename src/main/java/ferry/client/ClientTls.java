package ferry.client;

import ferry.common.Options.Settings;
import ferry.common.UserError;
import ferry.common.tls.FixedKeyManager;
import ferry.common.tls.TlsFiles;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;

/**
 * The client's TLS: TLS 1.3 or 1.2, the server's certificate checked against
 * the system's trust store (or {@code --cacert}) and its name or IP address
 * against HOSTNAME-OR-IP, and a client certificate when {@code --cert} and
 * {@code --key} give one. Made once per run, before the network is touched,
 * and only when TLS is asked for: the plain client loads no TLS class.
 */
final class ClientTls {
    private final SSLContext context;
    /** What the server's certificate is checked against, for messages: the system's store or the --cacert file. */
    private final String trust;

    private ClientTls(SSLContext context, String trust) {
        this.context = context;
        this.trust = trust;
    }

    /**
     * Reads the files that {@code settings} name; any problem (one of
     * {@code --cert} and {@code --key} without the other, a file that cannot
     * be read, a key that does not match its certificate) is a usage error.
     */
    static ClientTls create(Settings settings) throws UserError {
        String cacert = settings.get(ClientArgs.CACERT);
        String cert = settings.get(ClientArgs.CERT);
        String key = settings.get(ClientArgs.KEY);
        if ((cert == null) != (key == null)) {
            String given = cert != null ? settings.label(ClientArgs.CERT) : settings.label(ClientArgs.KEY);
            String missing = cert != null ? "--key (FERRY_KEY)" : "--cert (FERRY_CERT)";
            throw UserError.usage(given + " needs " + missing + " too: a client certificate and its private key");
        }
        KeyManager[] keyManagers = null;
        if (cert != null) {
            Path certFile = Path.of(cert);
            Path keyFile = Path.of(key);
            List<X509Certificate> chain = TlsFiles.certificates(certFile, settings.label(ClientArgs.CERT));
            PrivateKey privateKey = TlsFiles.privateKey(keyFile, settings.label(ClientArgs.KEY));
            TlsFiles.checkPair(privateKey, chain.get(0), settings.label(ClientArgs.KEY), keyFile,
                    settings.label(ClientArgs.CERT), certFile);
            keyManagers = new KeyManager[] {new FixedKeyManager(chain, privateKey)};
        }
        TrustManager[] trustManagers;
        String trust;
        if (cacert != null) {
            trustManagers = TlsFiles.trustManagers(TlsFiles.certificates(Path.of(cacert),
                    settings.label(ClientArgs.CACERT)));
            trust = "the CAs of " + settings.label(ClientArgs.CACERT);
        } else {
            Path bundle = TlsFiles.systemBundle();
            // Without a known bundle (not Debian, Fedora, openSUSE, Alpine or a BSD): the Java runtime's own store.
            trustManagers = bundle == null ? null
                    : TlsFiles.trustManagers(TlsFiles.certificates(bundle, "the system's trust store"));
            trust = "the system's trust store";
        }
        try {
            SSLContext context = TlsFiles.newContext();
            context.init(keyManagers, trustManagers, null);
            return new ClientTls(context, trust);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no TLS in this Java runtime", e);
        }
    }

    /**
     * An engine for one connection to {@code host}: client mode, TLS 1.3 or
     * 1.2, and the server's certificate checked for {@code host} as HTTPS
     * does (an IP address literal against the certificate's IP addresses).
     */
    SSLEngine engine(String host, int port) {
        SSLEngine engine = context.createSSLEngine(host, port);
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setProtocols(TlsFiles.PROTOCOLS);
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        engine.setSSLParameters(parameters);
        return engine;
    }

    /** What the server's certificate is checked against: "the system's trust store" or "the CAs of --cacert". */
    String trust() {
        return trust;
    }
}
