package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launchers on a copy of the repository, as on a fresh clone: they find a
 * JDK 21+ by themselves, build with Maven on first use saying so in one line,
 * train one start-up cache per program within a time limit in the background
 * (the first start does not wait for it), pick up a change to a source or to
 * pom.xml, put run-time dependencies on the class path, keep the warm path
 * free of commands before java, and put the ERROR line right after the
 * building line when the build fails.
 * <p>
 * Only the tests whose point is a Maven build run one (the first build, a
 * changed source, a failed build, launchers started together); the others
 * start from the jar and libraries this run's {@code mvn verify} built
 * ({@link #prebuilt()}), as a launcher build would have left them.
 */
class LauncherIT {
    private static final Path JDK_17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64");
    /** A Maven build on a loaded 2-core machine, with room to spare. */
    private static final Duration BUILD = Duration.ofSeconds(180);
    /** The two training runs in the background (60 s each at most, side by side), with room to spare. */
    private static final Duration TRAINING = Duration.ofSeconds(150);
    private static final String BAD_PORT = "ERROR: invalid port \"0\": must be a number from 1 to 65535\n";

    @TempDir
    Path copy;

    @BeforeEach
    void copyRepository() throws IOException {
        for (String name : List.of("server", "client", "bin", "pom.xml", "src/main")) {
            copyTree(Ferry.ROOT.resolve(name), copy.resolve(name));
        }
    }

    /** Waits for a training the test left in the background, so that the copy can be deleted. */
    @AfterEach
    void awaitTraining() throws Exception {
        if (Files.exists(launcherDir().resolve(".train-lock"))) {
            awaitTrainingOf(launcherDir());
        }
    }

    /**
     * Waits for the training of the start-up caches in {@code dir} to end: it
     * holds {@code .train-lock} (flock) from before its launcher returns.
     */
    private static void awaitTrainingOf(Path dir) throws Exception {
        var waited = Ferry.exec(List.of("flock", "-w", Long.toString(TRAINING.toSeconds()), dir.resolve(".train-lock").toString(),
                "true"), Map.of(), null, TRAINING.plusSeconds(30));
        assertThat(waited.exitCode()).as("the training in %s ended within %s; %s", dir, TRAINING, waited.stderr()).isZero();
    }

    /**
     * What the descriptors of the processes that hold the copy's .train-lock open
     * (the training's: its shell, timeout, the JVMs) point to, as /proc/PID/fd shows them.
     */
    private List<String> descriptorsOfTraining() throws IOException {
        Path lock = launcherDir().resolve(".train-lock");
        var targets = new ArrayList<String>();
        for (ProcessHandle process : ProcessHandle.allProcesses().toList()) {
            var own = new ArrayList<String>();
            try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(process.pid()), "fd"))) {
                for (Path fd : fds.toList()) {
                    try {
                        own.add(Files.readSymbolicLink(fd).toString());
                    } catch (IOException e) {
                        // Closed meanwhile.
                    }
                }
            } catch (IOException e) {
                continue; // ended meanwhile
            }
            if (own.contains(lock.toString())) {
                targets.addAll(own);
            }
        }
        return targets;
    }

    /** True while a training of the start-up caches of the copy is under way (it holds .train-lock). */
    private boolean training() throws Exception {
        return Ferry.exec(List.of("flock", "-n", launcherDir().resolve(".train-lock").toString(), "true"), Map.of(), null,
                Duration.ofSeconds(30)).exitCode() != 0;
    }

    /**
     * Gives the copy the jar, the list of run-time libraries and the libraries
     * that this run's {@code mvn verify} built from the same sources (target/, as
     * Failsafe runs after {@code package}), where a launcher build puts them
     * (target/launcher), the jar a second after now (as a build's start would
     * be; after the directories the copy made): the launchers find them up to
     * date and build nothing, only the start-up caches.
     */
    private void prebuilt() throws IOException {
        Path built = Ferry.ROOT.resolve("target");
        Files.createDirectories(launcherDir().resolve("lib"));
        Files.copy(built.resolve("libraries"), launcherDir().resolve("libraries"));
        for (String entry : Files.readString(built.resolve("libraries")).strip().split(":")) {
            Files.copy(built.resolve(entry), launcherDir().resolve(entry), StandardCopyOption.COPY_ATTRIBUTES);
        }
        Files.copy(built.resolve("ferry.jar"), jar());
        Files.setLastModifiedTime(jar(), FileTime.fromMillis(System.currentTimeMillis() + 1000));
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path path : paths.toList()) {
                Path target = to.resolve(from.relativize(path).toString());
                if (Files.isDirectory(path)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(path, target, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }

    /**
     * ./client on the copy. The build's notes go to standard error only when it
     * is a terminal; these tests ask for them always (FERRY_BUILD_NOTES) to
     * check them, unless {@code env} says otherwise.
     */
    private Ferry.Result client(Map<String, String> env, String... args) throws Exception {
        var command = new ArrayList<String>();
        command.add(copy.resolve("client").toString());
        command.addAll(List.of(args));
        return Ferry.exec(command, withNotes(env), null, BUILD);
    }

    private static Map<String, String> withNotes(Map<String, String> env) {
        var all = new java.util.HashMap<>(env);
        all.putIfAbsent("FERRY_BUILD_NOTES", "always");
        return all;
    }

    /** ./client with a bad port on the copy: exit 2, and stderr as returned. */
    private String badPort(Map<String, String> env) throws Exception {
        var result = client(env, "127.0.0.1", "0", "x");
        assertThat(result.exitCode()).as(result.stderr()).isEqualTo(2);
        assertThat(result.stdout()).isEmpty();
        return result.stderr();
    }

    private Path launcherDir() {
        return copy.resolve("target/launcher");
    }

    private Path jar() {
        return launcherDir().resolve("ferry.jar");
    }

    /** The build's list of its run-time libraries: target/launcher/libraries, one line of lib/NAME.jar joined by colons. */
    private List<String> libraries() throws IOException {
        List<String> lines = Files.readAllLines(launcherDir().resolve("libraries"));
        assertThat(lines).as("target/launcher/libraries").hasSize(1);
        return List.of(lines.get(0).split(":"));
    }

    private static String buildingLine(String kind) {
        return "building ferry \\(" + kind + "[^)]*\\) \\.\\.\\.\n";
    }

    /**
     * <ol>
     * <li>The first ./server on a fresh copy builds with Maven: stderr is exactly one
     * building line, the server's output is as ever, the jar and lib/ with its run-time
     * dependencies exist; the build ran no test plugin and compiled no test.</li>
     * <li>The JVM's standard input is the launcher's (here a file), so that socket
     * activation can hand it a socket; the stop pipe is elsewhere, and SIGTERM still
     * ends ./server with code 0.</li>
     * <li>That first server did not wait for the start-up caches: its JVM maps none,
     * while their training goes on in the background.</li>
     * <li>Once trained, the next server's JVM maps the server's start-up cache, not the
     * client's, and says no more than before.</li>
     * <li>A later run builds nothing and prints nothing but its own output.</li>
     * </ol>
     */
    @Test
    void theFirstServerBuildsQuietlyStartsBeforeItsCachesAndItsJvmKeepsTheLaunchersStandardInput() throws Exception {
        Path stdin = Files.writeString(copy.resolve("stdin.txt"), "not for the server\n");
        try (var first = StartedServer.start(copy, stdin, "first")) {
            assertThat(Files.readString(first.err)).matches(buildingLine("first run"));
            assertThat(Files.readString(first.out)).contains(" ferry: listening on port " + first.port + " ");
            Path fd0 = Path.of("/proc", Long.toString(first.jvm.pid()), "fd", "0");
            assertThat(Files.readSymbolicLink(fd0)).isEqualTo(stdin);
            assertThat(first.maps()).as("the first server's JVM maps no start-up cache")
                    .doesNotContain(launcherDir().resolve("server.cache").toString()).doesNotContain("client.cache");
            // Without an option that needs a library, the class path is the jar alone.
            List<String> jvmArgs = List.of(Files.readString(Path.of("/proc", Long.toString(first.jvm.pid()), "cmdline")).split("\0"));
            assertThat(jvmArgs.get(jvmArgs.indexOf("-cp") + 1)).as("the plain server's class path").endsWith("/ferry.jar")
                    .doesNotContain(":");
            first.stop();
            assertThat(Files.readString(first.err)).matches(buildingLine("first run"));
        }
        assertThat(jar()).exists();
        try (var jar = new JarFile(jar().toFile())) {
            // The jar names no library: the JVM would open each one it names at every start.
            assertThat(jar.getManifest().getMainAttributes().getValue("Class-Path")).as("the jar's Class-Path").isNull();
        }
        // lib/ holds exactly the run-time dependencies (the metrics, PostgreSQL and S3 libraries), and
        // `libraries` lists each, in one line (lib/NAME.jar joined by colons).
        List<String> listed = libraries();
        assertThat(listed).anyMatch(name -> name.startsWith("lib/prometheus-metrics-core-"))
                .anyMatch(name -> name.startsWith("lib/postgresql-")).anyMatch(name -> name.startsWith("lib/s3-"));
        try (var lib = Files.list(launcherDir().resolve("lib"))) {
            assertThat(lib.map(file -> "lib/" + file.getFileName())).containsExactlyInAnyOrderElementsOf(listed);
        }
        // The same jars as mvn verify's lib/ (which the package ships), whatever the tests' dependencies make Maven choose.
        assertThat(listed).as("the launcher's libraries against mvn verify's (target/libraries)")
                .containsExactlyInAnyOrder(Files.readString(Ferry.ROOT.resolve("target/libraries")).strip().split(":"));
        assertThat(launcherDir().resolve("build.log")).content().startsWith("building ferry with Maven and ")
                .doesNotContain("surefire").doesNotContain("testCompile").doesNotContain("testResources");

        awaitTrainingOf(launcherDir());
        try (var second = StartedServer.start(copy, stdin, "second")) {
            assertThat(second.maps()).contains(launcherDir().resolve("server.cache").toString()).doesNotContain("client.cache");
            second.stop();
            assertThat(second.err).isEmptyFile();
        }

        FileTime built = Files.getLastModifiedTime(jar());
        assertThat(badPort(Map.of())).isEqualTo(BAD_PORT);
        assertThat(Files.getLastModifiedTime(jar())).as("no rebuild without a change").isEqualTo(built);
    }

    /** The copy's ./server PORT files with notes on, {@code stdin} as its standard input, listening, and its JVM. */
    private record StartedServer(Process launcher, ProcessHandle jvm, int port, Path out, Path err) implements AutoCloseable {
        static StartedServer start(Path copy, Path stdin, String name) throws IOException {
            int port = Ferry.freePort();
            Path out = copy.resolve(name + ".out");
            Path err = copy.resolve(name + ".err");
            var builder = new ProcessBuilder(copy.resolve("server").toString(), Integer.toString(port), copy.resolve("files").toString())
                    .redirectInput(stdin.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
            builder.environment().putAll(withNotes(Map.of()));
            Process launcher = builder.start();
            if (!Ferry.await(BUILD, () -> Ferry.readOrEmpty(out).contains("listening") || !launcher.isAlive()) || !launcher.isAlive()) {
                Ferry.kill(launcher);
                throw new AssertionError("./server did not listen within " + BUILD + ": " + Ferry.readOrEmpty(out) + Ferry.readOrEmpty(err));
            }
            ProcessHandle jvm = launcher.descendants().filter(p -> p.info().command().orElse("").endsWith("/java"))
                    .findFirst().orElseThrow();
            return new StartedServer(launcher, jvm, port, out, err);
        }

        String maps() throws IOException {
            return Files.readString(Path.of("/proc", Long.toString(jvm.pid()), "maps"));
        }

        /** SIGTERM to the launcher: it exits 0 (and its JVM with it). */
        void stop() throws InterruptedException {
            Ferry.signal(launcher.pid(), "TERM");
            assertThat(launcher.waitFor(10, TimeUnit.SECONDS)).as("./server exits after SIGTERM").isTrue();
            assertThat(launcher.exitValue()).isZero();
        }

        @Override
        public void close() {
            launcher.descendants().forEach(ProcessHandle::destroyForcibly);
            launcher.destroyForcibly();
        }
    }

    /**
     * <ol>
     * <li>On a built copy, the first launch starts training one start-up cache per program
     * in the background, says so in its building line, and goes on; the training makes
     * each cache with only its own program's classes, and records the JDK that made them.</li>
     * <li>The client's JVM loads its classes from the client's cache.</li>
     * <li>Warm, ./client starts no command and no process before java (strace).</li>
     * <li>A damaged cache costs only start-up time: not a word of it reaches the user.</li>
     * </ol>
     */
    @Test
    void eachProgramHasItsOwnStartUpCacheTheWarmPathStartsNothingBeforeJavaAndADamagedCacheStaysSilent() throws Exception {
        prebuilt();
        assertThat(badPort(Map.of())).matches(buildingLine("start-up caches for ") + "ERROR: invalid port .*\n");
        awaitTrainingOf(launcherDir());
        Path serverCache = launcherDir().resolve("server.cache");
        Path clientCache = launcherDir().resolve("client.cache");
        assertThat(serverCache).isNotEmptyFile();
        assertThat(clientCache).isNotEmptyFile();
        assertThat(contains(serverCache, "ferry/server/net/EventLoop")).isTrue();
        assertThat(contains(serverCache, "ferry/client/Sender")).isFalse();
        assertThat(contains(clientCache, "ferry/client/Sender")).isTrue();
        assertThat(contains(clientCache, "ferry/server/net/EventLoop")).isFalse();
        String madeWith = Files.readString(launcherDir().resolve("cache-jdk")).trim();
        assertThat(Path.of(madeWith, "bin/java")).isExecutable();

        Path classLog = copy.resolve("class-load.txt");
        var logged = client(Map.of("JDK_JAVA_OPTIONS", "-Xlog:class+load=info:file=" + classLog), "127.0.0.1", "0", "x");
        assertThat(logged.exitCode()).isEqualTo(2);
        assertThat(Files.readString(classLog)).contains("ferry.client.ClientMain source: shared objects file");

        if (Ferry.has("strace")) {
            Path trace = copy.resolve("strace.txt");
            var traced = Ferry.exec(List.of("strace", "-f", "-qq", "-o", trace.toString(), "-e", "trace=execve,fork,vfork,clone,clone3",
                    copy.resolve("client").toString(), "127.0.0.1", "0", "x"), Map.of(), null, Duration.ofSeconds(60));
            assertThat(traced.stderr()).isEqualTo(BAD_PORT);
            List<String> beforeJava = new ArrayList<>();
            for (String line : Files.readAllLines(trace)) {
                if (line.contains("execve(\"") && line.contains("/bin/java\"") && line.endsWith("= 0")) {
                    break;
                }
                if (!line.contains("ENOENT")) {
                    beforeJava.add(line);
                }
            }
            // The script itself, then env (its #! line) starting bash: nothing else before java.
            assertThat(beforeJava).hasSize(2).allMatch(line -> line.contains("execve(")).noneMatch(line -> line.contains("clone"));
            assertThat(beforeJava.get(1)).contains("bash");
        } else {
            System.err.println("LauncherIT: strace is not installed; the check that the warm path starts nothing before java is skipped");
        }

        byte[] whole = Files.readAllBytes(clientCache);
        Files.write(clientCache, java.util.Arrays.copyOf(whole, whole.length / 3));
        assertThat(badPort(Map.of())).isEqualTo(BAD_PORT);
    }

    private static boolean contains(Path file, String text) throws IOException {
        byte[] haystack = Files.readAllBytes(file);
        byte[] needle = text.getBytes(StandardCharsets.US_ASCII);
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    /**
     * The jar counts as out of date (ferry_jar_stale) exactly when pom.xml, a file
     * or a directory under src/main (whose time changes when a file in it is added
     * or removed), or one of the two launcher scripts (which hold the start-up
     * caches' JVM options) is newer than it.
     */
    @Test
    void theJarIsOutOfDateWhenPomASourceOrALauncherScriptIsNewer() throws Exception {
        prebuilt();
        assertThat(jarStale()).as("as built").isFalse();
        for (String name : List.of("pom.xml", "bin/ferry-lib.sh", "bin/ferry-launch.sh", "src/main",
                "src/main/java/ferry/common", "src/main/java/ferry/common/Arguments.java",
                "src/main/resources/ferry/version.properties")) {
            Path path = copy.resolve(name);
            FileTime was = Files.getLastModifiedTime(path);
            touchAfterJar(path);
            assertThat(jarStale()).as("%s newer than the jar", name).isTrue();
            Files.setLastModifiedTime(path, was);
            assertThat(jarStale()).as("%s as it was", name).isFalse();
        }
        Files.delete(jar());
        assertThat(jarStale()).as("no jar").isTrue();
    }

    /** Whether ferry_jar_stale, in the copy's bin/ferry-lib.sh, finds the copy's jar out of date. */
    private boolean jarStale() throws Exception {
        var result = Ferry.exec(List.of("bash", "-c", "FERRY_ROOT=$1; . \"$1/bin/ferry-lib.sh\" && ferry_jar_stale", "stale",
                copy.toString()), Map.of(), null, Duration.ofSeconds(30));
        assertThat(result.stderr()).isEmpty();
        return result.exitCode() == 0;
    }

    /**
     * <ol>
     * <li>A changed source and pom.xml are rebuilt on the next run, with one building line.</li>
     * <li>The changed source is in the new jar.</li>
     * <li>The changed pom.xml adds a run-time dependency (one the test run already holds in
     * the local Maven repository), which lands in target/launcher/lib and in the build's
     * list of libraries (target/launcher/libraries), not in the jar's manifest; so the
     * class path the server's launcher builds for --metrics (or FILE-DIR s3://) loads its
     * classes, and the one for a plain server does not.</li>
     * <li>The start-up caches are trained again, for the new jar.</li>
     * </ol>
     */
    @Test
    void aChangedSourceOrPomIsRebuiltAndARunTimeDependencyGetsOnTheClassPath() throws Exception {
        prebuilt();
        badPort(Map.of());
        awaitTrainingOf(launcherDir());
        Path source = copy.resolve("src/main/java/ferry/common/Arguments.java");
        Files.writeString(source, Files.readString(source).replace("must be a number from 1 to 65535",
                "must be a number from 1 to 65535 (changed)"));
        touchAfterJar(source);
        Path dependency = codeSource(org.apiguardian.api.API.class);
        String version = dependency.getParent().getFileName().toString();
        Path pom = copy.resolve("pom.xml");
        String dependencies = "\n  <dependencies>\n";
        assertThat(Files.readString(pom)).containsOnlyOnce(dependencies);
        Files.writeString(pom, Files.readString(pom).replace(dependencies, dependencies
                + "    <dependency>\n      <groupId>org.apiguardian</groupId>\n      <artifactId>apiguardian-api</artifactId>\n"
                + "      <version>" + version + "</version>\n      <scope>runtime</scope>\n    </dependency>\n"));
        touchAfterJar(pom);
        assertThat(badPort(Map.of())).matches(buildingLine("the sources changed")
                + "ERROR: invalid port \"0\": must be a number from 1 to 65535 \\(changed\\)\n");
        String libJar = "apiguardian-api-" + version + ".jar";
        assertThat(launcherDir().resolve("lib").resolve(libJar)).isNotEmptyFile();
        assertThat(libraries()).contains("lib/" + libJar);
        try (var jar = new JarFile(jar().toFile())) {
            assertThat(jar.getManifest().getMainAttributes().getValue("Class-Path")).as("the jar's Class-Path").isNull();
        }
        Path probe = Files.writeString(copy.resolve("Probe.java"),
                "class Probe { public static void main(String[] a) {"
                        + " try { System.out.print(Class.forName(\"org.apiguardian.api.API\").getName()); }"
                        + " catch (ClassNotFoundException e) { System.out.print(\"not found\"); } } }");
        assertThat(probeWithServerClassPath(probe, "--metrics", "127.0.0.1:9100", "9000", "/tmp")).isEqualTo("org.apiguardian.api.API");
        assertThat(probeWithServerClassPath(probe, "9000", "S3://bucket/prefix")).isEqualTo("org.apiguardian.api.API");
        assertThat(probeWithServerClassPath(probe, "9000", "/tmp")).isEqualTo("not found");
        awaitTrainingOf(launcherDir());
        assertThat(launcherDir().resolve("client.cache")).isNotEmptyFile();
        assertThat(launcherDir().resolve("cache-jdk")).as("trained for the new jar").isNotEmptyFile();
        assertThat(Files.getLastModifiedTime(launcherDir().resolve("cache-jdk"))).isGreaterThan(Files.getLastModifiedTime(jar()));
    }

    /**
     * Runs {@code probe} (a Java source file) on the class path the server's
     * launcher builds for these server arguments (ferry_server_classpath in the
     * copy's bin/ferry-launch.sh) and returns its output.
     */
    private String probeWithServerClassPath(Path probe, String... serverArgs) throws Exception {
        String java = Files.readAllLines(launcherDir().resolve("java-home")).get(1) + "/bin/java";
        var command = new ArrayList<>(List.of("env", "-u", "FERRY_METRICS", "-u", "FERRY_COUNTER", "bash", "-c",
                ". \"$1/bin/ferry-launch.sh\" && ferry_server_classpath \"$1/target/launcher\" \"${@:4}\""
                + " && exec \"$2\" -cp \"$FERRY_SERVER_CLASSPATH\" \"$3\"", "probe", copy.toString(), java, probe.toString()));
        command.addAll(List.of(serverArgs));
        var result = Ferry.exec(command, Map.of(), null, Duration.ofSeconds(60));
        assertThat(result.exitCode()).as("the probe; stderr: %s", result.stderr()).isZero();
        return result.stdout();
    }

    /**
     * The server's class path (ferry_server_classpath in bin/ferry-launch.sh,
     * on a stand-in build directory): the jar alone, or followed by every
     * library the list names, exactly when an argument or variable switches on
     * --metrics, --counter or FILE-DIR s3:// (either case). An empty list adds
     * nothing; a missing one is an ERROR line and status 1 when a library is needed.
     */
    @Test
    void theServersClassPathHasTheLibrariesExactlyWhenAnOptionNeedsThem() throws Exception {
        Path dir = Files.createDirectories(copy.resolve("built & listed"));
        Files.writeString(dir.resolve("libraries"), "lib/one-1.0.jar:lib/two-2.0.jar\n");
        String jar = dir + "/ferry.jar";
        String all = jar + ":" + dir + "/lib/one-1.0.jar:" + dir + "/lib/two-2.0.jar";
        String db = "postgresql://ferry@127.0.0.1:5432/ferry";
        record Case(Map<String, String> env, List<String> args, String classPath) {
        }
        var cases = List.of(
                new Case(Map.of(), List.of("9000", "/srv/files"), jar),
                new Case(Map.of(), List.of("--listen", "127.0.0.1", "--checksum", "sha256", "9000", "/srv/files"), jar),
                new Case(Map.of(), List.of("9000", "./s3://bucket"), jar),
                new Case(Map.of(), List.of("--help"), jar),
                new Case(Map.of("FERRY_METRICS", "", "FERRY_COUNTER", ""), List.of("9000", "/srv/files"), jar),
                new Case(Map.of(), List.of("--metrics", "9100", "9000", "/srv/files"), all),
                new Case(Map.of(), List.of("--metrics=127.0.0.1:9100", "9000", "/srv/files"), all),
                new Case(Map.of(), List.of("--counter", db, "9000", "/srv/files"), all),
                new Case(Map.of(), List.of("--counter=" + db, "9000", "/srv/files"), all),
                new Case(Map.of(), List.of("9000", "s3://bucket/prefix"), all),
                new Case(Map.of(), List.of("9000", "S3://bucket"), all),
                new Case(Map.of(), List.of("--s3-part-mib", "16", "--", "9000", "s3://bucket"), all),
                new Case(Map.of("FERRY_METRICS", "9100"), List.of("9000", "/srv/files"), all),
                new Case(Map.of("FERRY_COUNTER", db), List.of("9000", "/srv/files"), all));
        for (Case c : cases) {
            var result = serverClassPath(dir, c.env(), c.args());
            assertThat(result.stdout()).as("class path for %s %s; stderr: %s", c.env(), c.args(), result.stderr())
                    .isEqualTo(c.classPath() + "\n");
        }
        Files.writeString(dir.resolve("libraries"), "\n");
        assertThat(serverClassPath(dir, Map.of(), List.of("--metrics", "9100", "9000", "/srv/files")).stdout())
                .as("an empty list").isEqualTo(jar + "\n");
        Files.delete(dir.resolve("libraries"));
        assertThat(serverClassPath(dir, Map.of(), List.of("9000", "/srv/files")).stdout()).as("no list, no library needed")
                .isEqualTo(jar + "\n");
        var missing = serverClassPath(dir, Map.of(), List.of("9000", "s3://bucket"));
        assertThat(missing.exitCode()).isEqualTo(1);
        assertThat(missing.stderr()).isEqualTo("ERROR: ferry's list of its libraries, " + dir
                + "/libraries, is missing: the build is incomplete\n");
    }

    /** ferry_server_classpath DIR ARGS... with only {@code env} of FERRY_METRICS and FERRY_COUNTER: its class path on stdout. */
    private Ferry.Result serverClassPath(Path dir, Map<String, String> env, List<String> args) throws Exception {
        var command = new ArrayList<>(List.of("env", "-u", "FERRY_METRICS", "-u", "FERRY_COUNTER"));
        env.forEach((name, value) -> command.add(name + "=" + value));
        command.addAll(List.of("bash", "-c", ". \"$1/bin/ferry-launch.sh\" && ferry_server_classpath \"$2\" \"${@:3}\""
                + " && printf '%s\\n' \"$FERRY_SERVER_CLASSPATH\"", "rule", copy.toString(), dir.toString()));
        command.addAll(args);
        return Ferry.exec(command, Map.of(), null, Duration.ofSeconds(30));
    }

    /**
     * Over a real upload, neither the client's JVM nor that of a server
     * without an option that needs a library has a jar of lib/ on its class
     * path (the -cp of its execve) or opens one (open, openat, openat2; strace
     * of the launcher and everything it starts), while a server with --metrics
     * has them and opens the metrics library's (so the trace would see them).
     * On the repository's own launchers, built outside strace first
     * (./run-tests has built them already), to spare a build of a copy.
     */
    @Test
    void theClientAndAPlainServerOpenNoJarOfLibButAServerWithMetricsDoes() throws Exception {
        Assumptions.assumeTrue(Ferry.has("strace"), "strace is not installed: the jars the JVMs open are not checked");
        var built = Ferry.exec(List.of(Ferry.ROOT.resolve("client").toString(), "127.0.0.1", "0", "x"), Map.of(), null, BUILD);
        assertThat(built.exitCode()).as(built.stderr()).isEqualTo(2);
        // No training in the background either, which strace -f would follow (a launch may have started one).
        awaitTrainingOf(Ferry.ROOT.resolve("target/launcher"));
        Path lib = Ferry.ROOT.resolve("target/launcher/lib");
        Path upload = Ferry.randomFile(copy, "upload", 200_000, 5);
        Path files = copy.resolve("files");
        Path clientTrace = copy.resolve("client.strace");
        Path serverTrace = copy.resolve("server.strace");
        try (var server = TracedServer.start(serverTrace, List.of(), files)) {
            var sent = Ferry.exec(traced(clientTrace, Ferry.ROOT.resolve("client").toString(), "127.0.0.1",
                    Integer.toString(server.port), upload.toString()), Map.of(), null, Duration.ofSeconds(60));
            assertThat(sent.exitCode()).as("./client under strace; stderr: %s", sent.stderr()).isZero();
            Ferry.awaitContent(files.resolve("1.file"), Files.readAllBytes(upload), Duration.ofSeconds(30));
            server.stop();
        }
        String jar = Ferry.ROOT.resolve("target/launcher/ferry.jar").toString();
        assertThat(Path.of(javaClassPath(clientTrace)).normalize()).as("the client's class path").isEqualTo(Path.of(jar));
        assertThat(Path.of(javaClassPath(serverTrace)).normalize()).as("a plain server's class path").isEqualTo(Path.of(jar));
        assertThat(jarsOpened(clientTrace, lib)).as("jars of lib/ the client's JVM opened").isEmpty();
        assertThat(jarsOpened(serverTrace, lib)).as("jars of lib/ a plain server's JVM opened").isEmpty();

        Path metricsTrace = copy.resolve("metrics.strace");
        try (var server = TracedServer.start(metricsTrace, List.of("--metrics", "127.0.0.1:" + Ferry.freePort()),
                copy.resolve("metrics-files"))) {
            server.stop();
        }
        assertThat(javaClassPath(metricsTrace)).as("the class path with --metrics").contains(":")
                .contains("/lib/prometheus-metrics-core-");
        assertThat(jarsOpened(metricsTrace, lib)).as("jars of lib/ a server with --metrics opened")
                .anyMatch(name -> name.startsWith("prometheus-metrics-core-"));
    }

    /** {@code command} under strace -f, its execve calls (in full) and open calls written to {@code trace}. */
    private static List<String> traced(Path trace, String... command) {
        var all = new ArrayList<>(List.of("strace", "-f", "-qq", "-v", "-s", "100000", "-o", trace.toString(),
                "-e", "trace=execve,open,openat,openat2"));
        all.addAll(List.of(command));
        return all;
    }

    /** The -cp argument of the successful execve of java in {@code trace}. */
    private static String javaClassPath(Path trace) throws IOException {
        var execve = java.util.regex.Pattern.compile("execve\\(\"[^\"]*/bin/java\", \\[(.*?)\\], \\[.*\\) = 0$");
        var arg = java.util.regex.Pattern.compile("\"((?:[^\"\\\\]++|\\\\.)*+)\"");
        for (String line : Files.readAllLines(trace)) {
            var call = execve.matcher(line);
            if (call.find()) {
                var args = new ArrayList<String>();
                var each = arg.matcher(call.group(1));
                while (each.find()) {
                    args.add(each.group(1));
                }
                assertThat(args).as("java's arguments").contains("-cp");
                return args.get(args.indexOf("-cp") + 1);
            }
        }
        throw new AssertionError("no execve of java in " + trace);
    }

    /** The names of the jars in {@code lib} that a successful open call in {@code trace} opened. */
    private static List<String> jarsOpened(Path trace, Path lib) throws IOException {
        var opened = new ArrayList<String>();
        var path = java.util.regex.Pattern.compile("\"([^\"]*\\.jar)\"");
        for (String line : Files.readAllLines(trace)) {
            var match = path.matcher(line);
            if (match.find() && !line.matches(".*= -1 E[A-Z]+ .*")) {
                Path file = Path.of(match.group(1)).toAbsolutePath().normalize();
                if (file.getParent() != null && file.getParent().equals(lib)) {
                    opened.add(file.getFileName().toString());
                }
            }
        }
        return opened;
    }

    /** The repository's ./server OPTIONS... PORT DIR under strace, listening on a free port. */
    private static final class TracedServer implements AutoCloseable {
        final Process strace;
        final int port;

        private TracedServer(Process strace, int port) {
            this.strace = strace;
            this.port = port;
        }

        static TracedServer start(Path trace, List<String> options, Path dir) throws IOException {
            int port = Ferry.freePort();
            var args = new ArrayList<String>();
            args.add(Ferry.ROOT.resolve("server").toString());
            args.addAll(options);
            args.addAll(List.of(Integer.toString(port), dir.toString()));
            Path out = trace.resolveSibling(trace.getFileName() + ".out");
            var process = new ProcessBuilder(traced(trace, args.toArray(String[]::new)))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(out.toFile()).redirectErrorStream(true).start();
            var server = new TracedServer(process, port);
            if (!Ferry.await(Ferry.START_DEADLINE, () -> Ferry.readOrEmpty(out).contains("listening on port ") || !process.isAlive())
                    || !process.isAlive()) {
                server.close();
                throw new AssertionError("./server under strace did not listen within " + Ferry.START_DEADLINE + ": "
                        + Ferry.readOrEmpty(out));
            }
            return server;
        }

        /** SIGTERM to the launcher (strace's child): it stops its JVM and exits 0, and strace with it. */
        void stop() throws InterruptedException {
            ProcessHandle launcher = strace.children().findFirst().orElseThrow();
            Ferry.signal(launcher.pid(), "TERM");
            assertThat(strace.waitFor(30, TimeUnit.SECONDS)).as("./server under strace exits after SIGTERM").isTrue();
            assertThat(strace.exitValue()).as("./server's exit code").isZero();
        }

        @Override
        public void close() {
            strace.descendants().forEach(ProcessHandle::destroyForcibly);
            Ferry.kill(strace);
        }
    }

    /** Gives {@code file} a time after the jar's (the jar's is its build's start), so it counts as changed. */
    private void touchAfterJar(Path file) throws IOException {
        Files.setLastModifiedTime(file, FileTime.fromMillis(Files.getLastModifiedTime(jar()).toMillis() + 1000));
    }

    private static Path codeSource(Class<?> type) throws URISyntaxException {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /**
     * <ol>
     * <li>Training runs that hang do not hold up the launch that started them: it ends
     * while they still run, in the background, holding none of the launcher's descriptors
     * (its standard streams, or a descriptor 3 such as systemd's socket).</li>
     * <li>They are cut at their time limit; the next launch says so in one note line
     * before its own output, and runs without caches; later runs are silent, and
     * without a cache too.</li>
     * <li>A training run that fails (retrained for a new JDK, say) is one note line too,
     * on the next launch.</li>
     * <li>Where the launch waits for the training (./run-tests, the benchmark: ferry_build),
     * a failed one is told at once, after the building line.</li>
     * </ol>
     */
    @Test
    void aHangingOrFailingTrainingIsCutReportedInOneLineAndNoLaunchWaitsForIt() throws Exception {
        prebuilt();
        Path third = Files.writeString(copy.resolve("descriptor-3.txt"), "the launcher's descriptor 3\n");
        var hung = Ferry.exec(List.of("bash", "-c", "exec 3<\"$1\" && shift && exec \"$@\"", "with-3", third.toString(),
                copy.resolve("client").toString(), "127.0.0.1", "0", "x"),
                withNotes(Map.of("FERRY_TRAINING_FAULT", "hang", "FERRY_TRAINING_TIMEOUT", "8")), null, BUILD);
        assertThat(hung.exitCode()).isEqualTo(2);
        assertThat(hung.stderr()).matches(buildingLine("start-up caches for ") + "ERROR: invalid port .*\n");
        assertThat(training()).as("the hung training still runs once the launch that started it has ended").isTrue();
        List<String> held = descriptorsOfTraining();
        assertThat(held).as("the training's descriptors").anyMatch(target -> target.endsWith("/.train-lock"))
                .noneMatch(target -> target.equals(third.toString()) || target.contains("ferry-exec-"));
        awaitTrainingOf(launcherDir());
        assertThat(launcherDir().resolve("server.cache")).doesNotExist();
        assertThat(launcherDir().resolve("client.cache")).doesNotExist();
        assertThat(badPort(Map.of())).isEqualTo("note: could not train the server's and the client's start-up caches "
                + "(server: timed out after 8 s; client: timed out after 8 s; see " + launcherDir().resolve("build.log")
                + "); ferry runs without its start-up cache\n" + BAD_PORT);
        assertThat(badPort(Map.of())).isEqualTo(BAD_PORT);

        Files.delete(launcherDir().resolve("cache-jdk"));
        var failed = client(Map.of("FERRY_TRAINING_FAULT", "fail"), "127.0.0.1", "0", "x");
        assertThat(failed.stderr()).matches(buildingLine("start-up caches for ") + "ERROR: invalid port .*\n");
        awaitTrainingOf(launcherDir());
        assertThat(badPort(Map.of())).matches("note: could not train the server's and the client's start-up caches "
                + "\\(server: exit code 1; client: exit code 1; see [^)]*\\); ferry runs without its start-up cache\n"
                + java.util.regex.Pattern.quote(BAD_PORT));
        assertThat(badPort(Map.of())).isEqualTo(BAD_PORT);

        Files.delete(launcherDir().resolve("cache-jdk"));
        var waited = Ferry.exec(List.of("bash", "-c", "FERRY_ROOT=$1; . \"$1/bin/ferry-lib.sh\" && ferry_find_java && ferry_build",
                "build", copy.toString()), withNotes(Map.of("FERRY_TRAINING_FAULT", "fail")), null, TRAINING);
        assertThat(waited.exitCode()).isZero();
        assertThat(waited.stderr()).matches(buildingLine("start-up caches for ")
                + "note: could not train the server's and the client's start-up caches \\(server: exit code 1; "
                + "client: exit code 1; see [^)]*\\); ferry runs without its start-up cache\n");
        assertThat(badPort(Map.of())).isEqualTo(BAD_PORT);
    }

    /**
     * <ol>
     * <li>On a built copy, ./client starts training the start-up caches (standard error
     * not a terminal: no note).</li>
     * <li>With the start-up caches to be trained again, ./client under a terminal says so in
     * its building line before the ERROR: line.</li>
     * <li>The same with {@code -q}, or with {@code FERRY_QUIET=yes}: the ERROR: line is all
     * the terminal shows, the training done all the same.</li>
     * </ol>
     */
    @Test
    void quietSilencesTheBuildingNoteOnATerminalToo() throws Exception {
        Assumptions.assumeTrue(Ferry.has("script"), "script (util-linux) is not installed");
        prebuilt();
        assertThat(badPort(Map.of("FERRY_BUILD_NOTES", ""))).isEqualTo(BAD_PORT);
        Path cacheJdk = launcherDir().resolve("cache-jdk");
        for (var run : List.of(List.of("", ""), List.of("-q ", ""), List.of("", "yes"))) {
            awaitTrainingOf(launcherDir());
            Files.delete(cacheJdk);
            var onTerminal = Ferry.exec(List.of("script", "-qec", copy.resolve("client") + " " + run.get(0) + "127.0.0.1 0 x",
                    "/dev/null"), Map.of("FERRY_BUILD_NOTES", "", "FERRY_QUIET", run.get(1)), null, BUILD);
            assertThat(onTerminal.exitCode()).isEqualTo(2);
            String screen = onTerminal.stdout().replace("\r\n", "\n");
            if (run.equals(List.of("", ""))) {
                assertThat(screen).as("not quiet").matches(buildingLine("start-up caches") + java.util.regex.Pattern.quote(BAD_PORT));
            } else {
                assertThat(screen).as("quiet: %s", run).isEqualTo(BAD_PORT);
            }
            // Started by a launch whose terminal is gone: its hang-up does not stop the training.
            awaitTrainingOf(launcherDir());
            assertThat(cacheJdk).as("trained again").exists();
        }
    }

    @Test
    void aFailedBuildPutsTheErrorLineRightAfterTheBuildingLine() throws Exception {
        Files.writeString(copy.resolve("src/main/java/ferry/common/Broken.java"), "package ferry.common; class Broken {");
        var result = client(Map.of(), "127.0.0.1", "1", "x");
        assertThat(result.exitCode()).isEqualTo(1);
        List<String> lines = result.stderr().lines().toList();
        assertThat(lines.get(0)).matches(buildingLine("first run").strip());
        assertThat(lines.get(1)).startsWith("ERROR: building ferry failed");
        assertThat(result.stderr()).contains("Broken.java");
        assertThat(result.stdout()).isEmpty();
    }

    /**
     * <ol>
     * <li>Launchers started together on a fresh copy share one Maven build, and then one
     * training of the start-up caches.</li>
     * <li>The one whose standard error is not a terminal (a script, a grader) prints the
     * ERROR: line alone (S2, C2), though it waited for that build.</li>
     * <li>The one under a terminal (a pty, from {@code script}) says what is being done in
     * one line before the ERROR: line; so does the one that asks for the notes
     * ({@code FERRY_BUILD_NOTES=always}).</li>
     * </ol>
     */
    @Test
    void launchersStartedTogetherOnAFreshCopyShareOneBuildAndOnlyATerminalIsToldOfIt() throws Exception {
        Path typescript = copy.resolve("typescript.txt");
        boolean terminal = Ferry.has("script");
        try (var pool = Executors.newFixedThreadPool(3)) {
            Future<Ferry.Result> noted = pool.submit(() -> client(Map.of(), "127.0.0.1", "0", "x"));
            Future<Ferry.Result> quiet = pool.submit(() -> client(Map.of("FERRY_BUILD_NOTES", ""), "127.0.0.1", "0", "x"));
            Future<Ferry.Result> onTerminal = terminal ? pool.submit(() -> Ferry.exec(List.of("script", "-qec",
                    copy.resolve("client") + " 127.0.0.1 0 x", typescript.toString()), Map.of("FERRY_BUILD_NOTES", ""), null, BUILD))
                    : null;
            assertThat(noted.get().exitCode()).isEqualTo(2);
            assertThat(noted.get().stderr()).matches(buildingLine("first run") + java.util.regex.Pattern.quote(BAD_PORT));
            assertThat(quiet.get().exitCode()).isEqualTo(2);
            assertThat(quiet.get().stderr()).isEqualTo(BAD_PORT);
            if (onTerminal != null) {
                assertThat(onTerminal.get().exitCode()).isEqualTo(2);
                assertThat(Files.readString(typescript).replace("\r\n", "\n")).containsPattern(buildingLine("first run")
                        + java.util.regex.Pattern.quote(BAD_PORT));
            } else {
                System.err.println("LauncherIT: script (util-linux) is not installed; the building note on a terminal is not checked");
            }
        }
        assertThat(jar()).exists();
        assertThat(Files.readString(launcherDir().resolve("build.log"))).containsOnlyOnce("building ferry with Maven");
        awaitTrainingOf(launcherDir());
        assertThat(Files.readString(launcherDir().resolve("build.log"))).containsOnlyOnce("training the server's start-up cache")
                .containsOnlyOnce("training the client's start-up cache");
    }

    @Test
    void findsANewEnoughJdkWhenJavaHomeIsTooOld() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(JDK_17.resolve("bin/java")),
                "needs a JDK 17 at " + JDK_17 + " to stand for a too-old JAVA_HOME");
        prebuilt();
        var result = client(Map.of("JAVA_HOME", JDK_17.toString(), "PATH", JDK_17.resolve("bin") + ":/usr/bin:/bin"),
                "127.0.0.1", "0", "x");
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).matches(buildingLine("start-up caches for ") + "ERROR: invalid port .*\n");
        String found = Files.readAllLines(launcherDir().resolve("java-home")).get(1);
        assertThat(found).as("the JDK found").isNotEqualTo(JDK_17.toString());
        assertThat(result.stderr()).contains("start-up caches for " + found + ",");
    }

    @Test
    void withoutAnyNewEnoughJdkItSaysSo() throws Exception {
        Path noJdks = Files.createDirectories(copy.resolve("no-jdks"));
        var env = Map.of("JAVA_HOME", JDK_17.toString(), "PATH", "/usr/bin:/bin", "FERRY_JVM_DIR", noJdks.toString());
        Assumptions.assumeFalse(isNewJava(Path.of("/usr/bin/java")),
                "the java in /usr/bin is already 21+, so there is no machine without one to stand for");
        for (String launcher : List.of("client", "server")) {
            var builder = new ProcessBuilder(copy.resolve(launcher).toString(), "1", "2", "3");
            builder.environment().putAll(env);
            builder.redirectErrorStream(true);
            Process process = builder.start();
            String output = new String(process.getInputStream().readAllBytes());
            assertThat(process.waitFor()).isEqualTo(1);
            assertThat(output).startsWith("ERROR: Java 21 or newer is required");
        }
    }

    private static boolean isNewJava(Path java) throws Exception {
        if (!Files.isExecutable(java)) {
            return false;
        }
        Process process = new ProcessBuilder(java.toString(), "-version").redirectErrorStream(true).start();
        String version = new String(process.getInputStream().readAllBytes());
        process.waitFor();
        return !version.contains("\"17.") && !version.contains("\"11.") && !version.contains("\"1.8");
    }
}
