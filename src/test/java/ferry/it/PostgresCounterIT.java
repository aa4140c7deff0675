package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --counter postgresql://...}: connection numbers from a real
 * PostgreSQL cluster ({@link TestPostgres}) shared by real {@code ./server}
 * processes, fed by raw sockets.
 */
class PostgresCounterIT {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final Pattern FILE = Pattern.compile("(\\d+)\\.file");

    @TempDir
    Path tmp;
    private TestPostgres postgres;
    private final List<Ferry.Server> servers = new ArrayList<>();

    @BeforeEach
    void startPostgres() throws Exception {
        postgres = TestPostgres.start();
    }

    @AfterEach
    void stopAll() {
        servers.forEach(Ferry.Server::close);
        if (postgres != null) {
            postgres.close();
        }
    }

    /**
     * Two receivers (own directories, own ports) start at the same moment
     * against a fresh database, so both create the schema on first use: both
     * get blocks without an error. 300 uploads spread over both from 8 senders
     * at once (150 each: more than one block of 100 per receiver): every upload saved once, and no number used twice across the two
     * directories or the two logs; the database's counter is past them all.
     * The password given in the URL appears in neither log, masked in the start line.
     */
    @Test
    void twoReceiversSharingTheDatabaseNeverUseANumberTwice() throws Exception {
        String url = postgres.url("s3cret-pw");
        var starts = Executors.newFixedThreadPool(2);
        try {
            var a = starts.submit(() -> start(url, tmp.resolve("a")));
            var b = starts.submit(() -> start(url, tmp.resolve("b")));
            servers.add(a.get(2, TimeUnit.MINUTES));
            servers.add(b.get(2, TimeUnit.MINUTES));
        } finally {
            starts.shutdownNow();
        }
        var expected = new HashSet<String>();
        var senders = Executors.newFixedThreadPool(8);
        try {
            var sent = new ArrayList<Future<?>>();
            for (int i = 0; i < 300; i++) {
                String body = "upload " + i + " " + "x".repeat(i);
                expected.add(body);
                var server = servers.get(i % 2);
                sent.add(senders.submit(() -> send(server.port, body)));
            }
            for (var future : sent) {
                future.get(2, TimeUnit.MINUTES);
            }
        } finally {
            senders.shutdownNow();
        }
        // Every upload was confirmed (send waits for it): its file is final, nothing to wait for.
        var numbers = new TreeMap<Long, String>();
        assertThat(savedContents()).as("all 300 uploads saved").containsAll(expected);
        for (var server : servers) {
            for (var entry : files(server.dir).entrySet()) {
                assertThat(numbers.put(entry.getKey(), entry.getValue()))
                        .as("number %d used by both receivers", entry.getKey()).isNull();
            }
        }
        assertThat(numbers).hasSize(300);
        assertThat(new HashSet<>(numbers.values())).isEqualTo(expected);
        var logged = new HashSet<Long>();
        for (var server : servers) {
            // Every upload was confirmed, so its line is written: nothing to wait for.
            assertThat(server.loggedNumbers()).as("lines logged").hasSameSizeAs(files(server.dir).keySet());
            for (long n : server.loggedNumbers()) {
                assertThat(logged.add(n)).as("conn=%d logged by both receivers", n).isTrue();
            }
        }
        assertThat(logged).isEqualTo(numbers.keySet());
        assertThat(Long.parseLong(postgres.query("SELECT next FROM ferry_counter"))).isGreaterThan(numbers.lastKey());
        for (var server : servers) {
            assertThat(server.stdout()).doesNotContain("cannot allocate").contains("counter: numbers ")
                    .contains("numbers from postgresql://postgres:***@127.0.0.1:" + postgres.port + "/postgres")
                    .doesNotContain("s3cret-pw");
            assertThat(server.stderr()).doesNotContain("s3cret-pw");
            assertThat(Pattern.compile("counter: numbers \\d+-\\d+ ").matcher(server.stdout()).results().count())
                    .as("blocks taken").isGreaterThanOrEqualTo(2);
            Ferry.stop(server);
        }
    }

