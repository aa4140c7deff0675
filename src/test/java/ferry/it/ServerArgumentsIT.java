package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * S2 through the real launcher: a wrong port or an unusable directory is one
 * {@code ERROR:} line on standard error (nothing before it, nothing on
 * standard output, no stack trace) and a non-zero exit; a missing directory
 * is created.
 */
class ServerArgumentsIT {
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    @TempDir
    static Path tmp;

    static Stream<Arguments> badPorts() {
        return Stream.of(
                Arguments.of("abc", "ERROR: invalid port \"abc\": must be a number from 1 to 65535"),
                Arguments.of("0", "ERROR: invalid port \"0\": must be a number from 1 to 65535"),
                Arguments.of("65536", "ERROR: invalid port \"65536\": must be a number from 1 to 65535"),
                Arguments.of("-1", "ERROR: invalid port \"-1\": must be a number from 1 to 65535"),
                Arguments.of("", "ERROR: invalid port \"\": must be a number from 1 to 65535"),
                Arguments.of("99999999999", "ERROR: invalid port \"99999999999\": must be a number from 1 to 65535"),
                Arguments.of(" 80", "ERROR: invalid port \" 80\": must be a number from 1 to 65535"),
                Arguments.of("8o8o", "ERROR: invalid port \"8o8o\": must be a number from 1 to 65535"),
                Arguments.of("0x50", "ERROR: invalid port \"0x50\": must be a number from 1 to 65535"));
    }

    @ParameterizedTest(name = "port \"{0}\"")
    @MethodSource("badPorts")
    void aWrongPortIsOneErrorLineAndExitCode2(String port, String message) throws Exception {
        Path dir = tmp.resolve("never-created-" + Math.abs(port.hashCode()));
        var result = Ferry.run("server", List.of(port, dir.toString()), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).isEqualTo(message + "\n");
        assertThat(result.stdout()).isEmpty();
        assertThat(dir).as("the port is checked before the directory is touched").doesNotExist();
    }

