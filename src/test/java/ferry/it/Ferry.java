package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Test support for the process-level tests: runs the real {@code ./server} and
 * {@code ./client} launchers from the repository root, with deadlines on every wait.
 */
final class Ferry {
    /** The repository root, where the launchers are (set by Failsafe). */
    static final Path ROOT = Path.of(System.getProperty("ferry.root", ".")).toAbsolutePath().normalize();
    /** First start on a fresh clone compiles the sources: allow for it. */
    static final Duration START_DEADLINE = Duration.ofSeconds(90);

    private Ferry() {
    }

    /** A port that was free a moment ago, on every interface. */
    static int freePort() {
        try (var socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress(0));
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Polls {@code condition} every 20 ms until it holds or the deadline passes. */
    static boolean await(Duration deadline, BooleanSupplier condition) {
        return await(deadline, Duration.ofMillis(20), condition);
    }

    /** Polls {@code condition} every {@code interval} until it holds or the deadline passes. */
    static boolean await(Duration deadline, Duration interval, BooleanSupplier condition) {
        long end = System.nanoTime() + deadline.toNanos();
        while (true) {
            if (condition.getAsBoolean()) {
                return true;
            }
            if (System.nanoTime() - end > 0) {
                return false;
            }
            try {
                Thread.sleep(interval.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    /** Waits until {@code file} exists and holds exactly {@code expected}. */
    static void awaitContent(Path file, byte[] expected, Duration deadline) {
        boolean arrived = await(deadline, () -> {
            try {
                return Files.size(file) == expected.length && java.util.Arrays.equals(Files.readAllBytes(file), expected);
            } catch (IOException e) {
                return false;
            }
        });
        assertThat(arrived).as("%s holds the expected %d bytes within %s", file, expected.length, deadline).isTrue();
    }

    /** Kills {@code process} if it is still running and waits (at most 10 s) until it is gone. */
    static void kill(Process process) {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The text of {@code file}, or "" if it cannot be read. */
    static String readOrEmpty(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "";
        }
    }

    /** Deletes temporary files, as far as it can. */
    static void deleteQuietly(Path... files) {
        for (Path file : files) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                // Temporary: left for the system to clean.
            }
        }
    }

    /** The size of {@code file}, or -1 while it does not exist. */
    static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return -1;
        }
    }

    /** Waits until {@code file} reads exactly {@code ERROR}. */
    static void awaitError(Path file, Duration deadline) {
        awaitContent(file, "ERROR".getBytes(StandardCharsets.US_ASCII), deadline);
    }

    /** Deterministic pseudo-random bytes. */
    static byte[] randomBytes(int size, long seed) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }

