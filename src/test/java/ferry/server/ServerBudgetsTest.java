package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Budgets the JVM's heap cannot hold are refused at start (issue 18, item 8). */
class ServerBudgetsTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path tmp;

    @Test
    void s3PartBuffersMustFitInTheHeapBesideWhatTheServerNeeds() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", "s3://bucket/p"}, Map.of());
        // The default 160 MiB of part buffers, and 64 MiB for the rest.
        assertThatCode(() -> config.checkBudgets(224 * MIB)).doesNotThrowAnyException();
        assertThatThrownBy(() -> config.checkBudgets(223 * MIB)).isInstanceOfSatisfying(UserError.class, e -> {
            assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
            assertThat(e.line()).isEqualTo("ERROR: --s3-memory-mib 160 does not fit in the server's heap of 223 MiB"
                    + " (its part buffers and 64 MiB for the rest): give the server more memory, or lower"
                    + " --s3-memory-mib");
        });
        ServerConfig smaller = ServerArgs.parse(new String[] {"--s3-memory-mib", "64", "8080", "s3://bucket/p"},
                Map.of());
        assertThatCode(() -> smaller.checkBudgets(128 * MIB)).doesNotThrowAnyException();
    }

    /** A small container (256 MiB: a heap of about 64 MiB) starts with the default budgets lowered to fit. */
    @Test
    void defaultBudgetsAreLoweredToFitASmallHeapAndGivenOnesAreNot() throws UserError {
        ServerConfig plain = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of())
                .fitDefaultBudgets(62 * MIB, false, false);
        assertThat(plain.bufferMemory()).isEqualTo(31 * MIB);
        assertThatCode(() -> plain.checkBudgets(62 * MIB)).doesNotThrowAnyException();
        assertThat(ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of()).fitDefaultBudgets(1024 * MIB,
                false, false).bufferMemory()).as("a heap that holds the defaults").isEqualTo(64 * MIB);

        ServerConfig s3 = ServerArgs.parse(new String[] {"8080", "s3://bucket/p"}, Map.of())
                .fitDefaultBudgets(192 * MIB, false, false);
        assertThat(s3.service().s3().memory()).isEqualTo(128 * MIB);
        assertThatCode(() -> s3.checkBudgets(192 * MIB)).doesNotThrowAnyException();
        assertThat(ServerArgs.parse(new String[] {"8080", "s3://bucket/p"}, Map.of()).fitDefaultBudgets(62 * MIB,
                false, false).service().s3().memory()).as("never below two parts").isEqualTo(16 * MIB);

        ServerConfig given = ServerArgs.parse(new String[] {"8080", "s3://bucket/p"},
                Map.of("FERRY_S3_MEMORY_MIB", "160", "FERRY_BUFFER_MIB", "64")).fitDefaultBudgets(192 * MIB, true, true);
        assertThat(given.service().s3().memory()).isEqualTo(160 * MIB);
        assertThat(given.bufferMemory()).isEqualTo(64 * MIB);
        assertThatThrownBy(() -> given.checkBudgets(192 * MIB)).isInstanceOf(UserError.class);
    }

    @Test
    void readBuffersMustFitInTheDirectMemoryLimit() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of("FERRY_BUFFER_MIB", "512"));
        assertThatCode(() -> config.checkBudgets(512 * MIB)).doesNotThrowAnyException();
        assertThatThrownBy(() -> config.checkBudgets(511 * MIB)).isInstanceOfSatisfying(UserError.class,
                e -> assertThat(e.line()).startsWith("ERROR: --buffer-mib 512 exceeds the server's limit of direct"
                        + " buffers, 511 MiB"));
    }
}
