package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The s3proxy and the PostgreSQL cluster of {@link TestS3} and {@link TestPostgres}
 * serve a whole test class ({@link ferry.testing.ClassFixtures}), and each test
 * gets them as fresh as new, whatever the test before it left behind.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClassFixturesIT {
    private static int s3Port;
    private static int postgresPort;

    /**
     * <ol>
     * <li>A test puts an object and begins a multipart upload that it never ends.</li>
     * <li>It makes ferry's table with a number taken, as a receiver would.</li>
     * <li>It stops PostgreSQL and ends without starting it again.</li>
     * </ol>
     */
    @Test
    @Order(1)
    void aTestLeavesObjectsAPendingUploadATableAndAStoppedDatabaseBehind() throws Exception {
        try (var s3 = TestS3.start(); var postgres = TestPostgres.start()) {
            s3Port = s3.port;
            postgresPort = postgres.port;
            s3.put("left/behind", "x".getBytes(StandardCharsets.US_ASCII));
            s3.client().createMultipartUpload(b -> b.bucket(TestS3.BUCKET).key("left/pending"));
            postgres.query("CREATE TABLE ferry_counter (id boolean PRIMARY KEY, next bigint);"
                    + " INSERT INTO ferry_counter VALUES (true, 42)");
            assertThat(s3.objects("")).containsOnlyKeys("left/behind");
            assertThat(s3.pendingMultipartUploads("")).hasSize(1);
            postgres.stop();
        }
    }

    /** The class's next test gets the same two servers, running, with an empty bucket and an empty schema. */
    @Test
    @Order(2)
    void theNextTestOfTheClassGetsTheSameServersAsFreshAsNew() throws Exception {
        try (var s3 = TestS3.start(); var postgres = TestPostgres.start()) {
            assertThat(s3.port).as("the class's s3proxy, not a new one").isEqualTo(s3Port);
            assertThat(postgres.port).as("the class's cluster, not a new one").isEqualTo(postgresPort);
            assertThat(s3.objects("")).isEmpty();
            assertThat(s3.pendingMultipartUploads("")).isEmpty();
            assertThat(postgres.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).isEqualTo("0");
        }
    }

    /** Two held at once are two servers: the second is not the first one shared. */
    @Test
    @Order(3)
    void aTestHoldingTwoGetsTwo() throws Exception {
        try (var first = TestS3.start(); var second = TestS3.start()) {
            assertThat(second.port).isNotEqualTo(first.port);
            first.put("only/in/first", new byte[] {1});
            assertThat(second.objects("")).isEmpty();
        }
    }
}