    /**
     * A receiver killed with SIGKILL (launcher and JVM) and started again on
     * the same directory: every number after the restart is above every number
     * used before it (the earlier files, moved aside at the restart, included).
     */
    @Test
    void aReceiverKilledAndRestartedReusesNoNumber() throws Exception {
        String url = postgres.url(null);
        Path dir = tmp.resolve("dir");
        var first = start(url, dir);
        servers.add(first);
        for (int i = 0; i < 30; i++) {
            send(first.port, "before " + i);
        }
        assertThat(files(dir)).hasSize(30);
        Set<Long> before = new HashSet<>(files(dir).keySet());
        List<ProcessHandle> jvm = first.process.descendants().toList();
        jvm.forEach(ProcessHandle::destroyForcibly);
        first.process.destroyForcibly();
        assertThat(Ferry.await(DEADLINE, () -> jvm.stream().noneMatch(ProcessHandle::isAlive)
                && !first.process.isAlive())).isTrue();
        var second = start(url, dir);
        servers.add(second);
        assertThat(second.stdout()).contains("moved 30 earlier uploads").doesNotContain("numbering starts at 1");
        for (int i = 0; i < 30; i++) {
            send(second.port, "after " + i);
        }
        assertThat(files(dir)).hasSize(30);
        long maxBefore = before.stream().mapToLong(Long::longValue).max().orElseThrow();
        assertThat(files(dir).keySet()).allSatisfy(n -> assertThat(n).isGreaterThan(maxBefore));
        Ferry.stop(second);
    }

    /**
     * PostgreSQL stopped while a receiver runs:
     * <ol>
     * <li>one upload on a fresh database: the receiver holds block 1-100 and
     * has fetched none ahead (it fetches the next block once half of one is
     * used, and by then the database is down);</li>
     * <li>PostgreSQL stopped: the rest of the block in hand (2-100) is used
     * without it, one confirmed upload after another;</li>
     * <li>five more connections are accepted but wait unnumbered, logged as
     * "cannot number the connection ... retrying"; nothing is saved for them
     * meanwhile and none is lost;</li>
     * <li>PostgreSQL started again: the next block is 101-200 (no failed
     * attempt took one), so the waiting uploads are confirmed as 101-105, in
     * the order they connected, and the server says numbering works again.</li>
     * </ol>
     * The numbers are therefore exactly 1-105, each with its own upload.
     */
    @Test
    void connectionsWaitWhileTheDatabaseIsDownAndCompleteWhenItIsBack() throws Exception {
        var server = start(postgres.url(null), tmp.resolve("dir"));
        servers.add(server);
        var expected = new TreeMap<Long, String>();
        send(server.port, "first");
        expected.put(1L, "first");
        assertThat(server.stdout()).contains("counter: numbers 1-100 ");
        postgres.stop();
        for (int i = 2; i <= 100; i++) {
            send(server.port, "in hand " + i);
            expected.put((long) i, "in hand " + i);
        }
        assertThat(files(server.dir)).isEqualTo(expected);
        try (var waiting = new FaultPeer.Connections()) {
            for (int i = 0; i < 5; i++) {
                var socket = new Socket();
                waiting.add(socket);
                socket.setSoTimeout((int) DEADLINE.toMillis());
                socket.connect(new InetSocketAddress("127.0.0.1", server.port), 5_000);
                socket.getOutputStream().write(("waited " + i).getBytes(StandardCharsets.UTF_8));
                socket.shutdownOutput();
                expected.put(101L + i, "waited " + i);
            }
            assertThat(Ferry.await(DEADLINE, () -> server.stdout().contains("cannot number the connection")))
                    .as("the accept thread logs the waiting connection").isTrue();
            assertThat(server.stdout()).contains("counter: cannot allocate connection numbers from postgresql://");
            assertThat(files(server.dir)).hasSize(100);
            assertThat(server.process.isAlive()).isTrue();
            postgres.startAgain();
            for (var socket : waiting) {
                // The confirmation: only after it is the file final.
                try (InputStream in = socket.getInputStream()) {
                    assertThat(in.read()).as("the server closes a saved upload").isEqualTo(-1);
                }
            }
            assertThat(files(server.dir)).as("N -> N.file's content").isEqualTo(expected);
            assertThat(server.stdout()).contains("numbering works again").contains("counter: allocating again");
            assertThat(server.stderr()).as("no stack trace, no driver's warning").isEmpty();
        }
        Ferry.stop(server);
    }

