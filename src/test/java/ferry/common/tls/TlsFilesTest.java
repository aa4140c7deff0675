package ferry.common.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import ferry.it.TestCerts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEM files as openssl writes them: chains, and keys in PKCS#8, SEC1 and PKCS#1 form; what is refused. */
class TlsFilesTest {
    @TempDir
    static Path dir;
    private static TestCerts certs;

    @TempDir
    Path tmp;

    @BeforeAll
    static void makeCertificates() throws Exception {
        certs = TestCerts.create(dir.resolve("certs"));
    }

    private static void assertUsageError(ThrowingRunnable call, String regex) {
        assertThatThrownBy(call::run)
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessageMatching(regex);
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Test
    void readsAnEcKeyInPkcs8AndInSec1FormAndChecksItAgainstItsCertificate() throws Exception {
        X509Certificate leaf = TlsFiles.certificates(certs.client.cert(), "--cert").get(0);
        Path sec1 = certs.sec1(certs.client);
        assertThat(Files.readString(sec1)).contains("-----BEGIN EC PRIVATE KEY-----");
        for (Path keyFile : List.of(certs.client.key(), sec1)) {
            PrivateKey key = TlsFiles.privateKey(keyFile, "--key");
            assertThat(key.getAlgorithm()).isEqualTo("EC");
            TlsFiles.checkPair(key, leaf, "--key", keyFile, "--cert", certs.client.cert());
        }
    }

    @Test
    void readsAnRsaKeyInPkcs1Form() throws Exception {
        TestCerts.Pair rsa = certs.rsa("rsa-unit");
        assertThat(Files.readString(rsa.key())).contains("-----BEGIN RSA PRIVATE KEY-----");
        PrivateKey key = TlsFiles.privateKey(rsa.key(), "--key");
        assertThat(key.getAlgorithm()).isEqualTo("RSA");
        TlsFiles.checkPair(key, TlsFiles.certificates(rsa.cert(), "--cert").get(0), "--key", rsa.key(), "--cert",
                rsa.cert());
    }

    @Test
    void readsAChainInOrderSkippingTextBetweenBlocks() throws Exception {
        Path chain = tmp.resolve("chain.pem");
        Files.writeString(chain, "Bag Attributes\n    friendlyName: leaf\n" + Files.readString(certs.client.cert())
                + "subject=/CN=ferry test CA\n" + Files.readString(certs.ca.cert()));
        var certificates = TlsFiles.certificates(chain, "--cert");
        assertThat(certificates).hasSize(2);
        assertThat(certificates.get(0).getSubjectX500Principal().getName()).isEqualTo("CN=ferry test client");
        assertThat(certificates.get(1).getSubjectX500Principal().getName()).isEqualTo("CN=ferry test CA");
    }

    @Test
    void aKeyOfAnotherCertificateIsRefused() throws Exception {
        X509Certificate leaf = TlsFiles.certificates(certs.client.cert(), "--cert").get(0);
        PrivateKey other = TlsFiles.privateKey(certs.otherClient.key(), "--key");
        assertUsageError(() -> TlsFiles.checkPair(other, leaf, "--key", certs.otherClient.key(), "--cert",
                certs.client.cert()), "--key \".*other-client.key\" does not match the certificate of --cert \".*\" .*");
    }

    @Test
    void anEncryptedKeyIsRefusedWithTheWayOut() throws Exception {
        Path encrypted = tmp.resolve("encrypted.key");
        var openssl = new ProcessBuilder("openssl", "pkcs8", "-topk8", "-in", certs.client.key().toString(),
                "-out", encrypted.toString(), "-passout", "pass:secret").redirectErrorStream(true).start();
        assertThat(openssl.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(openssl.exitValue()).isZero();
        assertUsageError(() -> TlsFiles.privateKey(encrypted, "FERRY_KEY"),
                "FERRY_KEY \".*encrypted.key\" holds an encrypted private key; give it unencrypted .*");
        // The traditional form: EC PRIVATE KEY with the headers Proc-Type: 4,ENCRYPTED and DEK-Info.
        Path traditional = tmp.resolve("traditional.key");
        openssl = new ProcessBuilder("openssl", "ec", "-in", certs.client.key().toString(), "-aes256",
                "-out", traditional.toString(), "-passout", "pass:secret").redirectErrorStream(true).start();
        assertThat(openssl.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(Files.readString(traditional)).contains("Proc-Type: 4,ENCRYPTED");
        assertUsageError(() -> TlsFiles.privateKey(traditional, "--key"),
                "--key \".*traditional.key\" holds an encrypted private key; give it unencrypted .*");
    }

    @Test
    void filesWithoutWhatTheyShouldHoldAreRefused() throws Exception {
        assertUsageError(() -> TlsFiles.certificates(certs.client.key(), "--cacert"),
                "--cacert \".*\" holds no certificate .*");
        assertUsageError(() -> TlsFiles.privateKey(certs.client.cert(), "--key"), "--key \".*\" holds no private key .*");
        Path cut = Files.writeString(tmp.resolve("cut.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n");
        assertUsageError(() -> TlsFiles.certificates(cut, "--cert"),
                "--cert \".*cut.pem\" is not a valid PEM file: no line -----END CERTIFICATE-----");
        assertUsageError(() -> TlsFiles.certificates(tmp, "--cert"), "--cert \".*\" is a directory, not a PEM file");
    }
}
