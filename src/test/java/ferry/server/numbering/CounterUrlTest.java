package ferry.server.numbering;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.common.UserError;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
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

    /** The issue's case: a password with an unencoded /, ?, # or @ was printed whole by the "no host" error. */
    @Test
    void aPasswordWithAnUnencodedSlashQuestionMarkHashOrAtIsMasked() {
        for (String password : new String[] {"Zq/cret", "Zq?cret", "Zq#cret", "Zq@cret", "12/cret", "12?cret"}) {
            String url = "postgresql://ferry:" + password + "@db.example:5432/ferry";
            assertThatThrownBy(() -> CounterOptions.parse("--counter", url)).as(url).isInstanceOf(UserError.class)
                    .hasMessageStartingWith("invalid --counter \"postgresql://ferry:***@")
                    .hasMessageNotContaining("Zq").hasMessageNotContaining("cret");
        }
    }

    /** The characters a password may hold unencoded by mistake, and others a URL treats specially. */
    private static final String SPECIAL = "/?#@:%&= +[]\\;,'\"";
    private static final String LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

    /**
     * Property-style, with a fixed seed: 3,000 passwords, each three random
     * runs of letters and digits joined by one or two special characters
     * ({@code / ? # @ :} among them), unencoded, encoded or half encoded, put
     * into every form of URL, good or bad: missing host, bad port, empty or
     * nested database, fragment, several hosts, wrong scheme, no scheme, the
     * password as a parameter. Whether the URL is refused (a usage error) or
     * accepted, no run of the password is in the error's message, nor in the
     * URL as the log shows it.
     */
    @Test
    void noFormOfAUrlShowsThePasswordOrAnyPartOfIt() {
        var random = new Random(18);
        int refused = 0;
        int accepted = 0;
        for (int i = 0; i < 3_000; i++) {
            var runs = new ArrayList<String>();
            var password = new StringBuilder();
            for (int r = 0; r < 3; r++) {
                var run = new StringBuilder("Pw");
                for (int c = 0; c < 6; c++) {
                    run.append(LETTERS.charAt(random.nextInt(LETTERS.length())));
                }
                runs.add(run.toString());
                password.append(run);
                if (r < 2) {
                    for (int c = 0, n = 1 + random.nextInt(2); c < n; c++) {
                        // Half the time one of the five the issue names.
                        password.append(random.nextBoolean() ? "/?#@:".charAt(random.nextInt(5))
                                : SPECIAL.charAt(random.nextInt(SPECIAL.length())));
                    }
                }
            }
            String written = switch (random.nextInt(3)) {
                case 0 -> password.toString();
                case 1 -> URLEncoder.encode(password.toString(), StandardCharsets.UTF_8);
                default -> password.toString().replace("@", "%40").replace(":", "%3A");
            };
            for (String url : urls(written, random)) {
                String shown;
                try {
                    var options = CounterOptions.parse("--counter", url);
                    shown = options.shown() + " " + options;
                    accepted++;
                } catch (UserError e) {
                    assertThat(e.getMessage()).as(url).startsWith("invalid --counter ");
                    shown = e.getMessage();
                    refused++;
                }
                for (String run : runs) {
                    assertThat(shown).as("%s shown as %s", url, shown).doesNotContain(run);
                }
            }
        }
        // Both ways were taken often, so that both were checked.
        assertThat(refused).isGreaterThan(10_000);
        assertThat(accepted).isGreaterThan(1_000);
    }

    private static List<String> urls(String pw, Random random) {
        String scheme = List.of("postgresql", "postgres", "jdbc:postgresql").get(random.nextInt(3));
        var urls = new ArrayList<String>();
        // USER:PASSWORD and no host at all. With an @ in the password this is a good URL whose host is the
        // password's end (ferry:a@b: user ferry, password a, host b): no text can tell, so that form is left out.
        if (pw.indexOf('@') < 0) {
            urls.add(scheme + "://ferry:" + pw);
        }
        urls.addAll(List.of(
                scheme + "://ferry:" + pw + "@db.example:5432/ferry",
                scheme + "://ferry:" + pw + "@db.example/ferry?sslmode=require",
                scheme + "://ferry:" + pw + "@127.0.0.1",
                scheme + "://ferry:" + pw + "@[::1]:5432/",
                scheme + "://:" + pw + "@db.example/ferry",
                scheme + "://ferry:" + pw + "@/ferry",
                scheme + "://ferry:" + pw + "@:5432/ferry",
                scheme + "://ferry:" + pw + "@",
                scheme + "://ferry:" + pw + "@db.example:99x/ferry",
                scheme + "://ferry:" + pw + "@db.example:70000/ferry",
                scheme + "://ferry:" + pw + "@db.example:-1/ferry",
                scheme + "://ferry:" + pw + "@db.example:5432",
                scheme + "://ferry:" + pw + "@db.example:5432/a/b",
                scheme + "://ferry:" + pw + "@db.example:5432/ferry#frag",
                scheme + "://ferry:" + pw + "@db1,db2/ferry",
                scheme + "://ferry:" + pw + "@[::1/ferry",
                scheme + "://ferry:" + pw + "@db example/ferry",
                scheme + "://ferry:" + pw + "@db.example/ferry?application_name=a@b",
                "mysql://ferry:" + pw + "@db.example/ferry",
                "ferry:" + pw + "@db.example/ferry",
                "//ferry:" + pw + "@db.example/ferry",
                scheme + "://db.example/ferry?password=" + pw,
                scheme + "://db.example/ferry?user=ferry&PASSWORD=" + pw + "&sslmode=require",
                scheme + ":/ferry:" + pw + "@db.example/ferry"));
        return urls;
    }
}
