package ferry.common.tls;

import ferry.common.UserError;
import ferry.it.TestCerts;
import java.security.GeneralSecurityException;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;

/**
 * The JDK's TLS for the peers that in-process tests play against ferry's TLS
 * classes: an {@link SSLContext} with a certificate of {@link TestCerts} and
 * trust in one of its CAs.
 */
public final class TlsPeers {
    private TlsPeers() {
    }

    /**
     * A context that presents {@code identity} (or no certificate, if null) and trusts {@code ca}'s certificate
     * only (or the Java runtime's store, if null).
     */
    public static SSLContext context(TestCerts.Pair identity, TestCerts.Pair ca) {
        try {
            KeyManager[] keys = null;
            if (identity != null) {
                keys = new KeyManager[] {new FixedKeyManager(TlsFiles.certificates(identity.cert(), "cert"),
                        TlsFiles.privateKey(identity.key(), "key"))};
            }
            TrustManager[] trust = ca == null ? null
                    : TlsFiles.trustManagers(List.of(TlsFiles.certificates(ca.cert(), "ca").get(0)));
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keys, trust, null);
            return context;
        } catch (UserError | GeneralSecurityException e) {
            throw new IllegalStateException("the test's certificates cannot be used", e);
        }
    }
}
