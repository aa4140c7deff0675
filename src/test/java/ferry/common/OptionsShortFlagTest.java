package ferry.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.Options.Option;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** One-letter forms of options ({@code -q}): the same option as the long flag, listed beside it in help. */
class OptionsShortFlagTest {
    private static final Options OPTIONS = new Options(List.of(
            new Option("--quiet", "Q", null, "off", "say less").withShortFlag("-q"),
            new Option("--limit", "L", "N", "10", "a limit").withShortFlag("-l"),
            new Option("--long-only", "O", null, "off", "no short form")));

    @Test
    void aShortFlagSetsTheSameVariableAsItsLongFlag() throws UserError {
        var parsed = OPTIONS.parse(new String[] {"-q", "-l", "5", "a", "b"}, Map.of(), "usage");
        assertThat(parsed.settings().on("Q")).isTrue();
        assertThat(parsed.settings().get("L")).isEqualTo("5");
        assertThat(parsed.settings().givenAsFlag("Q")).isTrue();
        assertThat(parsed.settings().label("Q")).as("messages name the flag as written").isEqualTo("-q");
        assertThat(parsed.positionals()).containsExactly("a", "b");
    }

    @Test
    void aVariableIsNotAFlag() throws UserError {
        var parsed = OPTIONS.parse(new String[] {"a"}, Map.of("Q", "1"), "usage");
        assertThat(parsed.settings().on("Q")).isTrue();
        assertThat(parsed.settings().givenAsFlag("Q")).isFalse();
    }

    @Test
    void dashHIsStillHelp() throws UserError {
        assertThat(OPTIONS.parse(new String[] {"-h"}, Map.of(), "usage").help()).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"-ql", "-o", "-Q", "-q=1"})
    void otherShortFormsAreErrors(String flag) {
        assertThatThrownBy(() -> OPTIONS.parse(new String[] {flag, "a"}, Map.of(), "usage"))
                .isInstanceOfSatisfying(UserError.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE))
                .hasMessageEndingWith("\nusage");
    }

    @Test
    void helpListsTheShortFormBeforeTheLongOne() {
        assertThat(OPTIONS.help()).contains("  -q, --quiet   (Q)\n").contains("  -l, --limit N   (L)\n")
                .contains("  --long-only   (O)\n");
    }

    @ParameterizedTest
    @ValueSource(strings = {"-h", "q", "--q", "-1", "-qq", "-"})
    void aShortFlagIsADashAndOneLetterOtherThanH(String flag) {
        var option = new Option("--quiet", "Q", null, "off", "say less");
        assertThatThrownBy(() -> option.withShortFlag(flag)).isInstanceOf(IllegalArgumentException.class);
    }
}
