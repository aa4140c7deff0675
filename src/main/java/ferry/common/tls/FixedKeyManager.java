package ferry.common.tls;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * One certificate chain and its key, offered whatever the peer asks: the
 * peer decides whether it trusts them. Built directly rather than through a
 * key store, which would encrypt the key in memory for nothing.
 */
public final class FixedKeyManager extends X509ExtendedKeyManager {
    private static final String ALIAS = "ferry";

    private final X509Certificate[] chain;
    private final PrivateKey key;

    public FixedKeyManager(List<X509Certificate> chain, PrivateKey key) {
        this.chain = chain.toArray(new X509Certificate[0]);
        this.key = key;
    }

    /** The alias if the key is of one of {@code types} (all when null), else null: nothing to offer. */
    private String alias(String... types) {
        if (types == null) {
            return ALIAS;
        }
        String algorithm = key.getAlgorithm();
        for (String type : types) {
            // The JDK asks for "EC", "RSA", "RSASSA-PSS", "EdDSA"; older callers for "EC_EC", "RSA" ...
            if (type != null && (type.equals(algorithm) || type.startsWith(algorithm + "_")
                    || type.equals("RSASSA-PSS") && algorithm.equals("RSA"))) {
                return ALIAS;
            }
        }
        return null;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return alias(keyType) == null ? null : new String[] {ALIAS};
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return alias(keyType);
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
        return alias(keyType);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return alias(keyType) == null ? null : new String[] {ALIAS};
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return alias(keyType);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return alias(keyType);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        return ALIAS.equals(alias) ? chain.clone() : null;
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        return ALIAS.equals(alias) ? key : null;
    }
}
