package ferry.server.store;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Which S3 endpoints are addressed in the path ({@code http://host/bucket/key}) without being asked. */
class S3AddressingTest {
    @Test
    void anIpOrLocalhostEndpointIsAddressedInThePath() {
        assertThat(S3Storage.addressed("127.0.0.1")).isTrue();
        assertThat(S3Storage.addressed("[::1]")).isTrue();
        assertThat(S3Storage.addressed("localhost")).isTrue();
        assertThat(S3Storage.addressed("s3.eu-west-1.amazonaws.com")).isFalse();
        assertThat(S3Storage.addressed("minio.internal")).isFalse();
    }
}