    /** Writes {@code size} deterministic pseudo-random bytes to a file, in chunks (works for any size). */
    static Path randomFile(Path dir, String name, long size, long seed) throws IOException {
        Path file = dir.resolve(name);
        var random = new Random(seed);
        byte[] chunk = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long left = size; left > 0; left -= chunk.length) {
                random.nextBytes(chunk);
                out.write(chunk, 0, (int) Math.min(chunk.length, left));
            }
        }
        return file;
    }

    /** True when {@code command} is on the PATH. */
    static boolean has(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }

    /** Sends a signal by name ("QUIT", "TERM", "KILL", "STOP", "CONT") to a process. */
    static void signal(long pid, String name) {
        try {
            int rc = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start().waitFor();
            assertThat(rc).as("kill -%s %d", name, pid).isZero();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** True while some socket listens on {@code port} (read from /proc, so no connection number is used up). */
    static boolean listening(int port) {
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            try {
                List<String> rows = Files.readAllLines(Path.of(table));
                for (String row : rows.subList(1, rows.size())) {
                    String[] f = row.trim().split("\\s+");
                    if (f[3].equals("0A") && Integer.parseInt(f[1].substring(f[1].lastIndexOf(':') + 1), 16) == port) {
                        return true;
                    }
                }
            } catch (IOException e) {
                // Table missing (no IPv6): look at the other.
            }
        }
        return false;
    }

    /** The outcome of a finished process. */
    record Result(int exitCode, String stdout, String stderr, Duration elapsed) {
        String firstStderrLine() {
            return stderr.lines().findFirst().orElse("");
        }
    }

    /**
     * Runs a launcher ({@code "client"} or {@code "server"}) to completion, with
     * extra environment variables, killing it if it outlives {@code deadline}.
     */
    static Result run(String launcher, List<String> args, Map<String, String> env, Duration deadline)
            throws IOException, InterruptedException {
        var command = new ArrayList<String>();
        command.add(ROOT.resolve(launcher).toString());
        command.addAll(args);
        return exec(command, env, null, deadline);
    }

    /**
     * Runs any command to completion, with extra environment variables and
     * {@code stdin} as its standard input (null for none), killing it and its
     * descendants if it outlives {@code deadline}.
     */
    static Result exec(List<String> command, Map<String, String> env, Path stdin, Duration deadline)
            throws IOException, InterruptedException {
        Path out = Files.createTempFile("ferry-exec-", ".out");
        Path err = Files.createTempFile("ferry-exec-", ".err");
        try {
            var builder = new ProcessBuilder(command).directory(ROOT.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(stdin == null ? new File("/dev/null") : stdin.toFile()))
                    .redirectOutput(out.toFile()).redirectError(err.toFile());
            builder.environment().putAll(env);
            long start = System.nanoTime();
            Process process = builder.start();
            if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly().waitFor();
                fail("%s still running after %s", command, deadline);
            }
            Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
            return new Result(process.exitValue(), Files.readString(out), Files.readString(err), elapsed);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** Runs {@code ./client host port file} with a 60 s deadline. */
    static Result client(String host, int port, Path file, Map<String, String> env)
            throws IOException, InterruptedException {
        return run("client", List.of(host, Integer.toString(port), file.toString()), env, Duration.ofSeconds(60));
    }

    /** A running {@code ./server}, stopped with SIGKILL on close if still alive. */
    /**
     * Waits for a process started with its output in {@code stdout} and
     * {@code stderr} to exit, and returns what it did, timed from
     * {@code startedAt}; if it outlives {@code deadline}, {@code kill} ends it
     * and the test fails, naming {@code what}.
     */
    static Result awaitExit(Process process, Path stdout, Path stderr, long startedAt, Duration deadline,
                            String what, Runnable kill) throws IOException, InterruptedException {
        if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
            String err = Files.readString(stderr);
            kill.run();
            fail("%s still running after %s; stderr so far: %s", what, deadline, err);
        }
        long exitedAt = System.nanoTime();
        return new Result(process.exitValue(), Files.readString(stdout), Files.readString(stderr),
                Duration.ofNanos(exitedAt - startedAt));
    }

    /** Exit 0, and nothing on standard output or standard error. */
    static void assertSucceeded(Result result) {
        assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
        assertThat(result.stdout()).as("stdout").isEmpty();
        assertThat(result.stderr()).as("stderr").isEmpty();
    }

    /** Exit 1, nothing on stdout, exactly one stderr line matching {@code regex}. */
    static void assertFailed(Result result, String regex) {
        assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isEqualTo(1);
        assertThat(result.stdout()).as("stdout").isEmpty();
        assertThat(result.stderr().lines().toList()).as("stderr lines").hasSize(1);
        assertThat(result.firstStderrLine()).matches(regex);
    }

    /** Stops the server as a user would (SIGTERM), so that closing it need not wait; it must exit 0. */
    static void stop(Server server) throws InterruptedException {
        server.signal("TERM");
        assertThat(server.awaitExit(Duration.ofSeconds(10))).as("./server exit code").isZero();
    }

    static final class Server implements AutoCloseable {
        final Process process;
        final int port;
        final Path dir;
        final Path stdout;
        final Path stderr;

        private Server(Process process, int port, Path dir, Path stdout, Path stderr) {
            this.process = process;
            this.port = port;
            this.dir = dir;
            this.stdout = stdout;
            this.stderr = stderr;
        }

        /** Starts {@code ./server PORT dir} on a free port and waits until it listens. */
        static Server start(Path dir, Map<String, String> env) throws IOException {
            return start(dir, env, List.of());
        }

        /**
         * Starts {@code ./server PORT dir} through {@code wrapper} (a command that
         * execs its arguments, such as {@code prlimit --nofile=128}), so that the
         * process started is still the launcher.
         */
        static Server start(Path dir, Map<String, String> env, List<String> wrapper) throws IOException {
            return start(wrapper, List.of(), dir, env);
        }

        /**
         * Starts {@code ./server OPTIONS... PORT dir} on a free port through
         * {@code wrapper} (may be empty) and waits until it listens (in either
         * log format: the line's message contains "listening on port").
         */
        static Server start(List<String> wrapper, List<String> options, Path dir, Map<String, String> env)
                throws IOException {
            return start(wrapper, options, dir.toString(), dir, env);
        }

        /**
         * Starts {@code ./server OPTIONS... PORT destination}, where the
         * destination is not a directory ({@code s3://BUCKET/PREFIX}): the
         * server's {@link #dir} is null.
         */
        static Server start(List<String> options, String destination, Map<String, String> env) throws IOException {
            return start(List.of(), options, destination, null, env);
        }

        private static Server start(List<String> wrapper, List<String> options, String destination, Path dir,
                                    Map<String, String> env) throws IOException {
            int port = freePort();
            Path logs = Files.createTempDirectory("ferry-server-logs-");
            Path out = logs.resolve("stdout");
            Path err = logs.resolve("stderr");
            var command = new ArrayList<>(wrapper);
            command.add(ROOT.resolve("server").toString());
            command.addAll(options);
            command.addAll(List.of(Integer.toString(port), destination));
            var builder = new ProcessBuilder(command)
                    .directory(ROOT.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile()).redirectError(err.toFile());
            builder.environment().putAll(env);
            var server = new Server(builder.start(), port, dir, out, err);
            // The log's first line comes once the directory is ready too (the port is bound before it).
            if (!await(START_DEADLINE, () -> server.stdout().contains("listening on port ")
                    || !server.process.isAlive())) {
                server.close();
                fail("./server %d did not listen within %s", port, START_DEADLINE);
            }
            if (!server.process.isAlive()) {
                fail("./server %d exited with %d: %s", port, server.process.exitValue(), server.stderr());
            }
            return server;
        }

        static Server start(Path dir) throws IOException {
            return start(dir, Map.of());
        }

        Path file(long n) {
            return dir.resolve(n + ".file");
        }

        long pid() {
            return process.pid();
        }

        /** CPU time used so far by the launcher and its JVM, from /proc (user + system). */
        Duration cpuTime() {
            long ticks = 0;
            var tree = new ArrayList<ProcessHandle>();
            tree.add(process.toHandle());
            process.descendants().forEach(tree::add);
            for (ProcessHandle handle : tree) {
                try {
                    String stat = Files.readString(Path.of("/proc", Long.toString(handle.pid()), "stat"));
                    // Fields after the command name, which is in parentheses and may hold spaces.
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                } catch (IOException e) {
                    // Gone: it no longer uses CPU.
                }
            }
            return Duration.ofMillis(ticks * 10); // USER_HZ is 100 on Linux
        }

        void signal(String name) {
            Ferry.signal(process.pid(), name);
        }

        /** Waits for the launcher to exit and returns its code; fails after the deadline. */
        int awaitExit(Duration deadline) throws InterruptedException {
            assertThat(process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS))
                    .as("./server exits within %s", deadline).isTrue();
            return process.exitValue();
        }

        String stdout() {
            return readOrEmpty(stdout);
        }

        /** Waits for connection {@code n}'s log line (written when it ends) and returns it. */
        String awaitLogLine(long n, Duration deadline) {
            String prefix = " ferry: conn=" + n + " "; // after the line's timestamp
            var line = new java.util.concurrent.atomic.AtomicReference<String>();
            boolean logged = await(deadline, () -> {
                stdout().lines().filter(l -> l.contains(prefix)).findFirst().ifPresent(line::set);
                return line.get() != null;
            });
            assertThat(logged).as("./server logs connection %d within %s; stdout so far:%n%s", n, deadline, stdout())
                    .isTrue();
            return line.get();
        }

        String stderr() {
            return readOrEmpty(stderr);
        }

        /**
         * Kills the launcher if still running, and waits for its JVM, which
         * follows through the closed pipe (and may still be writing ERROR into
         * unfinished files until it has exited).
         */
        @Override
        public void close() {
            List<ProcessHandle> jvm = process.descendants().toList();
            kill(process);
            await(Duration.ofSeconds(10), () -> jvm.stream().noneMatch(ProcessHandle::isAlive));
            await(Duration.ofSeconds(10), () -> !listening(port));
        }
    }

    /** The loopback address of the given family, for tests of both stacks. */
    static InetAddress loopback(boolean ipv6) {
        try {
            return InetAddress.getByName(ipv6 ? "::1" : "127.0.0.1");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
