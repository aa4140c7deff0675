package ferry.server.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.ExitCode;
import ferry.common.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class MinFreeTest {
    @ParameterizedTest
    @CsvSource({"1048576, 1048576", "500K, 512000", "500M, 524288000", "2G, 2147483648", "2GiB, 2147483648",
            "1t, 1099511627776", "3MB, 3145728", "7B, 7"})
    void sizesAreBytesOrPowersOf1024(String text, long bytes) throws UserError {
        assertThat(MinFree.parse("--min-free", text).bytes()).isEqualTo(bytes);
    }

    @Test
    void aPercentageIsAShareOfTheFileSystem() throws UserError {
        assertThat(MinFree.parse("--min-free", "5%").percent()).isEqualTo(5.0);
        assertThat(MinFree.parse("--min-free", "0.5%").percent()).isEqualTo(0.5);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "0", "-5M", "5X", "100%", "0%", "%", "5 %x", "1.5G", "99999999999999999999", "9999999999T"})
    void anythingElseIsAUsageError(String text) {
        assertThatThrownBy(() -> MinFree.parse("FERRY_MIN_FREE", text))
                .isInstanceOfSatisfying(UserError.class, e -> {
                    assertThat(e.exitCode()).isEqualTo(ExitCode.USAGE);
                    assertThat(e.line()).startsWith("ERROR: invalid FERRY_MIN_FREE ");
                });
    }
}
