package ferry.client;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.common.ExitCode;
import ferry.common.HostileStrings;
import ferry.common.UserError;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Random hostile arguments: either a valid configuration or one ERROR line, never another exception. */
class ClientArgsFuzzTest {
    private static final long SEED = 20261125L;

    @TempDir
    Path tmp;

    @Test
    void randomArgumentsGiveAConfigurationOrOneErrorLine() throws Exception {
        Path file = Files.writeString(tmp.resolve("file"), "x");
        var random = new Random(SEED);
        int errors = 0;
        for (int i = 0; i < 20_000; i++) {
            String host = random.nextBoolean() ? HostileStrings.next(random) : "127.0.0.1";
            String port = random.nextBoolean() ? HostileStrings.next(random) : "9000";
            String name = switch (random.nextInt(4)) {
                case 0 -> file.toString();
                case 1 -> tmp.toString();
                case 2 -> tmp.resolve("missing").toString();
                default -> HostileStrings.next(random);
            };
            String[] args = random.nextInt(10) == 0 ? new String[] {host, port} : new String[] {host, port, name};
            try {
                ClientConfig config = ClientArgs.parse(args, Map.of());
                assertThat(config.port()).isBetween(1, 65535);
                assertThat(config.fromStandardInput() || Files.isRegularFile(config.file()))
                        .as("standard input (-) or an existing file: %s", config.file()).isTrue();
            } catch (UserError e) {
                errors++;
                assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                assertThat(e.line()).startsWith("ERROR: ");
                assertThat(e.line().lines().count()).as("one line, or one line and the usage: %s", e.line())
                        .isEqualTo(args.length == 3 ? 1 : 2);
            }
        }
        assertThat(errors).as("the generator does produce bad input").isGreaterThan(10_000);
    }
}