    /**
     * The password from a password file, never on a command line: libpq's
     * {@code PGPASSFILE}, which PostgreSQL's JDBC driver reads when the URL
     * has no password.
     * <ol>
     * <li>A role {@code ferry_pw} whose logins from 127.0.0.1 need its password (SCRAM, a line put first in
     * pg_hba.conf); the test waits until psql without a password is refused, so the rule is in force.</li>
     * <li>A receiver with {@code FERRY_COUNTER=postgresql://ferry_pw@127.0.0.1:PORT/postgres} and
     * {@code PGPASSFILE} naming an empty file: the counter logs that it cannot allocate (no password).</li>
     * <li>A receiver with the same URL and {@code PGPASSFILE} naming a file with the line
     * {@code 127.0.0.1:PORT:postgres:ferry_pw:PASSWORD} (a : and a \ in the password, escaped as
     * the file's form wants): its upload is numbered from the database; the password is in neither log.</li>
     * </ol>
     */
    @Test
    void theDatabasePasswordComesFromAPasswordFile() throws Exception {
        String password = "pass:word\\pw-42";
        postgres.query("DROP ROLE IF EXISTS ferry_pw");
        postgres.query("CREATE ROLE ferry_pw LOGIN PASSWORD '" + password + "'");
        postgres.query("GRANT USAGE, CREATE ON SCHEMA public TO ferry_pw");
        Path hba = Path.of(postgres.query("SHOW hba_file"));
        String rule = "host all ferry_pw 127.0.0.1/32 scram-sha-256\n";
        String rules = Files.readString(hba);
        if (!rules.startsWith(rule)) {
            Files.writeString(hba, rule + rules);
        }
        postgres.query("SELECT pg_reload_conf()");
        Path empty = Files.writeString(tmp.resolve("empty.pgpass"), "");
        var psql = List.of(TestPostgres.binaries().resolve("psql").toString(), "-w", "-h", "127.0.0.1", "-p",
                Integer.toString(postgres.port), "-U", "ferry_pw", "-d", "postgres", "-c", "SELECT 1");
        assertThat(Ferry.await(DEADLINE, () -> {
            try {
                return Ferry.exec(psql, Map.of("PGPASSFILE", empty.toString()), null, DEADLINE).exitCode() != 0;
            } catch (Exception e) {
                return false;
            }
        })).as("PostgreSQL refuses ferry_pw without a password").isTrue();

        String url = "postgresql://ferry_pw@127.0.0.1:" + postgres.port + "/postgres";
        try (var without = Ferry.Server.start(List.of(), List.of(), tmp.resolve("without"),
                Map.of("FERRY_COUNTER", url, "PGPASSFILE", empty.toString()))) {
            without.awaitLine(DEADLINE, "counter: cannot allocate connection numbers from " + url);
            Ferry.stop(without);
        }

        Path passfile = tmp.resolve("pgpass");
        Files.writeString(passfile, "# host:port:database:user:password\n127.0.0.1:" + postgres.port
                + ":postgres:ferry_pw:" + password.replace("\\", "\\\\").replace(":", "\\:") + "\n");
        Files.setPosixFilePermissions(passfile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        try (var with = Ferry.Server.start(List.of(), List.of(), tmp.resolve("with"),
                Map.of("FERRY_COUNTER", url, "PGPASSFILE", passfile.toString()))) {
            with.awaitLine(DEADLINE, "counter: numbers 1-100 from " + url);
            send(with.port, "numbered by the database");
            assertThat(files(with.dir)).isEqualTo(Map.of(1L, "numbered by the database"));
            assertThat(with.stdout()).contains("counter: numbers 1-100 from " + url).doesNotContain("cannot allocate");
            assertThat(Long.parseLong(postgres.query("SELECT next FROM ferry_counter"))).isGreaterThan(1);
            Ferry.stop(with);
            assertThat(with.stdout() + with.stderr()).doesNotContain("pw-42");
        }
    }

    /** Without --counter, nothing of JDBC (java.sql), the driver or the counter's classes is loaded; with it, they are. */
    @Test
    void nothingOfJdbcIsLoadedWithoutTheOption() throws Exception {
        assertThat(Ferry.run("server", List.of("--version"), Map.of(), Duration.ofSeconds(120)).exitCode()).isZero();
        List<String> off = loadedClasses(List.of(), "off");
        assertThat(off).anyMatch(line -> line.contains("ferry.server.ServerMain "));
        assertThat(off).noneMatch(line -> line.contains("java.sql.") || line.contains("org.postgresql")
                || line.contains("ferry.server.numbering.PostgresCounter") || line.contains("ferry.server.numbering.BlockCounter"));
        List<String> on = loadedClasses(List.of("--counter", postgres.url(null)), "on");
        assertThat(on).anyMatch(line -> line.contains("org.postgresql.Driver "));
        assertThat(on).anyMatch(line -> line.contains("ferry.server.numbering.PostgresCounter "));
    }

    /** A URL that is not PostgreSQL's: one ERROR line naming the option, exit 2, the password masked, nothing created. */
    @Test
    void aBadUrlIsOneErrorLineAndExitCode2() throws Exception {
        Path dir = tmp.resolve("never");
        for (var bad : List.of(List.of("--counter", "mysql://u:hidden-pw@127.0.0.1/db"),
                List.of("--counter", "postgresql://u:hidden-pw@/db"), List.of("--counter", "not a url"),
                List.of("--counter", "postgresql://u:hid/den-pw@127.0.0.1/db"),
                List.of("--counter", "postgresql://u:hid#den-pw@/db"))) {
            var args = new ArrayList<>(bad);
            args.addAll(List.of("65000", dir.toString()));
            var result = Ferry.run("server", args, Map.of(), Duration.ofSeconds(120));
            assertThat(result.exitCode()).as("%s", bad).isEqualTo(2);
            assertThat(result.stderr().lines().toList()).singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                    .startsWith("ERROR: invalid --counter ").doesNotContain("hid").doesNotContain("den-pw");
        }
        var env = Map.of("FERRY_COUNTER", "jdbc:mysql://127.0.0.1/db");
        var result = Ferry.run("server", List.of("65000", dir.toString()), env, Duration.ofSeconds(120));
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).startsWith("ERROR: invalid FERRY_COUNTER ");
        assertThat(dir).doesNotExist();
    }

