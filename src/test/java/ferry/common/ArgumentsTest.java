package ferry.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class ArgumentsTest {
    @ParameterizedTest
    @ValueSource(strings = {"1", "80", "65535", "00080"})
    void acceptsPortsFromOneTo65535(String text) throws UserError {
        assertThat(Arguments.port(text)).isBetween(1, 65535).isEqualTo(Integer.parseInt(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "65536", "70000", "-1", "+80", "", " 80", "80 ", "abc", "8o", "1e3", "0x50",
        "99999999999999999999", "٨٠", "８０", "80\n"})
    void rejectsAnythingElseAsAUsageError(String text) {
        assertThatThrownBy(() -> Arguments.port(text))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).startsWith("ERROR: invalid port ").endsWith("must be a number from 1 to 65535");
                });
    }

    @Test
    void aNumberIsReadInDecimalDigits() throws UserError {
        assertThat(Arguments.number("T", "1500", "a whole number of milliseconds", 999_999_999L)).isEqualTo(1500);
        assertThat(Arguments.number("T", "999999999", "a whole number of milliseconds", 999_999_999L))
                .isEqualTo(999_999_999L);
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-5", "1.5", "ten", "9999999999", "", " 1", "99999999999999999999"})
    void aNumberOutOfRangeOrNotInDigitsIsAUsageErrorNamingTheOption(String text) {
        assertThatThrownBy(() -> Arguments.number("T", text, "a whole number of milliseconds", 999_999_999L))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessage("invalid T " + Arguments.quote(text) + ": must be a whole number of milliseconds from 1 to 999999999");
    }

    @Test
    void settingsGiveTheFallbackWhenTheVariableIsUnsetOrEmpty() throws UserError {
        var what = "a whole number of milliseconds";
        assertThat(Options.Settings.of(Map.of()).number("T", what, 999_999_999L, 10_000)).isEqualTo(10_000);
        assertThat(Options.Settings.of(Map.of("T", "")).number("T", what, 999_999_999L, 10_000)).isEqualTo(10_000);
        assertThat(Options.Settings.of(Map.of("T", "1500")).number("T", what, 999_999_999L, 10_000)).isEqualTo(1500);
    }

    @Test
    void quoteEscapesControlCharacters() {
        assertThat(Arguments.quote("a\nb\u0000")).isEqualTo("\"a\\x0ab\\x00\"");
        assertThat(Arguments.quote("héllo")).isEqualTo("\"héllo\"");
    }

    @Test
    void secondsReadsNaturally() {
        assertThat(Arguments.seconds(Duration.ofSeconds(10))).isEqualTo("10 s");
        assertThat(Arguments.seconds(Duration.ofMillis(1500))).isEqualTo("1.5 s");
        assertThat(Arguments.seconds(Duration.ofMillis(250))).isEqualTo("250 ms");
    }
}
