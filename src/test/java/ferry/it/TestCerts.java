package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Certificates for the TLS tests, made with {@code openssl} (EC P-256, valid
 * two days) in a folder of the test's: a CA, and a second CA that nothing
 * trusts; a server certificate from the CA for {@code localhost},
 * {@code 127.0.0.1} and {@code ::1}; one from the CA for another name
 * ({@code ferry.invalid}) only; one from the other CA; and a client
 * certificate from each CA. Keys are PKCS#8, as {@code openssl req} writes
 * them; {@link #sec1} and {@link #rsa} give the other forms.
 * {@link #forClass} is the set-up every TLS test class shares.
 */
public final class TestCerts {
    /** A certificate (PEM) and its private key (PEM). */
    public record Pair(Path cert, Path key) {
    }

    private static final long OPENSSL_SECONDS = 60;

    private final Path dir;
    /** The CA the tests trust ({@code --cacert}, {@code --tls-client-ca}), and the CA nothing trusts. */
    public final Pair ca;
    public final Pair otherCa;
    /** For localhost, 127.0.0.1 and ::1, from {@link #ca}. */
    public final Pair server;
    /** For ferry.invalid only, from {@link #ca}: a wrong name wherever a test connects. */
    public final Pair wrongName;
    /** For localhost, 127.0.0.1 and ::1, from {@link #otherCa}. */
    public final Pair untrustedServer;
    /** Client certificates (extended key usage clientAuth), from {@link #ca} and from {@link #otherCa}. */
    public final Pair client;
    public final Pair otherClient;

    private TestCerts(Path dir) throws IOException, InterruptedException {
        this.dir = dir;
        ca = authority("ca", "ferry test CA");
        otherCa = authority("other-ca", "ferry other CA");
        String serverNames = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n";
        server = issue("server", "localhost", serverNames, ca);
        wrongName = issue("wrong-name", "ferry.invalid",
                "subjectAltName=DNS:ferry.invalid\nextendedKeyUsage=serverAuth\n", ca);
        untrustedServer = issue("untrusted-server", "localhost", serverNames, otherCa);
        client = issue("client", "ferry test client", "extendedKeyUsage=clientAuth\n", ca);
        otherClient = issue("other-client", "ferry other client", "extendedKeyUsage=clientAuth\n", otherCa);
    }

    /**
     * A TLS test class's set-up, run once in its {@code @BeforeAll}: skips the
     * class without {@code openssl} or {@code python3}, makes every
     * certificate in {@code shared/certs}, and builds each launcher named
     * (run without arguments, it must answer with exit 2) so that no timed
     * test pays for the first build.
     */
    public static TestCerts forClass(Path shared, String... launchers) throws IOException, InterruptedException {
        assumeTrue(Ferry.has("python3"), "python3 is needed");
        var certs = create(shared.resolve("certs"));
        for (String launcher : launchers) {
            var build = Ferry.run(launcher, List.of(), Map.of(), Ferry.START_DEADLINE);
            assertThat(build.exitCode()).as("./%s without arguments: %s", launcher, build.stderr()).isEqualTo(2);
        }
        return certs;
    }

    /** Makes every certificate in {@code dir}; without {@code openssl} the calling test is skipped. */
    public static TestCerts create(Path dir) throws IOException, InterruptedException {
        assumeTrue(Ferry.has("openssl"), "openssl is needed");
        Files.createDirectories(dir);
        return new TestCerts(dir);
    }

    /**
     * Puts a copy of {@code source} at {@code target} as certbot and
     * cert-manager do: written beside it, then renamed into place.
     */
    public static void renameIntoPlace(Path source, Path target) throws IOException {
        Path next = Files.copy(source, target.resolveSibling(target.getFileName() + ".new"),
                StandardCopyOption.REPLACE_EXISTING);
        Files.move(next, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The folder of the files. */
    public Path dir() {
        return dir;
    }

    /** {@code pair}'s key in SEC1 form ({@code -----BEGIN EC PRIVATE KEY-----}), as {@code openssl ec} writes it. */
    public Path sec1(Pair pair) throws IOException, InterruptedException {
        Path out = dir.resolve(pair.key().getFileName() + ".sec1.pem");
        openssl("ec", "-in", pair.key().toString(), "-out", out.toString());
        return out;
    }

    /**
     * A client certificate from {@link #ca} with an RSA 2048 key, the key in
     * PKCS#1 form ({@code -----BEGIN RSA PRIVATE KEY-----}).
     */
    public Pair rsa(String name) throws IOException, InterruptedException {
        Path key = dir.resolve(name + ".pkcs1.key");
        openssl("genrsa", "-traditional", "-out", key.toString(), "2048");
        Path csr = dir.resolve(name + ".csr");
        openssl("req", "-new", "-key", key.toString(), "-out", csr.toString(), "-subj", "/CN=" + name);
        return new Pair(sign(name, csr, "extendedKeyUsage=clientAuth\n", ca), key);
    }

    private Pair authority(String name, String subject) throws IOException, InterruptedException {
        Path cert = dir.resolve(name + ".crt");
        Path key = dir.resolve(name + ".key");
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key.toString(), "-out", cert.toString(), "-subj", "/CN=" + subject, "-days", "2",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return new Pair(cert, key);
    }

    private Pair issue(String name, String subject, String extensions, Pair issuer)
            throws IOException, InterruptedException {
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key.toString(), "-out", csr.toString(), "-subj", "/CN=" + subject);
        return new Pair(sign(name, csr, extensions, issuer), key);
    }

    private Path sign(String name, Path csr, String extensions, Pair issuer) throws IOException, InterruptedException {
        Path cert = dir.resolve(name + ".crt");
        Path ext = dir.resolve(name + ".ext");
        Files.writeString(ext, extensions);
        openssl("x509", "-req", "-in", csr.toString(), "-CA", issuer.cert().toString(), "-CAkey",
                issuer.key().toString(), "-set_serial", Long.toString(System.nanoTime()), "-days", "2",
                "-extfile", ext.toString(), "-out", cert.toString());
        return cert;
    }

    private void openssl(String... args) throws IOException, InterruptedException {
        var command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Path log = dir.resolve("openssl.log");
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .start();
        if (!process.waitFor(OPENSSL_SECONDS, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException(String.join(" ", command) + ": still running after " + OPENSSL_SECONDS + " s");
        }
        if (process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + ": exit " + process.exitValue() + ": "
                    + Files.readString(log));
        }
    }
}
