package ferry.server;

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
class ServerArgsFuzzTest {
    private static final long SEED = 20261125L;

    @TempDir
    Path tmp;

    @Test
    void randomArgumentsGiveAConfigurationOrOneErrorLine() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain-file"), "x");
        var random = new Random(SEED);
        int errors = 0;
        for (int i = 0; i < 5_000; i++) {
            String port = random.nextBoolean() ? HostileStrings.next(random) : "9000";
            // Directories stay under tmp; the check creates nothing.
            String dir = switch (random.nextInt(3)) {
                case 0 -> file.toString();
                case 1 -> file + "/" + HostileStrings.next(random);
                default -> tmp + "/d/" + HostileStrings.next(random);
            };
            try {
                ServerConfig config = ServerArgs.parse(new String[] {port, dir}, Map.of());
                assertThat(config.port()).isBetween(1, 65535);
                assertThat(config.directory().startsWith(tmp)).as("%s is under %s", config.directory(), tmp).isTrue();
            } catch (UserError e) {
                errors++;
                assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                assertThat(e.line()).startsWith("ERROR: ").doesNotContain("Exception");
                // One line, or two where the second is the usage (a wrong count, an unknown option).
                var lines = e.line().lines().toList();
                assertThat(lines.size() == 1 || lines.size() == 2 && lines.get(1).equals(ServerArgs.USAGE))
                        .as(e.line()).isTrue();
            }
        }
        assertThat(tmp.resolve("d")).as("checking arguments creates no directory").doesNotExist();
        assertThat(errors).as("the generator does produce bad input").isGreaterThan(2_500);
    }
}