    private List<String> loadedClasses(List<String> options, String name) throws Exception {
        Path log = tmp.resolve("classes-" + name + ".log");
        var env = Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load:file=" + log);
        try (var server = Ferry.Server.start(List.of(), options, tmp.resolve("classes-" + name), env)) {
            send(server.port, "one");
            assertThat(files(server.dir)).isEqualTo(Map.of(1L, "one"));
            Ferry.stop(server);
        }
        return Files.readAllLines(log);
    }

    private Ferry.Server start(String url, Path dir) throws IOException {
        return Ferry.Server.start(List.of(), List.of("--counter", url), dir, Map.of());
    }

    /**
     * Sends {@code body}, half-closes and waits for the server's confirming
     * close: once it returns, the upload's file is final and its line logged.
     */
    private static Void send(int port, String body) throws IOException {
        FaultPeer.upload(port, body.getBytes(StandardCharsets.UTF_8));
        return null;
    }

    /** N -> content of every N.file directly in {@code dir}. */
    private static Map<Long, String> files(Path dir) {
        var found = new HashMap<Long, String>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path file : list.toList()) {
                var m = FILE.matcher(file.getFileName().toString());
                if (m.matches()) {
                    found.put(Long.parseLong(m.group(1)), Files.readString(file));
                }
            }
        } catch (IOException e) {
            // Not there yet.
        }
        return found;
    }

    private Set<String> savedContents() {
        var all = new HashSet<String>();
        servers.forEach(s -> all.addAll(files(s.dir).values()));
        return all;
    }
}
