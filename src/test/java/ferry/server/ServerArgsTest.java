package ferry.server;

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

class ServerArgsTest {
    @TempDir
    Path tmp;

    @Test
    void parsesPortDirectoryAndTheDefaultIdleTimeout() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of());
        assertThat(config.port()).isEqualTo(8080);
        assertThat(config.directory()).isEqualTo(tmp.toAbsolutePath());
        assertThat(config.idleTimeout()).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void idleTimeoutCanBeShortenedThroughTheEnvironment() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", tmp.toString()},
                Map.of("FERRY_IDLE_TIMEOUT_MS", "250"));
        assertThat(config.idleTimeout()).isEqualTo(Duration.ofMillis(250));
    }

    @Test
    void limitsDefaultToTheDescriptorLimitAndNoSizeOrDurationLimit() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of());
        assertThat(config.maxConnections()).isEqualTo(ServerArgs.defaultMaxConnections(ServerArgs.openFileLimit()));
        assertThat(config.limitsBytes()).isFalse();
        assertThat(config.limitsDuration()).isFalse();
    }

    @ParameterizedTest
    @CsvSource({"20000, 9968", "1024, 480", "100, 18", "66, 1", "10, 1", "9223372036854775807, 1000000"})
    void theDefaultConnectionLimitLeavesTwoDescriptorsPerUploadAndAReserve(long openFiles, int expected) {
        assertThat(ServerArgs.defaultMaxConnections(openFiles)).isEqualTo(expected);
    }

    @Test
    void theOpenFileLimitIsReadFromTheSystem() {
        assertThat(ServerArgs.openFileLimit()).isGreaterThan(ServerArgs.RESERVED_DESCRIPTORS);
    }

    @Test
    void limitsCanBeSetThroughTheEnvironment() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of(
                "FERRY_MAX_CONNECTIONS", "3", "FERRY_MAX_BYTES", "1048576", "FERRY_MAX_DURATION_MS", "60000"));
        assertThat(config.maxConnections()).isEqualTo(3);
        assertThat(config.maxBytes()).isEqualTo(1_048_576);
        assertThat(config.maxDuration()).isEqualTo(Duration.ofMinutes(1));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "FERRY_MAX_CONNECTIONS | 0 | a whole number from 1 to 1000000",
        "FERRY_MAX_CONNECTIONS | 1000001 | a whole number from 1 to 1000000",
        "FERRY_MAX_BYTES | -1 | a whole number of bytes from 1 to 9223372036854775807",
        "FERRY_MAX_BYTES | 9223372036854775808 | a whole number of bytes from 1 to 9223372036854775807",
        "FERRY_MAX_DURATION_MS | 1.5 | a whole number of milliseconds from 1 to 999999999999"})
    void aBadLimitIsAUsageError(String name, String value, String expected) {
        assertThatThrownBy(() -> ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of(name, value)))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessage("invalid " + name + " \"" + value + "\": must be " + expected);
    }

    @Test
    void acceptsAMissingDirectoryWithoutCreatingIt() throws UserError {
        Path nested = tmp.resolve("a/b/c");
        ServerConfig config = ServerArgs.parse(new String[] {"8080", nested.toString()}, Map.of());
        assertThat(config.directory()).isEqualTo(nested);
        assertThat(tmp.resolve("a")).as("created only once the port is bound").doesNotExist();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "0 | expected 2 arguments, got 0",
        "1 | expected 2 arguments, got 1",
        "3 | expected 2 arguments, got 3"})
    void wrongArgumentCountsPrintTheUsage(int count, String message) {
        String[] args = new String[count];
        java.util.Arrays.fill(args, "8080");
        assertThatThrownBy(() -> ServerArgs.parse(args, Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).isEqualTo("ERROR: " + message + "\nusage: ./server <PORT> <FILE-DIR>");
                });
    }

    @Test
    void theWrongPortIsReportedBeforeTheDirectoryIsTouched() {
        Path missing = tmp.resolve("never-created");
        assertThatThrownBy(() -> ServerArgs.parse(new String[] {"99999", missing.toString()}, Map.of()))
                .isInstanceOf(UserError.class)
                .hasMessage("invalid port \"99999\": must be a number from 1 to 65535");
        assertThat(missing).doesNotExist();
    }

    @Test
    void aRegularFileIsNotADirectory() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain"), "x");
        assertThatThrownBy(() -> ServerArgs.directory(file.toString()))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessage("directory \"" + file + "\" is not a directory");
    }

    @Test
    void aDirectoryThatCannotBeCreatedIsAnError() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain"), "x");
        assertThatThrownBy(() -> ServerArgs.directory(file.resolve("sub").toString()))
                .isInstanceOf(UserError.class)
                .hasMessageStartingWith("cannot create directory \"" + file.resolve("sub") + "\": ");
    }

    @Test
    void anEmptyDirectoryArgumentIsAnError() {
        assertThatThrownBy(() -> ServerArgs.directory(""))
                .isInstanceOf(UserError.class)
                .hasMessage("invalid directory \"\": must not be empty");
    }
}
