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
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * Test support for the process-level tests: runs the real {@code ./server} and
 * {@code ./client} launchers from the repository root, with deadlines on every wait.
 */
final class Ferry {
    /** The repository root, where the launchers are (set by Failsafe). */
    static final Path ROOT = Path.of(System.getProperty("ferry.root", ".")).toAbsolutePath().normalize();
    /** First start on a fresh clone compiles the sources: allow for it. */
    static final Duration START_DEADLINE = Duration.ofSeconds(90);
    /** Room for the client's JVM to start (and, on a fresh clone, for the first build). */
    static final Duration CLIENT_START = Duration.ofSeconds(60);

    private Ferry() {
    }

    /**
     * A port that was free a moment ago, on every interface: racy (anyone may
     * take it before it is used). A server under test is started by
     * {@link Server}, a peer of the test's own binds port 0, and a port that
     * must be named beforehand comes from {@link Ports}.
     */
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
        return TcpTable.listening(port);
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
        return exec(Proc.launcher(launcher, args), env, null, deadline);
    }

    /**
     * Runs any command to completion, with extra environment variables and
     * {@code stdin} as its standard input (null for none), killing it and its
     * descendants if it outlives {@code deadline}.
     */
    static Result exec(List<String> command, Map<String, String> env, Path stdin, Duration deadline)
            throws IOException, InterruptedException {
        try (var process = Proc.start(command, env, stdin == null ? null : Proc.from(stdin))) {
            return process.awaitExit(deadline);
        }
    }

    /** Runs {@code ./client host port file} with a 60 s deadline. */
    static Result client(String host, int port, Path file, Map<String, String> env)
            throws IOException, InterruptedException {
        return run("client", List.of(host, Integer.toString(port), file.toString()), env, Duration.ofSeconds(60));
    }

    /**
     * For a process started by hand ({@link Proc} is the usual way): waits for
     * one with its output in {@code stdout} and {@code stderr} to exit, and
     * returns what it did, timed from
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
        assertThat(server.stop()).as("./server exit code").isZero();
    }

    /**
     * The one server fixture: a real {@code ./server OPTIONS... PORT TARGET}.
     * The test names no port: the fixture picks one ({@link Ports#unused}),
     * starts the server again on another if that one was taken meanwhile, and
     * takes the port from the server's {@code listening} line. It reads the
     * server's records (one log line per ended upload), waits for them, stops
     * the server as a user would, and on {@link #close()} prints the server's
     * logs into the test's own output (shown for a failing test).
     */
    static final class Server implements AutoCloseable {
        private static final Pattern LISTENING = Pattern.compile("listening on port (\\d+) ");
        private static final Pattern RECORD = Pattern.compile(
                " ferry: conn=(\\d+) peer=(\\S+) bytes=(\\d+) ms=\\d+ outcome=(\\S+) file=(\\S+)");
        /** How often a start is tried again when another test took the port first. */
        private static final int ATTEMPTS = 5;
        private static final Duration RECORD_DEADLINE = Duration.ofSeconds(60);

        final Process process;
        final Proc proc;
        final int port;
        /** The directory the server saves to, or null for an object store. */
        final Path dir;
        final String target;
        private boolean closed;

        private Server(Proc proc, int port, Path dir, String target) {
            this.proc = proc;
            this.process = proc.process();
            this.port = port;
            this.dir = dir;
            this.target = target;
        }

        /** One ended upload, as the server's text log records it. */
        record Record(long conn, String peer, long bytes, String outcome, String file, String line) {
            private static final Pattern SHA256 = Pattern.compile(" sha256=([0-9a-f]{64})");

            boolean complete() {
                return outcome.equals("complete");
            }

            /** The content's SHA-256 the server logged ({@code --checksum sha256}), or null. */
            String sha256() {
                var m = SHA256.matcher(line);
                return m.find() ? m.group(1) : null;
            }
        }

        static Server start(Path dir) throws IOException {
            return start(dir, Map.of());
        }

        /** Starts {@code ./server PORT dir} and waits until it listens. */
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

        /** Starts {@code ./server OPTIONS... PORT dir} through {@code wrapper} (may be empty). */
        static Server start(List<String> wrapper, List<String> options, Path dir, Map<String, String> env)
                throws IOException {
            return start(wrapper, options, 0, dir.toString(), dir, env);
        }

        /** Starts {@code ./server OPTIONS... PORT target}, the target not a directory ({@code s3://BUCKET/PREFIX}). */
        static Server start(List<String> options, String target, Map<String, String> env) throws IOException {
            return start(List.of(), options, 0, target, null, env);
        }

        /**
         * Starts {@code wrapper... ./server options... PORT target} and waits (in
         * either log format) for its {@code listening} line. {@code port} 0 lets
         * the fixture choose; any other port is used as given, for a test that
         * needs that one (a server started again where it was, a private network).
         */
        static Server start(List<String> wrapper, List<String> options, int port, String target, Path dir,
                            Map<String, String> env) throws IOException {
            for (int attempt = 1; ; attempt++) {
                int tried = port == 0 ? Ports.unused() : port;
                var command = new ArrayList<>(wrapper);
                command.addAll(Proc.launcher("server", options));
                command.addAll(List.of(Integer.toString(tried), target));
                var proc = Proc.start(command, env, null);
                var server = new Server(proc, tried, dir, target);
                // The line comes once the directory is ready too (the port is bound before it).
                boolean ended = await(START_DEADLINE, () -> LISTENING.matcher(proc.stdout()).find() || !proc.isAlive());
                var listening = LISTENING.matcher(proc.stdout());
                boolean listens = listening.find();
                if (listens && Integer.parseInt(listening.group(1)) == tried) {
                    return server;
                }
                String stderr = proc.stderr();
                server.close();
                if (listens) {
                    fail("./server %d %s says it listens on port %s", tried, target, listening.group(1));
                }
                if (!ended) {
                    fail("./server %d %s did not listen within %s: %s", tried, target, START_DEADLINE, stderr);
                }
                boolean taken = stderr.contains("ERROR: cannot listen on port " + tried + ":");
                if (port != 0 || attempt == ATTEMPTS || !taken) {
                    fail("./server %d %s exited with %d: %s", tried, target, proc.process().exitValue(), stderr);
                }
            }
        }

        Path file(long n) {
            return dir.resolve(n + ".file");
        }

        long pid() {
            return process.pid();
        }

        String stdout() {
            return proc.stdout();
        }

        String stderr() {
            return proc.stderr();
        }

        void signal(String name) {
            proc.signal(name);
        }

        /** The records logged so far, in the order they were written. */
        List<Record> records() {
            var records = new ArrayList<Record>();
            for (String line : stdout().lines().toList()) {
                var m = RECORD.matcher(line);
                if (m.find()) {
                    records.add(new Record(Long.parseLong(m.group(1)), m.group(2), Long.parseLong(m.group(3)),
                            m.group(4), m.group(5), line));
                }
            }
            return records;
        }

        /** Waits for the first record that {@code matches}; fails, showing the log, after {@code deadline}. */
        Record awaitRecord(Duration deadline, Predicate<Record> matches) {
            var found = new AtomicReference<Record>();
            boolean logged = await(deadline, () -> {
                records().stream().filter(matches).findFirst().ifPresent(found::set);
                return found.get() != null;
            });
            assertThat(logged).as("./server logs the record awaited within %s; stdout so far:%n%s", deadline, stdout())
                    .isTrue();
            return found.get();
        }

        /** Waits (up to 60 s) for connection {@code n}'s record, written when it ends. */
        Record awaitRecord(long n) {
            return awaitRecord(RECORD_DEADLINE, r -> r.conn() == n);
        }

        /** Waits for the first log line that contains {@code fragment} and returns it. */
        String awaitLine(Duration deadline, String fragment) {
            var found = new AtomicReference<String>();
            boolean logged = await(deadline, () -> {
                stdout().lines().filter(l -> l.contains(fragment)).findFirst().ifPresent(found::set);
                return found.get() != null;
            });
            assertThat(logged).as("./server logs \"%s\" within %s; stdout so far:%n%s", fragment, deadline, stdout())
                    .isTrue();
            return found.get();
        }

        /** Waits for connection {@code n}'s record and returns its log line. */
        String awaitLogLine(long n, Duration deadline) {
            return awaitRecord(deadline, r -> r.conn() == n).line();
        }

        /** The log line of connection {@code n}, or null while it has none. */
        String logLine(long n) {
            return records().stream().filter(r -> r.conn() == n).map(Record::line).findFirst().orElse(null);
        }

        /** The connection numbers recorded so far. */
        List<Long> loggedNumbers() {
            return records().stream().map(Record::conn).toList();
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

        /** The server's JVM: the launcher's child running java. */
        ProcessHandle jvm() {
            return proc.jvm();
        }

        /**
         * SIGKILL to the JVM (no stop in order, no ERROR written, no multipart
         * upload aborted: a crash), then waits until it and its launcher are gone.
         */
        void killJvm() {
            ProcessHandle jvm = jvm();
            Ferry.signal(jvm.pid(), "KILL");
            assertThat(await(Duration.ofSeconds(10), () -> !jvm.isAlive() && !process.isAlive()))
                    .as("the killed JVM and its launcher are gone").isTrue();
        }

        /**
         * Stalls the server: its JVM is stopped (SIGSTOP) until the returned
         * handle is closed (SIGCONT); meanwhile the kernel takes bytes for it
         * only until the socket buffers are full.
         */
        Stall stall() {
            ProcessHandle jvm = jvm();
            Ferry.signal(jvm.pid(), "STOP");
            return () -> Ferry.signal(jvm.pid(), "CONT");
        }

        /** A stalled server, continued on close. */
        interface Stall extends AutoCloseable {
            @Override
            void close();
        }

        /** True while the launcher runs and the port listens. */
        boolean alive() {
            return process.isAlive() && listening(port);
        }

        /** Waits for the launcher to exit and returns its code; fails after the deadline. */
        int awaitExit(Duration deadline) throws InterruptedException {
            assertThat(process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS))
                    .as("./server exits within %s", deadline).isTrue();
            return process.exitValue();
        }

        /** Stops the server as a user would (SIGTERM) and returns its exit code (within 10 s). */
        int stop() throws InterruptedException {
            signal("TERM");
            return awaitExit(Duration.ofSeconds(10));
        }

        /**
         * Kills the launcher if still running and waits for its JVM, which
         * follows through the closed pipe (and may still be writing ERROR into
         * unfinished files until it has exited), then for the port to be free;
         * prints the logs into the test's output. They can still be read.
         */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            List<ProcessHandle> jvm = process.descendants().toList();
            kill(process);
            await(Duration.ofSeconds(10), () -> jvm.stream().noneMatch(ProcessHandle::isAlive));
            proc.close();
            await(Duration.ofSeconds(10), () -> !listening(port));
            System.out.printf("---- ./server %d %s: stdout ----%n%s---- stderr ----%n%s", port, target, stdout(),
                    stderr());
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
