package ferry.client;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** How the progress line and the summary write sizes, rates and times. */
class ProgressTest {
    @ParameterizedTest
    @CsvSource({"0, 0 B", "500, 500 B", "1023, 1023 B", "1024, 1.0 KiB", "1536, 1.5 KiB", "1048575, 1.0 MiB",
        "104857600, 100.0 MiB", "1073741824, 1.0 GiB", "9223372036854775807, 8.0 EiB"})
    void sizesAreInBinaryUnitsWithOneDecimal(long bytes, String text) {
        assertThat(Progress.size(bytes)).isEqualTo(text);
    }

    @ParameterizedTest
    @CsvSource({"0, 100, 0", "1, 100, 1", "99, 100, 99", "999, 1000, 99", "1000, 1000, 100",
        "9223372036854775806, 9223372036854775807, 99"})
    void percentIsRoundedDownSo100MeansAll(long sent, long size, long percent) {
        assertThat(Progress.percent(sent, size)).isEqualTo(percent);
    }

    @ParameterizedTest
    @CsvSource({"0, 100, 0:00", "100, 100, 0:01", "101, 100, 0:02", "6000, 100, 1:00", "359999, 100, 1:00:00",
        "360000, 100, 1:00:00", "366100, 100, 1:01:01", "100, 0, --:--"})
    void theTimeLeftIsMinutesAndSecondsOrHoursToo(long left, long rate, String text) {
        assertThat(Progress.eta(left, rate)).isEqualTo(text);
    }

    @Test
    void theSummaryNamesBytesServerSecondsAndRate() {
        assertThat(Progress.summary(104_857_600, "host:9000", 410_000_000L))
                .isEqualTo("sent 104857600 bytes (100.0 MiB) to host:9000 in 0.41 s (243.9 MiB/s); confirmed");
        assertThat(Progress.summary(500, "[::1]:9000", 2_000_000_000L))
                .isEqualTo("sent 500 bytes to [::1]:9000 in 2.00 s (250 B/s); confirmed");
        assertThat(Progress.summary(1, "h:1", 1_000_000_000L)).startsWith("sent 1 byte to h:1 in 1.00 s");
        assertThat(Progress.summary(0, "h:1", 0)).startsWith("sent 0 bytes to h:1 in 0.00 s");
    }

    @ParameterizedTest
    @CsvSource({"0.41, 2, 0.41", "0.405, 1, 0.4", "12.0, 1, 12.0", "1.999, 2, 2.00", "0.05, 2, 0.05", "3.07, 1, 3.1"})
    void decimalsAreWrittenWithoutAFormatter(double value, int places, String text) {
        assertThat(Progress.decimals(value, places)).isEqualTo(text);
    }
}
