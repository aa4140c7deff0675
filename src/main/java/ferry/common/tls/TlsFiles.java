package ferry.common.tls;

import ferry.common.UserError;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/**
 * The TLS material of both programs, read from PEM files as openssl, certbot
 * and cert-manager write them: certificate chains (leaf first), trusted CAs,
 * and unencrypted private keys in PKCS#8 ({@code PRIVATE KEY}), PKCS#1
 * ({@code RSA PRIVATE KEY}) or SEC1 ({@code EC PRIVATE KEY}) form. Every
 * problem is a usage error naming the option and the file.
 */
public final class TlsFiles {
    /** The protocols ferry speaks: TLS 1.3 and 1.2, nothing older. */
    public static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    /**
     * The system's trust store as one PEM bundle, the first of these that
     * exists: Debian and Ubuntu (also Arch, Alpine), Fedora and RHEL,
     * openSUSE, and the BSDs' and Alpine's other name.
     */
    public static final List<Path> SYSTEM_BUNDLES = List.of(
            Path.of("/etc/ssl/certs/ca-certificates.crt"),
            Path.of("/etc/pki/tls/certs/ca-bundle.crt"),
            Path.of("/etc/ssl/ca-bundle.pem"),
            Path.of("/etc/ssl/cert.pem"));

    private static final byte[] RSA_ENCRYPTION = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7,
            0x0d, 0x01, 0x01, 0x01};
    private static final byte[] EC_PUBLIC_KEY = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};
    private static final byte[] DER_NULL = {0x05, 0x00};
    private static final byte[] VERSION_0 = {0x02, 0x01, 0x00};

    private TlsFiles() {
    }

    /** The certificates of {@code file}, in order (a chain: leaf first); at least one. */
    public static List<X509Certificate> certificates(Path file, String label) throws UserError {
        var certificates = new ArrayList<X509Certificate>();
        CertificateFactory factory;
        try {
            factory = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("no X.509 in this Java runtime", e);
        }
        for (Pem.Block block : Pem.read(file, label)) {
            if (!block.type().equals("CERTIFICATE") && !block.type().equals("TRUSTED CERTIFICATE")) {
                continue;
            }
            try {
                certificates.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(block.der())));
            } catch (CertificateException | ClassCastException e) {
                throw UserError.usage(label + " " + Pem.quote(file) + ": certificate " + (certificates.size() + 1)
                        + " cannot be read: " + reason(e));
            }
        }
        if (certificates.isEmpty()) {
            throw UserError.usage(label + " " + Pem.quote(file)
                    + " holds no certificate (a PEM block -----BEGIN CERTIFICATE-----)");
        }
        return List.copyOf(certificates);
    }

    /** The one unencrypted private key of {@code file}: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). */
    public static PrivateKey privateKey(Path file, String label) throws UserError {
        PrivateKey key = null;
        for (Pem.Block block : Pem.read(file, label)) {
            if (block.encrypted() && block.type().endsWith("PRIVATE KEY")) {
                throw encrypted(file, label);
            }
            byte[] pkcs8 = switch (block.type()) {
                case "PRIVATE KEY" -> block.der();
                case "RSA PRIVATE KEY" -> sequence(VERSION_0, sequence(RSA_ENCRYPTION, DER_NULL),
                        tlv(0x04, block.der()));
                case "EC PRIVATE KEY" -> sequence(VERSION_0, sequence(EC_PUBLIC_KEY, curve(block.der(), file, label)),
                        tlv(0x04, block.der()));
                case "ENCRYPTED PRIVATE KEY" -> throw encrypted(file, label);
                default -> null;
            };
            if (pkcs8 == null) {
                continue; // a certificate or EC PARAMETERS beside the key
            }
            if (key != null) {
                throw UserError.usage(label + " " + Pem.quote(file) + " holds more than one private key");
            }
            key = decode(pkcs8);
            if (key == null) {
                throw UserError.usage(label + " " + Pem.quote(file) + ": the " + block.type()
                        + " cannot be read (not RSA, EC or EdDSA, or damaged)");
            }
        }
        if (key == null) {
            throw UserError.usage(label + " " + Pem.quote(file) + " holds no private key (a PEM block -----BEGIN"
                    + " PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)");
        }
        return key;
    }

    /**
     * Checks that {@code key} belongs to {@code leaf}: signs a few bytes with
     * it and verifies them with the certificate's public key.
     */
    public static void checkPair(PrivateKey key, X509Certificate leaf, String keyLabel, Path keyFile,
                                 String certLabel, Path certFile) throws UserError {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
            default -> null;
        };
        boolean matches;
        try {
            if (algorithm == null) {
                matches = key.getAlgorithm().equals(leaf.getPublicKey().getAlgorithm());
            } else {
                byte[] probe = "ferry: does the key match the certificate?".getBytes(StandardCharsets.US_ASCII);
                Signature signer = Signature.getInstance(algorithm);
                signer.initSign(key);
                signer.update(probe);
                byte[] signature = signer.sign();
                Signature verifier = Signature.getInstance(algorithm);
                verifier.initVerify(leaf.getPublicKey());
                verifier.update(probe);
                matches = verifier.verify(signature);
            }
        } catch (GeneralSecurityException e) {
            matches = false; // a key of another type than the certificate's
        }
        if (!matches) {
            throw UserError.usage(keyLabel + " " + Pem.quote(keyFile) + " does not match the certificate of "
                    + certLabel + " " + Pem.quote(certFile) + " (its first, the leaf)");
        }
    }

    /** Trust in exactly these CAs. */
    public static TrustManager[] trustManagers(List<X509Certificate> authorities) {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            for (int i = 0; i < authorities.size(); i++) {
                store.setCertificateEntry("ca-" + i, authorities.get(i));
            }
            // Conscrypt's own, with Conscrypt: the JDK's refuses its TLS 1.3 handshakes (authType GENERIC).
            Provider provider = benchmarkProvider();
            TrustManagerFactory factory = provider == null
                    ? TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
                    : TrustManagerFactory.getInstance("PKIX", provider);
            factory.init(store);
            return factory.getTrustManagers();
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot build a trust store in memory", e);
        }
    }

    /**
     * For the benchmark only ({@code bench/run --tls-conscrypt JAR}, issue 19's choice of provider): the system
     * property {@code ferry.tls.conscrypt} names Conscrypt's uber jar, and the TLS contexts and trust managers
     * then come from Conscrypt's provider, loaded from it once; a jar that does not load fails the run. No option
     * sets it: ferry's provider is the JDK's (docs/tls.md says why). Without it: null, the JDK's.
     */
    private static Provider benchmarkProvider() {
        String jar = System.getProperty(BENCHMARK_PROVIDER);
        if (jar == null) {
            return null;
        }
        synchronized (TlsFiles.class) {
            if (conscrypt == null) {
                try {
                    var loader = new URLClassLoader(new URL[] {Path.of(jar).toUri().toURL()},
                            TlsFiles.class.getClassLoader());
                    conscrypt = (Provider) loader.loadClass("org.conscrypt.Conscrypt").getMethod("newProvider")
                            .invoke(null);
                } catch (ReflectiveOperationException | IOException e) {
                    throw new IllegalStateException("cannot load Conscrypt from " + jar, e);
                }
            }
            return conscrypt;
        }
    }

    /** The system property of {@link #benchmarkProvider}. */
    private static final String BENCHMARK_PROVIDER = "ferry.tls.conscrypt";
    /** Conscrypt's provider, once loaded for the benchmark. */
    private static Provider conscrypt;

    /** A new TLS context: the JDK's (SunJSSE), or, for the benchmark, Conscrypt's ({@link #benchmarkProvider}). */
    public static SSLContext newContext() throws GeneralSecurityException {
        Provider provider = benchmarkProvider();
        return provider == null ? SSLContext.getInstance("TLS") : SSLContext.getInstance("TLS", provider);
    }

    /** The first of {@link #SYSTEM_BUNDLES} that exists, or null. */
    public static Path systemBundle() {
        for (Path bundle : SYSTEM_BUNDLES) {
            if (Files.isRegularFile(bundle)) {
                return bundle;
            }
        }
        return null;
    }

    private static UserError encrypted(Path file, String label) {
        return UserError.usage(label + " " + Pem.quote(file) + " holds an encrypted private key; give it unencrypted"
                + " (openssl pkey -in KEY -out PLAIN)");
    }

    private static PrivateKey decode(byte[] pkcs8) {
        for (String algorithm : List.of("EC", "RSA", "EdDSA", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (GeneralSecurityException | RuntimeException e) {
                // Not this algorithm: try the next.
            }
        }
        return null;
    }

    /** The named curve of a SEC1 key: the OID in its {@code [0] parameters}, which openssl always writes. */
    private static byte[] curve(byte[] sec1, Path file, String label) throws UserError {
        try {
            int[] outer = header(sec1, 0);
            if (sec1[0] != 0x30) {
                throw new IndexOutOfBoundsException();
            }
            int at = outer[0];
            int end = outer[0] + outer[1];
            while (at < end) {
                int[] element = header(sec1, at);
                if ((sec1[at] & 0xff) == 0xa0) {
                    int[] oid = header(sec1, element[0]);
                    if (sec1[element[0]] == 0x06) {
                        return Arrays.copyOfRange(sec1, element[0], oid[0] + oid[1]);
                    }
                }
                at = element[0] + element[1];
            }
        } catch (IndexOutOfBoundsException e) {
            // Reported below.
        }
        throw UserError.usage(label + " " + Pem.quote(file)
                + ": the EC PRIVATE KEY names no curve (or is damaged); give it in PKCS#8 (openssl pkey -in KEY)");
    }

    /** The DER element at {@code at}: where its content starts and how long it is. */
    private static int[] header(byte[] der, int at) {
        int length = der[at + 1] & 0xff;
        int content = at + 2;
        if (length > 0x80) {
            int bytes = length & 0x7f;
            if (bytes > 3) {
                throw new IndexOutOfBoundsException();
            }
            length = 0;
            for (int i = 0; i < bytes; i++) {
                length = length << 8 | der[content++] & 0xff;
            }
        } else if (length == 0x80) {
            throw new IndexOutOfBoundsException(); // indefinite length: not DER
        }
        if (content + length > der.length) {
            throw new IndexOutOfBoundsException();
        }
        return new int[] {content, length};
    }

    private static byte[] sequence(byte[]... parts) {
        var content = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            content.writeBytes(part);
        }
        return tlv(0x30, content.toByteArray());
    }

    private static byte[] tlv(int tag, byte[] content) {
        var out = new ByteArrayOutputStream(content.length + 6);
        out.write(tag);
        int length = content.length;
        if (length < 0x80) {
            out.write(length);
        } else if (length < 0x100) {
            out.write(0x81);
            out.write(length);
        } else if (length < 0x10000) {
            out.write(0x82);
            out.write(length >> 8);
            out.write(length);
        } else {
            out.write(0x83);
            out.write(length >> 16);
            out.write(length >> 8);
            out.write(length);
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    private static String reason(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
