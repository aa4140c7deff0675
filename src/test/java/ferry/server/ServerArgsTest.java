package ferry.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import ferry.server.report.HookOptions;
import ferry.server.report.LogFormat;
import java.io.File;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
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
    void noSizeOrDurationLimitByDefault() throws UserError {
        ServerConfig config = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of());
        assertThat(config.limitsBytes()).isFalse();
        assertThat(config.limitsDuration()).isFalse();
    }

    /**
     * In a JVM started under {@code ulimit -n LIMIT}, the default connection limit
     * is (LIMIT - 64) / 2, worked out here by hand: two descriptors per upload, 64 kept.
     */
    @ParameterizedTest
    @CsvSource({"1000, 468", "300, 118"})
    void theDefaultConnectionLimitFollowsTheProcesssDescriptorLimit(int openFiles, int expected) throws Exception {
        assertThat(limitsUnder(openFiles).get(1)).as("maxConnections under ulimit -n %d", openFiles)
                .isEqualTo(Integer.toString(expected));
    }

    @ParameterizedTest
    @CsvSource({"20000, 9968", "1024, 480", "100, 18", "66, 1", "10, 1", "9223372036854775807, 1000000"})
    void theDefaultConnectionLimitLeavesTwoDescriptorsPerUploadAndAReserve(long openFiles, int expected) {
        assertThat(ServerArgs.defaultMaxConnections(openFiles)).isEqualTo(expected);
    }

    /** The limit read is the process's own, not a fallback: a child JVM started under {@code ulimit -n} reads that. */
    @ParameterizedTest
    @CsvSource({"1000", "300"})
    void theOpenFileLimitIsReadFromTheSystem(int openFiles) throws Exception {
        assertThat(limitsUnder(openFiles).get(0)).as("openFileLimit() under ulimit -n %d", openFiles)
                .isEqualTo(Integer.toString(openFiles));
    }

    /**
     * Runs {@link PrintServerLimits} in a child JVM whose descriptor limit (soft
     * and hard) is {@code openFiles}, set by the shell's {@code ulimit -n}; returns
     * its two lines: the open-file limit read and the default connection limit.
     */
    private List<String> limitsUnder(int openFiles) throws Exception {
        String classPath = Stream.of(PrintServerLimits.class, ServerArgs.class, UserError.class)
                .map(type -> {
                    try {
                        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
                    } catch (URISyntaxException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .distinct().collect(Collectors.joining(File.pathSeparator));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path out = tmp.resolve("limits-" + openFiles + ".out");
        Process child = new ProcessBuilder("/bin/sh", "-c", "ulimit -n \"$0\" && exec \"$@\"", Integer.toString(openFiles),
                java, "-cp", classPath, PrintServerLimits.class.getName(), tmp.resolve("files").toString())
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!child.waitFor(60, TimeUnit.SECONDS)) {
            child.destroyForcibly().waitFor();
            throw new AssertionError("the child JVM did not finish within 60 s: " + Files.readString(out));
        }
        String output = Files.readString(out);
        assertThat(child.exitValue()).as("the child JVM under ulimit -n %d: %s", openFiles, output).isZero();
        List<String> lines = output.lines().toList();
        assertThat(lines).as("its output").hasSize(2);
        return lines;
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
    void everyDefaultIsTheSpecsBehaviour() throws UserError {
        assertThat(ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of()).service())
                .isEqualTo(ServiceOptions.DEFAULTS);
    }

    @Test
    void everyOptionIsAFlagAndAVariableAndTheFlagWins() throws Exception {
        String[] args = {"--listen", "127.0.0.1", "--allow", "10.0.0.0/8", "--deny", "10.0.0.1", "--min-free", "5%",
            "--checksum", "sha256", "--fsync", "--log-format", "json", "--on-upload", "true",
            "--on-upload-jobs", "3", "--on-upload-timeout-ms", "500", "--metrics", "127.0.0.1:9100",
            "--max-bytes", "7", "8080", tmp.toString()};
        var env = Map.of("FERRY_LISTEN", "::1", "FERRY_MAX_BYTES", "9", "FERRY_LOG_FORMAT", "text",
                "FERRY_FSYNC", "0");
        ServerConfig config = ServerArgs.parse(args, env);
        var service = config.service();
        assertThat(service.listen()).isEqualTo(java.net.InetAddress.getByName("127.0.0.1"));
        assertThat(service.access().refusal(java.net.InetAddress.getByName("10.0.0.1"))).isEqualTo("denied by 10.0.0.1");
        assertThat(service.access().refusal(java.net.InetAddress.getByName("10.0.0.2"))).isNull();
        assertThat(service.minFree().percent()).isEqualTo(5.0);
        assertThat(service.checksum()).isTrue();
        assertThat(service.fsync()).isTrue();
        assertThat(service.logFormat()).isEqualTo(LogFormat.JSON);
        assertThat(service.hook()).isEqualTo(new HookOptions("true", 3, Duration.ofMillis(500)));
        assertThat(service.metrics()).isEqualTo(new java.net.InetSocketAddress("127.0.0.1", 9100));
        assertThat(config.maxBytes()).isEqualTo(7);

        var fromEnv = ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of("FERRY_FSYNC", "1",
                "FERRY_CHECKSUM", "sha256", "FERRY_METRICS", "9100", "FERRY_ON_UPLOAD", "logger"));
        assertThat(fromEnv.service().fsync()).isTrue();
        assertThat(fromEnv.service().checksum()).isTrue();
        assertThat(fromEnv.service().metrics()).isEqualTo(new java.net.InetSocketAddress(9100));
        assertThat(fromEnv.service().hook().jobs()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(fromEnv.service().hook().timeout()).isEqualTo(Duration.ofSeconds(60));
    }

    @Test
    void maxPerPeerIsOffByDefaultAndJoinsTheAccessRules() throws Exception {
        assertThat(ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of()).service().access().maxPerPeer())
                .as("no limit by default").isZero();
        var flag = ServerArgs.parse(new String[] {"--max-per-peer", "3", "--deny", "10.0.0.1", "8080", tmp.toString()},
                Map.of("FERRY_MAX_PER_PEER", "5")).service().access();
        assertThat(flag.maxPerPeer()).isEqualTo(3);
        assertThat(flag.refusal(java.net.InetAddress.getByName("10.0.0.1"))).isEqualTo("denied by 10.0.0.1");
        assertThat(ServerArgs.parse(new String[] {"8080", tmp.toString()}, Map.of("FERRY_MAX_PER_PEER", "5")).service()
                .access().maxPerPeer()).isEqualTo(5);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--listen | 'not an address!' | invalid --listen \"not an address!\": must be an address of this host",
        "--checksum | md5 | invalid --checksum \"md5\": must be sha256 (or off)",
        "--log-format | xml | invalid --log-format \"xml\": must be text or json",
        "--metrics | 99999 | invalid --metrics \"99999\": must be PORT or ADDR:PORT, the port 1-65535 (e.g. 9100, 127.0.0.1:9100, [::1]:9100)",
        "--metrics | 'bad host!:9100' | invalid --metrics \"bad host!:9100\": must be an address of this host",
        "--metrics | ::1:9100 | invalid --metrics \"::1:9100\": write an IPv6 address in brackets, e.g. [::1]:9100",
        "--on-upload-jobs | 0 | invalid --on-upload-jobs \"0\": must be a whole number from 1 to 1024",
        "--on-upload-timeout-ms | x | invalid --on-upload-timeout-ms \"x\": must be a whole number of milliseconds from 1 to 999999999",
        "--on-upload | ' ' | invalid --on-upload \"\": must be a command",
        "--min-free | lots | invalid --min-free \"lots\": must be a size (e.g. 500M, 2G, 1048576) or a percentage (e.g. 5%)",
        "--allow | 10.0.0.0/99 | invalid --allow range \"10.0.0.0/99\": the prefix must be 0-32",
        "--max-bytes | 0 | invalid --max-bytes \"0\": must be a whole number of bytes from 1 to 9223372036854775807",
        "--max-per-peer | -1 | invalid --max-per-peer \"-1\": must be a whole number from 1 to 1000000"})
    void aBadOptionValueIsOneUsageErrorNamingTheFlag(String flag, String value, String message) {
        assertThatThrownBy(() -> ServerArgs.parse(new String[] {flag, value, "8080", tmp.toString()}, Map.of()))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).isEqualTo("ERROR: " + message);
                });
    }

    @Test
    void helpListsEveryOptionWithItsVariable() {
        String help = ServerMain.help();
        for (var option : ServerArgs.OPTIONS.all()) {
            assertThat(help).contains(option.flag()).contains("(" + option.variable() + ")");
        }
        assertThat(help).startsWith("usage: ./server [OPTIONS] <PORT> <FILE-DIR>");
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
