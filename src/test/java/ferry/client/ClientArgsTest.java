package ferry.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ClientArgsTest {
    @TempDir
    Path tmp;

    @Test
    void parsesHostPortFileAndTheDefaultTimeout() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        ClientConfig config = ClientArgs.parse(new String[] {"example.org", "9000", file.toString()}, Map.of());
        assertThat(config).isEqualTo(new ClientConfig("example.org", 9000, file, Duration.ofSeconds(10), false, false));
        assertThat(config.server()).isEqualTo("example.org:9000");
    }

    @Test
    void timeoutCanBeShortenedThroughTheEnvironment() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        ClientConfig config = ClientArgs.parse(new String[] {"h", "9000", file.toString()},
                Map.of("FERRY_CLIENT_TIMEOUT_MS", "1500"));
        assertThat(config.timeout()).isEqualTo(Duration.ofMillis(1500));
    }

    @ParameterizedTest
    @CsvSource({"[::1],::1", "::1,::1", "127.0.0.1,127.0.0.1", "fe80::1%lo,fe80::1%lo", "bücher.example,bücher.example"})
    void acceptsNamesAndAddressLiterals(String text, String host) throws UserError {
        assertThat(ClientArgs.host(text)).isEqualTo(host);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "[]", "a b", "host/path", "a\nb", "http://x", "x;y"})
    void rejectsHostsThatCannotBeNames(String text) {
        assertThatThrownBy(() -> ClientArgs.host(text))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessageStartingWith("invalid host ");
    }

    @Test
    void anIpv6LiteralIsShownWithBracketsInMessages() {
        assertThat(new ClientConfig("::1", 80, Path.of("f"), Duration.ZERO, false, false).server()).isEqualTo("[::1]:80");
    }

    @Test
    void aMissingFileIsAUsageError() {
        Path missing = tmp.resolve("missing");
        assertThatThrownBy(() -> ClientArgs.parse(new String[] {"h", "1", missing.toString()}, Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessage("file \"" + missing + "\" does not exist");
    }

    @Test
    void aDashIsStandardInputAndNeedsNoFileOfThatName() throws Exception {
        assertThat(Files.exists(Path.of("-"))).as("a file named - in the working directory").isFalse();
        ClientConfig config = ClientArgs.parse(new String[] {"h", "9000", "-"}, Map.of());
        assertThat(config.file()).isEqualTo(ClientConfig.STANDARD_INPUT);
        assertThat(config.fromStandardInput()).isTrue();
    }

    @Test
    void aFileNamedDashIsWrittenWithItsDirectory() throws Exception {
        assertThatThrownBy(() -> ClientArgs.parse(new String[] {"h", "9000", "./-"}, Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessage("file \"./-\" does not exist");
        Path dash = Files.writeString(tmp.resolve("-"), "x");
        ClientConfig config = ClientArgs.parse(new String[] {"h", "9000", dash.toString()}, Map.of());
        assertThat(config.fromStandardInput()).isFalse();
        assertThat(config.file()).isEqualTo(dash);
        // "-/" is the path "-" (a file of that name), never standard input.
        assertThat(new ClientConfig("h", 1, Path.of("-/"), Duration.ZERO, false, false).fromStandardInput()).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"--", "- ", " -"})
    void onlyADashAloneIsStandardInput(String text) {
        assertThatThrownBy(() -> ClientArgs.file(text))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessage("file " + ferry.common.Arguments.quote(text) + " does not exist");
    }

    @Test
    void theDashIsCheckedAfterThePort() {
        assertThatThrownBy(() -> ClientArgs.parse(new String[] {"h", "0", "-"}, Map.of()))
                .isInstanceOf(UserError.class)
                .hasMessageStartingWith("invalid port \"0\"");
    }

    @Test
    void pipesAndDevicesAreFilesThatExist() throws Exception {
        assertThat(ClientArgs.file("/dev/null")).isEqualTo(Path.of("/dev/null"));
        assertThat(ClientArgs.file("/proc/self/status")).isEqualTo(Path.of("/proc/self/status"));
    }

    @Test
    void aDirectoryIsNotAFile() {
        assertThatThrownBy(() -> ClientArgs.file(tmp.toString()))
                .isInstanceOf(UserError.class)
                .hasMessage("file \"" + tmp + "\" is a directory");
    }

    @Test
    void wrongArgumentCountPrintsTheUsage() {
        assertThatThrownBy(() -> ClientArgs.parse(new String[] {"h", "1"}, Map.of()))
                .isInstanceOf(UserError.class)
                .hasMessage("expected 3 arguments, got 2\nusage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>");
    }

    @Test
    void thePortIsCheckedBeforeTheFile() {
        assertThatThrownBy(() -> ClientArgs.parse(new String[] {"h", "0", tmp.resolve("missing").toString()}, Map.of()))
                .isInstanceOf(UserError.class)
                .hasMessageStartingWith("invalid port \"0\"");
    }

    // ---- options ----------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"--timeout-ms 1500", "--timeout-ms=1500"})
    void theTimeoutIsAlsoAFlag(String flag) throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        ClientConfig config = ClientArgs.parse(args(flag + " h 9000 " + file), Map.of());
        assertThat(config.timeout()).isEqualTo(Duration.ofMillis(1500));
        assertThat(config.host()).isEqualTo("h");
    }

    @Test
    void theTimeoutFlagWinsOverItsVariable() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        ClientConfig config = ClientArgs.parse(args("--timeout-ms 250 h 9000 " + file),
                Map.of("FERRY_CLIENT_TIMEOUT_MS", "1500"));
        assertThat(config.timeout()).isEqualTo(Duration.ofMillis(250));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--timeout-ms 0 h 9000 F|ERROR: invalid --timeout-ms \"0\": must be a whole number of milliseconds from 1 to 999999999",
        "--timeout-ms=1.5 h 9000 F|ERROR: invalid --timeout-ms \"1.5\": must be a whole number of milliseconds from 1 to 999999999",
        "--quiet=1 h 9000 F|ERROR: option --quiet takes no value\\nusage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>",
        "-qv h 9000 F|ERROR: unknown option \"-qv\" (--help lists them)\\nusage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>",
        "--timeout-ms|ERROR: option --timeout-ms needs a value (MS)\\nusage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>",
        "-q -v h 9000 F|ERROR: -q and -v cannot be used together",
        "--verbose --quiet h 9000 F|ERROR: --quiet and --verbose cannot be used together",
        "-q h 9000|ERROR: expected 3 arguments, got 2\\nusage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>"})
    void aBadOptionIsAUsageErrorNamingIt(String line, String message) throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertThatThrownBy(() -> ClientArgs.parse(args(line.replace(" F", " " + file)), Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).isEqualTo(message.replace("\\n", "\n"));
                });
    }

    @ParameterizedTest
    @CsvSource({"FERRY_QUIET, maybe", "FERRY_VERBOSE, 2", "FERRY_CLIENT_TIMEOUT_MS, ten"})
    void aBadVariableIsAUsageErrorNamingIt(String variable, String value) throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertThatThrownBy(() -> ClientArgs.parse(args("h 9000 " + file), Map.of(variable, value)))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessageStartingWith("invalid " + variable + " \"" + value + "\": must be ");
    }

    /** Flags, variables and the quiet/verbose mode they give: a flag wins over the other's variable. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''|''|''|normal",
        "--quiet|''|''|quiet",
        "-q|''|''|quiet",
        "--verbose|''|''|verbose",
        "-v|''|''|verbose",
        "''|yes|''|quiet",
        "''|''|true|verbose",
        "''|0|off|normal",
        "--verbose|1|''|verbose",
        "-q|''|1|quiet",
        "--quiet|0|''|quiet"})
    void quietAndVerbose(String flag, String quietVariable, String verboseVariable, String mode) throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        var env = new java.util.HashMap<String, String>();
        env.put("FERRY_QUIET", quietVariable);
        env.put("FERRY_VERBOSE", verboseVariable);
        ClientConfig config = ClientArgs.parse(args((flag.isEmpty() ? "" : flag + " ") + "h 9000 " + file), env);
        assertThat(config.quiet() ? "quiet" : config.verbose() ? "verbose" : "normal").isEqualTo(mode);
    }

    @Test
    void bothVariablesOnAreAUsageError() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertThatThrownBy(() -> ClientArgs.parse(args("h 9000 " + file), Map.of("FERRY_QUIET", "1", "FERRY_VERBOSE", "1")))
                .isInstanceOf(UserError.class)
                .hasMessage("FERRY_QUIET and FERRY_VERBOSE cannot be used together");
    }

    @Test
    void aDashIsStandardInputAfterOptionsToo() throws Exception {
        ClientConfig config = ClientArgs.parse(args("-q --timeout-ms 100 h 9000 -"), Map.of());
        assertThat(config.fromStandardInput()).isTrue();
        assertThat(config.quiet()).isTrue();
    }

    @Test
    void aDoubleDashEndsTheOptionsSoAHostMayStartWithADash() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        ClientConfig config = ClientArgs.parse(args("-v -- -q 9000 " + file), Map.of());
        assertThat(config.host()).isEqualTo("-q");
        assertThat(config.verbose()).isTrue();
        assertThat(config.quiet()).isFalse();
    }

    @Test
    void optionsAfterThePositionalsArePositionals() throws Exception {
        // A fourth argument is a second file to send: -q here is a file's name, not the option.
        Path file = Files.writeString(tmp.resolve("x"), "x");
        assertThatThrownBy(() -> ClientArgs.parse(args("h 9000 " + file + " -q"), Map.of()))
                .isInstanceOf(UserError.class)
                .hasMessage("file \"-q\" does not exist");
    }

    @Test
    void severalFilesAreABatchSentInOrderAndParallelIsAnOption() throws Exception {
        Path a = Files.writeString(tmp.resolve("a"), "a");
        Path b = Files.writeString(tmp.resolve("b"), "b");
        ClientConfig config = ClientArgs.parse(args("--parallel 4 h 9000 " + a + " " + b + " " + a), Map.of());
        assertThat(config.files()).containsExactly(a, b, a);
        assertThat(config.file()).isEqualTo(a);
        assertThat(config.parallel()).isEqualTo(4);
        assertThat(ClientArgs.parse(args("h 9000 " + a), Map.of("FERRY_PARALLEL", "3")).parallel()).isEqualTo(3);
        assertThat(ClientArgs.parse(args("h 9000 " + a), Map.of()).parallel()).isEqualTo(1);
        assertThatThrownBy(() -> ClientArgs.parse(args("h 9000 - " + a + " -"), Map.of()))
                .isInstanceOf(UserError.class).hasMessage("standard input (-) can be sent only once");
        assertThatThrownBy(() -> ClientArgs.parse(args("--parallel 0 h 9000 " + a), Map.of()))
                .isInstanceOf(UserError.class).hasMessageContaining("--parallel");
        assertThatThrownBy(() -> ClientArgs.parse(args("--parallel 257 h 9000 " + a), Map.of()))
                .isInstanceOf(UserError.class).hasMessageContaining("--parallel");
    }

    @Test
    void helpNamesEveryOptionWithItsVariableAndDefaultAndTheExitCodes() {
        String help = ClientMain.help();
        assertThat(help).startsWith("usage: ./client [OPTIONS] <HOSTNAME-OR-IP> <PORT> <FILENAME>\n");
        for (var option : ClientArgs.OPTIONS.all()) {
            assertThat(help).contains(option.flag()).contains("(" + option.variable() + ")")
                    .contains("default: " + option.defaultText());
        }
        assertThat(help).contains("-q, --quiet").contains("-v, --verbose").contains("--timeout-ms MS")
                .contains("default: 10000").contains("-h, --help").contains("--version")
                .contains("Exit codes: 0 ").contains("; 1 ").contains("; 2 ");
    }

    private static String[] args(String line) {
        return line.split(" ");
    }

    // ---- TLS: off unless asked for; --cacert and --cert imply it ------------------------------

    @Test
    void tlsIsOffByDefaultAndWithEmptyVariables() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertThat(ClientArgs.parse(new String[] {"h", "1", file.toString()}, Map.of()).tls()).isNull();
        assertThat(ClientArgs.parse(new String[] {"h", "1", file.toString()},
                Map.of("FERRY_TLS", "0", "FERRY_CACERT", "", "FERRY_CERT", "", "FERRY_KEY", "")).tls()).isNull();
    }

    @Test
    void tlsOnUsesTheSystemsTrustStore() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        ClientConfig config = ClientArgs.parse(new String[] {"--tls", "h", "1", file.toString()}, Map.of());
        assertThat(config.tls()).isNotNull();
        assertThat(config.tls().trust()).isEqualTo("the system's trust store");
        assertThat(config.withFile(file).tls()).as("each file of a batch").isSameAs(config.tls());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "FERRY_TLS|maybe|invalid FERRY_TLS \"maybe\": must be 1 or 0 \\(true/false, yes/no, on/off\\)",
            "FERRY_CERT|c.pem|FERRY_CERT needs --key \\(FERRY_KEY\\) too: a client certificate and its private key",
            "FERRY_KEY|k.pem|FERRY_KEY needs --cert \\(FERRY_CERT\\) too: a client certificate and its private key",
            "FERRY_CACERT|missing.pem|cannot read FERRY_CACERT \"missing.pem\": no such file or directory"})
    void aWrongTlsVariableIsAUsageErrorNamingIt(String variable, String value, String message) throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertThatThrownBy(() -> ClientArgs.parse(new String[] {"h", "1", file.toString()}, Map.of(variable, value)))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessageMatching(message);
    }
}
