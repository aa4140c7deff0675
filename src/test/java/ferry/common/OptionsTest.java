package ferry.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.Options.Option;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class OptionsTest {
    private static final Options OPTIONS = new Options(List.of(
            new Option("--port-file", "T_PORT_FILE", "PATH", "none", "a value"),
            new Option("--fast", "T_FAST", null, "off", "a switch")));

    private static Options.Parsed parse(Map<String, String> env, String... args) throws UserError {
        return OPTIONS.parse(args, env, "usage: t <A>");
    }

    @Test
    void flagsComeBeforeThePositionalsAndWinOverTheirVariables() throws UserError {
        var parsed = parse(Map.of("T_PORT_FILE", "from-env", "T_FAST", "0"), "--port-file", "from-flag", "--fast", "a", "b");
        assertThat(parsed.positionals()).containsExactly("a", "b");
        assertThat(parsed.settings().get("T_PORT_FILE")).isEqualTo("from-flag");
        assertThat(parsed.settings().on("T_FAST")).isTrue();
        assertThat(parsed.settings().label("T_PORT_FILE")).isEqualTo("--port-file");
    }

    @Test
    void theVariableAppliesWithoutItsFlagAndAnEmptyOneIsUnset() throws UserError {
        var parsed = parse(Map.of("T_PORT_FILE", "from-env", "T_FAST", ""), "a");
        assertThat(parsed.settings().get("T_PORT_FILE")).isEqualTo("from-env");
        assertThat(parsed.settings().label("T_PORT_FILE")).isEqualTo("T_PORT_FILE");
        assertThat(parsed.settings().get("T_FAST")).isNull();
        assertThat(parsed.settings().on("T_FAST")).isFalse();
    }

    @Test
    void theEqualsFormAndTheEndOfOptions() throws UserError {
        var parsed = parse(Map.of(), "--port-file=x=y", "--", "--fast", "-");
        assertThat(parsed.settings().get("T_PORT_FILE")).isEqualTo("x=y");
        assertThat(parsed.positionals()).containsExactly("--fast", "-");
        assertThat(parsed.settings().on("T_FAST")).isFalse();
    }

    @Test
    void optionsAfterThePositionalsArePositionals() throws UserError {
        var parsed = parse(Map.of(), "a", "--fast");
        assertThat(parsed.positionals()).containsExactly("a", "--fast");
    }

    @Test
    void aLoneDashAndNegativeNumbersArePositionals() throws UserError {
        assertThat(parse(Map.of(), "-1", "x").positionals()).containsExactly("-1", "x");
        assertThat(parse(Map.of(), "-", "x").positionals()).containsExactly("-", "x");
    }

    @Test
    void helpAndVersionAreNoticedAnywhereAmongTheOptions() throws UserError {
        assertThat(parse(Map.of(), "--fast", "-h").help()).isTrue();
        assertThat(parse(Map.of(), "--help", "a", "b", "c").help()).isTrue();
        assertThat(parse(Map.of(), "--version").version()).isTrue();
        assertThat(parse(Map.of(), "a", "--help").help()).isFalse();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--nope|unknown option \"--nope\" (--help lists them)",
            "--port-file|option --port-file needs a value (PATH)",
            "--fast=1|option --fast takes no value",
            "-x|unknown option \"-x\" (--help lists them)"})
    void aWrongOptionIsAUsageErrorWithTheUsageLine(String arg, String message) {
        assertThatThrownBy(() -> parse(Map.of(), arg))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).isEqualTo("ERROR: " + message + "\nusage: t <A>");
                });
    }

    @ParameterizedTest
    @CsvSource({"1, true", "true, true", "YES, true", "on, true", "0, false", "false, false", "no, false", "off, false"})
    void switchesReadTheUsualWords(String value, boolean on) throws UserError {
        assertThat(parse(Map.of("T_FAST", value)).settings().on("T_FAST")).isEqualTo(on);
    }

    @Test
    void aSwitchWithAnotherValueIsAUsageError() {
        assertThatThrownBy(() -> parse(Map.of("T_FAST", "maybe")).settings().on("T_FAST"))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.line())
                        .isEqualTo("ERROR: invalid T_FAST \"maybe\": must be 1 or 0 (true/false, yes/no, on/off)"));
    }

    @Test
    void helpListsEveryOptionWithItsVariableAndDefault() {
        assertThat(OPTIONS.help())
                .contains("--port-file PATH", "(T_PORT_FILE)", "default: none")
                .contains("--fast", "(T_FAST)", "default: off")
                .contains("-h, --help", "--version");
    }

    /**
     * The shape that the package's /etc/default/ferry and OptionDocsTest read
     * back: per option, in the order given, its flags, value and variable,
     * then its help and default; then help and version.
     */
    @Test
    void helpIsTwoLinesPerOptionInTheOrderGiven() {
        var options = new Options(List.of(
                new Option("--port-file", "T_PORT_FILE", "PATH", "none", "a value"),
                new Option("--fast", "T_FAST", null, "off", "a switch").withShortFlag("-f"),
                new Option("--plain", "T_PLAIN", "N", "", "no default")));
        assertThat(options.help()).isEqualTo(String.join("\n",
                "  --port-file PATH   (T_PORT_FILE)",
                "      a value; default: none",
                "  -f, --fast   (T_FAST)",
                "      a switch; default: off",
                "  --plain N   (T_PLAIN)",
                "      no default",
                "  -h, --help",
                "      this text, then exit 0",
                "  --version",
                "      the version, then exit 0"));
    }
}
