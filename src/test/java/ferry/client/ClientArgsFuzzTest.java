package ferry.client;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.common.ExitCode;
import ferry.common.HostileStrings;
import ferry.common.UserError;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random hostile arguments, options and variables: either a valid
 * configuration or one ERROR line (and the usage after it), never another
 * exception.
 */
class ClientArgsFuzzTest {
    private static final long SEED = 20261125L;
    private static final List<String> FLAGS = List.of("--quiet", "-q", "--verbose", "-v", "--timeout-ms", "--timeout-ms=",
            "--quiet=", "-qv", "--", "-x", "--bogus", "-h", "--help", "--version", "-");

    @TempDir
    Path tmp;

    @Test
    void randomArgumentsGiveAConfigurationOrOneErrorLine() throws Exception {
        Path file = Files.writeString(tmp.resolve("file"), "x");
        var random = new Random(SEED);
        int errors = 0;
        int configs = 0;
        for (int i = 0; i < 20_000; i++) {
            var args = new ArrayList<String>();
            for (int options = random.nextInt(4); options > 0 && random.nextBoolean(); options--) {
                String flag = FLAGS.get(random.nextInt(FLAGS.size()));
                args.add(flag.endsWith("=") ? flag + hostileOr(random, "1500") : flag);
                if (flag.equals("--timeout-ms") && random.nextBoolean()) {
                    args.add(hostileOr(random, "1500"));
                }
            }
            args.add(hostileOr(random, "127.0.0.1"));
            args.add(hostileOr(random, "9000"));
            if (random.nextInt(10) != 0) {
                args.add(switch (random.nextInt(5)) {
                    case 0 -> file.toString();
                    case 1 -> tmp.toString();
                    case 2 -> tmp.resolve("missing").toString();
                    case 3 -> "-";
                    default -> HostileStrings.next(random);
                });
            }
            var env = new HashMap<String, String>();
            for (String variable : List.of(ClientArgs.QUIET, ClientArgs.VERBOSE, ClientConfig.TIMEOUT_VARIABLE)) {
                if (random.nextInt(4) == 0) {
                    env.put(variable, random.nextBoolean() ? HostileStrings.next(random) : random.nextBoolean() ? "1" : "0");
                }
            }
            try {
                ClientConfig config = ClientArgs.parse(args.toArray(String[]::new), env);
                configs++;
                assertThat(config.port()).isBetween(1, 65535);
                assertThat(config.fromStandardInput() || Files.isRegularFile(config.file()))
                        .as("standard input (-) or an existing file: %s", config.file()).isTrue();
                assertThat(config.timeout().toMillis()).isBetween(1L, 999_999_999L);
                assertThat(config.quiet() && config.verbose()).as("quiet and verbose at once: %s %s", args, env)
                        .isFalse();
            } catch (UserError e) {
                errors++;
                assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                assertThat(e.line()).startsWith("ERROR: ").doesNotContain("Exception");
                // One line, or two where the second is the usage (a wrong count, an unknown option).
                var lines = e.line().lines().toList();
                assertThat(lines.size() == 1 || lines.size() == 2 && lines.get(1).equals(ClientArgs.USAGE))
                        .as("%s for %s %s", e.line(), args, env).isTrue();
            }
        }
        assertThat(errors).as("the generator does produce bad input").isGreaterThan(5_000);
        assertThat(configs).as("the generator does produce good input").isGreaterThan(1_000);
    }

    private static String hostileOr(Random random, String good) {
        return random.nextBoolean() ? HostileStrings.next(random) : good;
    }
}
