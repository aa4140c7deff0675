package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What of the server's environment reaches an upload hook, through the real
 * launcher: the allow-list ({@code PATH}, {@code HOME}, {@code LANG},
 * {@code LC_*}, {@code TZ}, {@code USER}, {@code LOGNAME}, {@code SHELL},
 * {@code TMPDIR}), the upload's {@code FERRY_*} facts and the names given to
 * {@code --on-upload-env}; never the server's secrets. The server numbers its
 * connections from a real PostgreSQL ({@link TestPostgres}), so that
 * {@code FERRY_COUNTER} with its password is in use, as in production.
 */
class HookEnvironmentIT {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    /** The names the hook may see besides the listed ones: the allow-list, the record's, and what the shell sets itself. */
    private static final Set<String> ALLOWED = Set.of("PATH", "HOME", "LANG", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR",
            "FERRY_CONN", "FERRY_FILE", "FERRY_BYTES", "FERRY_OUTCOME", "FERRY_PEER", "FERRY_SHA256", "FERRY_REASON",
            "PWD", "OLDPWD", "SHLVL", "_");

    @TempDir
    Path tmp;
    private TestPostgres postgres;

    @BeforeEach
    void startPostgres() throws Exception {
        postgres = TestPostgres.start();
    }

    @AfterEach
    void stopPostgres() {
        if (postgres != null) {
            postgres.close();
        }
    }

    /**
     * <ol>
     * <li>The server's environment holds {@code AWS_SECRET_ACCESS_KEY}, {@code AWS_SESSION_TOKEN},
     * {@code FERRY_COUNTER} with a password (in use: the numbers come from PostgreSQL), an unlisted
     * {@code UNLISTED_VAR}, a listed {@code LISTED_VAR}, {@code LC_TIME} and {@code TZ}; the hook's
     * directory {@code HOOK_OUT} is listed too ({@code FERRY_ON_UPLOAD_ENV=HOOK_OUT,LISTED_VAR}).</li>
     * <li>One upload; its hook writes {@code env} to a file, which the test reads once the hook's line is
     * logged.</li>
     * <li>No secret's name or value is in it, nor the unlisted variable; the listed ones, {@code LC_TIME},
     * {@code TZ} and the record's facts are; every name in it is an allowed, listed or record name, or one the
     * shell sets itself.</li>
     * <li>Neither the secrets nor the password are in the server's log.</li>
     * </ol>
     */
    @Test
    void aHookGetsTheAllowListAndTheListedNamesButNoSecret() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("out"));
        Path script = tmp.resolve("hook.sh");
        Files.writeString(script, "#!/bin/sh\nenv > \"$HOOK_OUT/$FERRY_CONN.tmp\"\n"
                + "mv \"$HOOK_OUT/$FERRY_CONN.tmp\" \"$HOOK_OUT/$FERRY_CONN.env\"\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        var env = new HashMap<String, String>();
        env.put("AWS_SECRET_ACCESS_KEY", "aws-secret-key-value-1234");
        env.put("AWS_SESSION_TOKEN", "aws-session-token-value-5678");
        env.put("FERRY_COUNTER", postgres.url("counter-pw-9abc"));
        env.put("UNLISTED_VAR", "unlisted-value");
        env.put("LISTED_VAR", "listed-value");
        env.put("LC_TIME", "C");
        env.put("TZ", "UTC");
        env.put("HOOK_OUT", out.toString());
        env.put("FERRY_ON_UPLOAD_ENV", "HOOK_OUT,LISTED_VAR");
        try (var server = Ferry.Server.start(List.of(), List.of("--on-upload", "'" + script + "'"),
                tmp.resolve("files"), env)) {
            FaultPeer.upload(server.port, "data".getBytes(StandardCharsets.UTF_8));
            long n = server.records().getFirst().conn();
            assertThat(server.stdout()).contains("counter: numbers ");
            assertThat(server.awaitLine(DEADLINE, " ferry: hook conn=" + n + " ")).contains(" exit=0 ");
            var seen = parse(Files.readString(out.resolve(n + ".env")));

            assertThat(seen).doesNotContainKeys("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "FERRY_COUNTER",
                    "UNLISTED_VAR", "FERRY_ON_UPLOAD_ENV");
            assertThat(seen.values()).noneMatch(v -> v.contains("aws-secret-key") || v.contains("aws-session-token")
                    || v.contains("counter-pw") || v.contains("unlisted-value"));
            assertThat(seen).containsEntry("LISTED_VAR", "listed-value").containsEntry("HOOK_OUT", out.toString())
                    .containsEntry("LC_TIME", "C").containsEntry("TZ", "UTC")
                    .containsEntry("FERRY_CONN", Long.toString(n)).containsEntry("FERRY_OUTCOME", "complete")
                    .containsKey("PATH");
            assertThat(seen.keySet()).allMatch(name -> ALLOWED.contains(name) || name.startsWith("LC_")
                    || name.equals("HOOK_OUT") || name.equals("LISTED_VAR"), "allowed, listed or set by the shell");

            Ferry.stop(server);
            for (String log : List.of(server.stdout(), server.stderr())) {
                assertThat(log).doesNotContain("aws-secret-key").doesNotContain("aws-session-token")
                        .doesNotContain("counter-pw");
            }
        }
    }

    /** {@code env}'s output as names and values (a value with a line break would show as two lines; none has one). */
    private static Map<String, String> parse(String env) {
        var variables = new LinkedHashMap<String, String>();
        for (String line : env.lines().toList()) {
            int equals = line.indexOf('=');
            if (equals > 0) {
                variables.put(line.substring(0, equals), line.substring(equals + 1));
            }
        }
        return variables;
    }
}
