package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Any command of the tests, started from the repository root without waiting
 * for it: the launchers, senders and receivers. Its output goes to files read
 * at any time, its input is a file, {@code /dev/null} or a pipe the test holds,
 * every wait has a deadline, and {@link #close()} kills it and everything it
 * started, then deletes the files.
 */
final class Proc implements AutoCloseable {
    private final Process process;
    private final String name;
    private final Path logs;
    private final long startedAt;
    private long exitedAt;
    /** The output as it was when closed (its files are gone then). */
    private String closedStdout;
    private String closedStderr;

    private Proc(Process process, String name, Path logs, long startedAt) {
        this.process = process;
        this.name = name;
        this.logs = logs;
        this.startedAt = startedAt;
    }

    /** {@code ROOT/launcher args...}: the command of {@code ./client} or {@code ./server}. */
    static List<String> launcher(String launcher, List<String> args) {
        var command = new ArrayList<String>();
        command.add(Ferry.ROOT.resolve(launcher).toString());
        command.addAll(args);
        return command;
    }

    /** {@code ./client host port file} with extra environment, standard input /dev/null. */
    static Proc client(String host, int port, Path file, Map<String, String> env) throws IOException {
        return start(launcher("client", List.of(host, Integer.toString(port), file.toString())), env, null);
    }

    /**
     * Starts a sending command under {@code env --default-signal=INT}: a
     * process started in the background of a non-interactive shell inherits
     * SIGINT ignored, and the JVM keeps an ignored SIGINT ignored, so a test run
     * from such a shell could not interrupt the client otherwise. {@code $CLIENT}
     * is the client launcher's path, for scripts.
     */
    static Proc sender(List<String> command, Map<String, String> env, ProcessBuilder.Redirect stdin)
            throws IOException {
        var full = new ArrayList<>(List.of("env", "--default-signal=INT", "CLIENT=" + Ferry.ROOT.resolve("client")));
        full.addAll(command);
        return start(full, env, stdin);
    }

    /** {@code ./client host port file}'s command; the file may be "-" for standard input. */
    static List<String> clientCommand(String host, int port, String file) {
        return launcher("client", List.of(host, Integer.toString(port), file));
    }

    /** Starts {@code bash -c script} as a {@link #sender}, with {@code args} as {@code $1 ...}; stdin /dev/null. */
    static Proc bash(String script, List<String> args, Map<String, String> env) throws IOException {
        var command = new ArrayList<>(List.of("bash", "-c", script, "bash"));
        command.addAll(args);
        return sender(command, env, null);
    }

    /**
     * Starts {@code command} with extra environment variables and standard input from
     * {@code stdin}: null for /dev/null, {@link ProcessBuilder.Redirect#PIPE} for
     * {@link #stdin()}.
     */
    static Proc start(List<String> command, Map<String, String> env, ProcessBuilder.Redirect stdin)
            throws IOException {
        return start(command, env, stdin, null);
    }

    /** As {@link #start(List, Map, ProcessBuilder.Redirect)}, with standard output to {@code stdout} unless null. */
    static Proc start(List<String> command, Map<String, String> env, ProcessBuilder.Redirect stdin, Path stdout)
            throws IOException {
        Path logs = Files.createTempDirectory("ferry-proc-");
        var builder = new ProcessBuilder(command).directory(Ferry.ROOT.toFile())
                .redirectInput(stdin == null ? ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()) : stdin)
                .redirectOutput((stdout == null ? logs.resolve("stdout") : stdout).toFile())
                .redirectError(logs.resolve("stderr").toFile());
        builder.environment().putAll(env);
        long startedAt = System.nanoTime();
        return new Proc(builder.start(), String.join(" ", command), logs, startedAt);
    }

    /** Standard input from a file. */
    static ProcessBuilder.Redirect from(Path file) {
        return ProcessBuilder.Redirect.from(file.toFile());
    }

    Process process() {
        return process;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** The pipe to standard input (when started with {@link ProcessBuilder.Redirect#PIPE}). */
    OutputStream stdin() {
        return process.getOutputStream();
    }

    /** What the process wrote to standard output so far (all of it, once closed). */
    String stdout() {
        return closedStdout != null ? closedStdout : Ferry.readOrEmpty(logs.resolve("stdout"));
    }

    String stderr() {
        return closedStderr != null ? closedStderr : Ferry.readOrEmpty(logs.resolve("stderr"));
    }

    /** Sends a signal by name ("TERM", "KILL", ...) to the process itself. */
    void signal(String signal) {
        Ferry.signal(process.pid(), signal);
    }

    /**
     * The process's JVM: the process itself once a launcher has exec'd java
     * ({@code ./client}), else its child running java ({@code ./server});
     * waits up to 10 s for it.
     */
    ProcessHandle jvm() {
        var found = new AtomicReference<ProcessHandle>();
        boolean started = Ferry.await(Duration.ofSeconds(10), () -> {
            var tree = new ArrayList<ProcessHandle>(List.of(process.toHandle()));
            process.descendants().forEach(tree::add);
            tree.stream().filter(p -> p.info().command().map(c -> c.endsWith("/java")).orElse(false))
                    .findFirst().ifPresent(found::set);
            return found.get() != null;
        });
        assertThat(started).as("%s runs a JVM", name).isTrue();
        return found.get();
    }

    /** Sends a signal to the JVM ({@link #jvm()}), not to a launcher script around it. */
    void signalJvm(String signal) {
        Ferry.signal(jvm().pid(), signal);
    }

    /**
     * Waits for the exit and returns what the process did, timed from its
     * start; fails (and kills it) if it outlives {@code deadline}.
     */
    Ferry.Result awaitExit(Duration deadline) throws InterruptedException {
        if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
            String err = stderr();
            close();
            fail("%s still running after %s; stderr so far: %s", name, deadline, err);
        }
        exitedAt = System.nanoTime();
        return result();
    }

    /** The outcome of a process that has exited. */
    Ferry.Result result() {
        long end = exitedAt == 0 ? System.nanoTime() : exitedAt;
        return new Ferry.Result(process.exitValue(), stdout(), stderr(), Duration.ofNanos(end - startedAt));
    }

    /** {@link System#nanoTime()} when {@link #awaitExit} saw the exit, to within a few ms. */
    long exitedAt() {
        return exitedAt;
    }

    /**
     * Kills the process and whatever it started, if still running, and
     * deletes its output files; what they held can still be read.
     */
    @Override
    public void close() {
        if (closedStdout != null) {
            return;
        }
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            // Already closed.
        }
        Ferry.kill(process);
        closedStderr = stderr();
        closedStdout = stdout();
        Ferry.deleteQuietly(logs.resolve("stdout"), logs.resolve("stderr"), logs);
    }
}
