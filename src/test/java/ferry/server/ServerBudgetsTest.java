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

    @Test
    void readBuffersMustFitInTheDirectMemoryLimit() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of("FERRY_BUFFER_MIB", "512"));
        assertThatCode(() -> config.checkBudgets(512 * MIB)).doesNotThrowAnyException();
        assertThatThrownBy(() -> config.checkBudgets(511 * MIB)).isInstanceOfSatisfying(UserError.class,
                e -> assertThat(e.line()).startsWith("ERROR: --buffer-mib 512 exceeds the server's limit of direct"
                        + " buffers, 511 MiB"));
    }
}
