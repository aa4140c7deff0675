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
        assertThat(config).isEqualTo(new ClientConfig("example.org", 9000, file, Duration.ofSeconds(10)));
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
        assertThat(new ClientConfig("::1", 80, Path.of("f"), Duration.ZERO).server()).isEqualTo("[::1]:80");
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
        assertThat(new ClientConfig("h", 1, Path.of("-/"), Duration.ZERO).fromStandardInput()).isFalse();
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
}