    @Test
    void aPortInUseIsOneErrorLineAndExitCode1() throws Exception {
        try (var taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(0));
            int port = taken.getLocalPort();
            var result = Ferry.run("server", List.of(Integer.toString(port), tmp.resolve("busy").toString()),
                    Map.of(), DEADLINE);
            assertThat(result.exitCode()).isEqualTo(1);
            assertThat(result.stderr()).isEqualTo("ERROR: cannot listen on port " + port + ": address already in use\n");
            assertThat(result.stdout()).isEmpty();
        }
    }

    @ParameterizedTest(name = "{0} arguments")
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 1, 3})
    void aWrongArgumentCountIsAnErrorLineThenTheUsage(int count) throws Exception {
        var args = new ArrayList<String>();
        for (int i = 0; i < count; i++) {
            args.add(i == 0 ? "9000" : tmp.resolve("x" + i).toString());
        }
        var result = Ferry.run("server", args, Map.of(), DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).isEqualTo("ERROR: expected 2 arguments, got " + count + "\n"
                + "usage: ./server <PORT> <FILE-DIR>\n");
        assertThat(result.stdout()).isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"--help", "-h"})
    void helpListsEveryOptionOnStandardOutputAndExitsZero(String flag) throws Exception {
        var result = Ferry.run("server", List.of(flag), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isZero();
        assertThat(result.stderr()).isEmpty();
        assertThat(result.stdout()).startsWith("usage: ./server [OPTIONS] <PORT> <FILE-DIR>\n")
                .contains("--listen ADDR   (FERRY_LISTEN)", "--metrics [ADDR:]PORT   (FERRY_METRICS)",
                        "--fsync   (FERRY_FSYNC)", "--idle-timeout-ms MS   (FERRY_IDLE_TIMEOUT_MS)", "default: 10000");
        assertThat(tmp.resolve("x")).doesNotExist();
    }

    @Test
    void versionPrintsTheVersionAndExitsZero() throws Exception {
        var result = Ferry.run("server", List.of("--version"), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isZero();
        assertThat(result.stdout()).matches("ferry-server \\(ferry\\) [0-9][^ ]*, Java [0-9].*\n");
    }

    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
        "--log-format=xml | | ERROR: invalid --log-format \"xml\": must be text or json",
        "| FERRY_LOG_FORMAT=xml | ERROR: invalid FERRY_LOG_FORMAT \"xml\": must be text or json",
        "--nope | | ERROR: unknown option \"--nope\" (--help lists them)/usage: ./server <PORT> <FILE-DIR>",
        "--deny=example.com | | ERROR: invalid --deny range \"example.com\": must be an IPv4 or IPv6 address, optionally with /PREFIX",
        "--allow=::ffff:10.0.0.0/8 | | ERROR: invalid --allow range \"::ffff:10.0.0.0/8\": an IPv4-mapped range needs a prefix of 96-128 (::ffff:10.0.0.0/104 is 10.0.0.0/8)",
        "--max-per-peer=0 | | ERROR: invalid --max-per-peer \"0\": must be a whole number from 1 to 1000000",
        "| FERRY_MAX_PER_PEER=two | ERROR: invalid FERRY_MAX_PER_PEER \"two\": must be a whole number from 1 to 1000000",
        "| FERRY_ALLOW=::ffff:10.0.0.0/8 | ERROR: invalid FERRY_ALLOW range \"::ffff:10.0.0.0/8\": an IPv4-mapped range needs a prefix of 96-128 (::ffff:10.0.0.0/104 is 10.0.0.0/8)"})
    void aBadOptionIsOneErrorLineAndExitTwoBeforeAnythingIsCreated(String flag, String variable, String expected)
            throws Exception {
        var args = new ArrayList<String>();
        if (flag != null) {
            args.add(flag);
        }
        args.addAll(List.of(Integer.toString(Ports.unused()), tmp.resolve("never").toString()));
        Map<String, String> env = variable == null ? Map.of() : Map.of(variable.split("=")[0], variable.split("=")[1]);
        var result = Ferry.run("server", args, env, DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).isEqualTo(expected.replace(")/usage", ")\nusage") + "\n");
        assertThat(result.stdout()).isEmpty();
        assertThat(tmp.resolve("never")).doesNotExist();
    }

    @Test
    void aFileWhereTheDirectoryShouldBeIsAnError() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain-file"), "x");
        var result = Ferry.run("server", List.of(Integer.toString(Ports.unused()), file.toString()), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).isEqualTo("ERROR: directory \"" + file + "\" is not a directory\n");
        assertThat(result.stdout()).isEmpty();
    }

    @Test
    void aDirectoryBelowAFileCannotBeCreatedAndIsAnError() throws Exception {
        Path file = Files.writeString(tmp.resolve("another-file"), "x");
        Path below = file.resolve("sub");
        var result = Ferry.run("server", List.of(Integer.toString(Ports.unused()), below.toString()), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).startsWith("ERROR: cannot create directory \"" + below + "\": ")
                .doesNotContain("Exception").hasLineCount(1);
        assertThat(result.stdout()).isEmpty();
    }

    /** Even root cannot create files in /proc/sys: an unusable directory, found before listening. */
    @Test
    void aDirectoryWhereNoFileCanBeMadeIsAnError() throws Exception {
        var result = Ferry.run("server", List.of(Integer.toString(Ports.unused()), "/proc/sys"), Map.of(), DEADLINE);
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).startsWith("ERROR: directory \"/proc/sys\" is not writable: ")
                .doesNotContain("Exception").hasLineCount(1);
        assertThat(result.stdout()).isEmpty();
    }

    @Test
    void aMissingDirectoryIsCreatedWithItsParents() throws Exception {
        Path nested = tmp.resolve("a/b/c");
        try (var server = Ferry.Server.start(nested)) {
            assertThat(nested).isDirectory();
            assertThat(server.process.isAlive()).isTrue();
            assertThat(server.stderr()).isEmpty();
        }
    }
}
