package ferry.it;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ferry.testing.ClassFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A PostgreSQL cluster of a test's own: Debian's server binaries
 * ({@code /usr/lib/postgresql/N/bin}, installed by bin/install-test-tools),
 * a scratch data directory, a free port on 127.0.0.1, trust authentication.
 * PostgreSQL refuses to run as root: as root, every command runs as the
 * {@code postgres} user (runuser).
 *
 * <p>One cluster serves a whole test class ({@link ClassFixtures}): {@link #close()}
 * keeps it for the class's next {@link #start()}, which hands it over as fresh as
 * {@code initdb} left it (running, no other session, an empty {@code public}
 * schema), on the same port. When the class has ended, it is stopped and its
 * directory deleted, whatever happened.
 */
public final class TestPostgres implements AutoCloseable, ClassFixtures.Fixture {
    private static final Duration DEADLINE = Duration.ofSeconds(60);

    final int port;
    private final Path bin;
    private final Path dir;
    private final Path data;
    private boolean running;

    private TestPostgres(Path bin, Path dir, int port) {
        this.bin = bin;
        this.dir = dir;
        this.data = dir.resolve("data");
        this.port = port;
    }

    /** The newest installed server's bin directory, or null. */
    static Path binaries() {
        try (Stream<Path> versions = Files.list(Path.of("/usr/lib/postgresql"))) {
            return versions.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("initdb")))
                    .max(Comparator.comparingInt(b -> Integer.parseInt(b.getParent().getFileName().toString()
                            .replaceAll("\\D", "0")))).orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * A started cluster with an empty database: the class's kept one, or a new
     * one; skips the test when PostgreSQL is not installed.
     */
    public static TestPostgres start() throws Exception {
        Path bin = binaries();
        assumeTrue(bin != null, "PostgreSQL's server is not installed (bin/install-test-tools installs it)");
        TestPostgres kept = ClassFixtures.take(TestPostgres.class);
        if (kept != null) {
            return kept;
        }
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ferry-pg-");
        var postgres = new TestPostgres(bin, dir, Ferry.freePort());
        try {
            if (root()) {
                check(Ferry.exec(List.of("chown", "postgres:postgres", dir.toString()), Map.of(), null, DEADLINE));
            }
            check(postgres.exec(List.of(bin.resolve("initdb").toString(), "-D", postgres.data.toString(),
                    "-A", "trust", "-U", "postgres", "--no-sync")));
            postgres.startAgain();
            return postgres;
        } catch (Exception | AssertionError e) {
            postgres.destroy();
            throw e;
        }
    }

    /**
     * Running again, with no session of an earlier test left (a lock it held
     * would outlive it) and the {@code public} schema emptied: ferry's table is
     * created anew on first use, as on a fresh cluster.
     */
    @Override
    public void reset() throws Exception {
        if (!running) {
            startAgain();
        }
        query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                + " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
        query("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    }

    /** Starts the (stopped) cluster, waiting until it accepts connections. */
    void startAgain() throws Exception {
        check(exec(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-l", dir.resolve("log").toString(),
                "-w", "-t", "60", "-o", "-p " + port + " -c listen_addresses=127.0.0.1 -k " + dir, "start")));
        running = true;
    }

    /** Stops the cluster (fast shutdown: sessions are ended), waiting until it has. */
    void stop() throws Exception {
        running = false;
        check(exec(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", "fast", "-w", "-t", "60",
                "stop")));
    }

    /** {@code postgresql://USER[:PASSWORD]@127.0.0.1:PORT/postgres} (trust: any password is accepted). */
    public String url(String password) {
        return "postgresql://postgres" + (password == null ? "" : ":" + password) + "@127.0.0.1:" + port + "/postgres";
    }

    /** The result of one query, through psql (unaligned, tuples only). */
    public String query(String sql) throws Exception {
        var result = exec(List.of(bin.resolve("psql").toString(), "-h", "127.0.0.1", "-p", Integer.toString(port),
                "-U", "postgres", "-d", "postgres", "-At", "-c", sql));
        check(result);
        return result.stdout().strip();
    }

    /** Gives the cluster back for the class's next test, or stops and deletes it when one is kept already. */
    @Override
    public void close() {
        if (!ClassFixtures.keep(this)) {
            destroy();
        }
    }

    /** Stops the cluster and deletes its directory, whatever happened. */
    @Override
    public void destroy() {
        try {
            if (running) {
                stop();
            }
        } catch (Exception | AssertionError e) {
            // Stopping is best effort; an immediate stop next.
            try {
                exec(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", "immediate", "-w", "stop"));
            } catch (Exception | AssertionError ignored) {
                // Nothing more to do.
            }
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // Left in /tmp.
        }
    }

    private Ferry.Result exec(List<String> command) throws Exception {
        var full = new ArrayList<String>();
        if (root()) {
            full.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        full.addAll(command);
        return Ferry.exec(full, Map.of(), null, DEADLINE);
    }

    private static boolean root() {
        return "root".equals(System.getProperty("user.name"));
    }

    private static void check(Ferry.Result result) {
        if (result.exitCode() != 0) {
            throw new AssertionError("command failed (" + result.exitCode() + "): " + result.stdout() + result.stderr());
        }
    }
}
