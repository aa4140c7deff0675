package ferry.server.numbering;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.UserError;
import org.junit.jupiter.api.Test;

/** {@code --counter}'s URL, checked as text: libpq's form and the driver's, credentials out of the JDBC URL and the log. */
class CounterUrlTest {
    @Test
    void aLibpqUrlBecomesTheDriversWithTheCredentialsApart() throws UserError {
        var options = CounterOptions.parse("--counter", "postgresql://fer%40ry:p%3Ass%2Bw@db.example:6543/ferry?sslmode=require");
        assertThat(options.jdbcUrl()).isEqualTo("jdbc:postgresql://db.example:6543/ferry?sslmode=require");
        assertThat(options.user()).isEqualTo("fer@ry");
        assertThat(options.password()).isEqualTo("p:ss+w");
        assertThat(options.shown()).isEqualTo("postgresql://fer@ry:***@db.example:6543/ferry?sslmode=require")
                .isEqualTo(options.toString());
    }

    @Test
    void theDriversFormAndDefaultsAreAccepted() throws UserError {
        var options = CounterOptions.parse("FERRY_COUNTER", "jdbc:postgresql://127.0.0.1/db?password=hidden");
        assertThat(options.jdbcUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:5432/db?password=hidden");
        assertThat(options.user()).isNull();
        assertThat(options.shown()).isEqualTo("postgresql://127.0.0.1:5432/db?password=***");
        assertThat(CounterOptions.parse("--counter", "postgres://u@[::1]/d").jdbcUrl())
                .isEqualTo("jdbc:postgresql://[::1]:5432/d");
    }

    @Test
    void anythingElseIsAUsageErrorWithThePasswordMasked() {
        for (String bad : new String[] {"mysql://u:hidden@h/d", "postgresql://u:hidden@/d", "postgresql:///d",
                "postgresql://u:hidden@h/a/b", "postgresql://u:hidden@h,h2/d", "", "h:5432"}) {
            assertThatThrownBy(() -> CounterOptions.parse("--counter", bad)).as(bad).isInstanceOf(UserError.class)
                    .hasMessageStartingWith("invalid --counter ").hasMessageNotContaining("hidden");
        }
    }
}
