package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launchers on a copy of the repository, as on a fresh clone: they find a
 * JDK 21+ by themselves, build on first use without showing the build, pick
 * up a source change, and put the ERROR line first when the build fails.
 */
class LauncherIT {
    private static final Path JDK_17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64");

    @TempDir
    Path copy;

    @BeforeEach
    void copyRepository() throws IOException {
        for (String name : List.of("server", "client", "bin", "src/main")) {
            copyTree(Ferry.ROOT.resolve(name), copy.resolve(name));
        }
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

    private Ferry.Result client(Map<String, String> env, String... args) throws Exception {
        var command = new java.util.ArrayList<String>();
        command.add(copy.resolve("client").toString());
        command.addAll(List.of(args));
        var builder = new ProcessBuilder(command).directory(copy.toFile());
        builder.environment().putAll(env);
        Path out = copy.resolve("out.txt");
        Path err = copy.resolve("err.txt");
        builder.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process process = builder.start();
        assertThat(process.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        return new Ferry.Result(process.exitValue(), Files.readString(out), Files.readString(err), Duration.ZERO);
    }

    private Path jar() {
        return copy.resolve("target/launcher/ferry.jar");
    }

    @Test
    void firstRunBuildsQuietlyAndLaterRunsReuseTheBuild() throws Exception {
        var first = client(Map.of(), "127.0.0.1", "0", "x");
        assertThat(first.exitCode()).isEqualTo(2);
        assertThat(first.stderr()).isEqualTo("ERROR: invalid port \"0\": must be a number from 1 to 65535\n");
        assertThat(first.stdout()).isEmpty();
        assertThat(jar()).exists();
        assertThat(copy.resolve("target/launcher/build.log")).content().startsWith("building ferry with ");

        FileTime built = Files.getLastModifiedTime(jar());
        var second = client(Map.of(), "127.0.0.1", "0", "x");
        assertThat(second.exitCode()).isEqualTo(2);
        assertThat(Files.getLastModifiedTime(jar())).as("no rebuild without a change").isEqualTo(built);
    }

    /**
     * <ol>
     * <li>The first run also makes the JVM's start-up cache, with the JDK it found.</li>
     * <li>A damaged cache costs only start-up time: not a word of it reaches the user.</li>
     * </ol>
     */
    @Test
    void theFirstRunMakesTheStartUpCacheAndADamagedOneStaysSilent() throws Exception {
        assertThat(client(Map.of(), "127.0.0.1", "0", "x").exitCode()).isEqualTo(2);
        Path cache = copy.resolve("target/launcher/ferry.cds");
        assertThat(cache).isNotEmptyFile();
        String madeWith = Files.readString(copy.resolve("target/launcher/cache-jdk")).trim();
        assertThat(Path.of(madeWith, "bin/java")).isExecutable();

        byte[] whole = Files.readAllBytes(cache);
        Files.write(cache, java.util.Arrays.copyOf(whole, whole.length / 3));
        var damaged = client(Map.of(), "127.0.0.1", "0", "x");
        assertThat(damaged.stderr()).isEqualTo("ERROR: invalid port \"0\": must be a number from 1 to 65535\n");
        assertThat(damaged.stdout()).isEmpty();
    }

    @Test
    void aSourceChangeIsPickedUpWithoutAManualRebuild() throws Exception {
        assertThat(client(Map.of(), "127.0.0.1", "0", "x").exitCode()).isEqualTo(2);
        Path source = copy.resolve("src/main/java/ferry/common/Arguments.java");
        Files.writeString(source, Files.readString(source).replace("must be a number from 1 to 65535",
                "must be a number from 1 to 65535 (changed)"));
        Files.setLastModifiedTime(source, FileTime.from(Instant.now().plusSeconds(2)));
        var changed = client(Map.of(), "127.0.0.1", "0", "x");
        assertThat(changed.stderr()).isEqualTo("ERROR: invalid port \"0\": must be a number from 1 to 65535 (changed)\n");
    }

    @Test
    void aFailedBuildPutsTheErrorLineFirst() throws Exception {
        Files.writeString(copy.resolve("src/main/java/ferry/common/Broken.java"), "package ferry.common; class Broken {");
        var result = client(Map.of(), "127.0.0.1", "1", "x");
        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.firstStderrLine()).startsWith("ERROR: building ferry failed");
        assertThat(result.stderr()).contains("Broken.java");
        assertThat(result.stdout()).isEmpty();
    }

    @Test
    void launchersStartedTogetherOnAFreshCopyShareOneBuild() throws Exception {
        try (var pool = Executors.newFixedThreadPool(3)) {
            var runs = new java.util.ArrayList<Future<Ferry.Result>>();
            for (int i = 0; i < 3; i++) {
                int port = i + 1;
                runs.add(pool.submit(() -> {
                    var builder = new ProcessBuilder(copy.resolve("client").toString(), "127.0.0.1", "0", "x" + port);
                    builder.redirectErrorStream(true);
                    Process process = builder.start();
                    String output = new String(process.getInputStream().readAllBytes());
                    process.waitFor();
                    return new Ferry.Result(process.exitValue(), output, "", Duration.ZERO);
                }));
            }
            for (Future<Ferry.Result> run : runs) {
                assertThat(run.get().exitCode()).isEqualTo(2);
                assertThat(run.get().stdout()).startsWith("ERROR: invalid port \"0\"");
            }
        }
    }

    @Test
    void findsANewEnoughJdkWhenJavaHomeIsTooOld() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(JDK_17.resolve("bin/java")),
                "needs a JDK 17 at " + JDK_17 + " to stand for a too-old JAVA_HOME");
        var result = client(Map.of("JAVA_HOME", JDK_17.toString(), "PATH", JDK_17.resolve("bin") + ":/usr/bin:/bin"),
                "127.0.0.1", "0", "x");
        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.stderr()).startsWith("ERROR: invalid port");
    }

    @Test
    void withoutAnyNewEnoughJdkItSaysSo() throws Exception {
        Path noJdks = Files.createDirectories(copy.resolve("no-jdks"));
        var env = Map.of("JAVA_HOME", JDK_17.toString(), "PATH", "/usr/bin:/bin", "FERRY_JVM_DIR", noJdks.toString());
        org.junit.jupiter.api.Assumptions.assumeFalse(isNewJava(Path.of("/usr/bin/java")),
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
