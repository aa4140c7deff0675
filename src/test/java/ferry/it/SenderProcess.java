package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A sending command started without waiting for it: the real {@code ./client}
 * (directly, or at the end of a {@code bash -c} pipeline) with its standard
 * input a pipe the test writes and keeps open, a file, or {@code /dev/null}.
 * The test can signal it mid-upload; {@link #close()} kills it and everything
 * it started.
 *
 * <p>Commands run under {@code env --default-signal=INT}: a process started
 * in the background of a non-interactive shell inherits SIGINT ignored, and
 * the JVM keeps an ignored SIGINT ignored, so a test run from such a shell
 * could not interrupt the client otherwise.
 */
final class SenderProcess implements AutoCloseable {
    private final Process process;
    private final Path stdout;
    private final Path stderr;
    private final long startedAt = System.nanoTime();
    private long exitedAt;

    private SenderProcess(Process process, Path stdout, Path stderr) {
        this.process = process;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    /** {@code ./client host port file}, its standard input a pipe the test holds ({@link #stdin()}). */
    static SenderProcess client(String host, int port, String file, Map<String, String> env) throws IOException {
        return start(clientCommand(host, port, file), env, ProcessBuilder.Redirect.PIPE);
    }

    /** {@code ./client host port file}, its standard input read from {@code input}. */
    static SenderProcess client(String host, int port, String file, Map<String, String> env, Path input)
            throws IOException {
        return start(clientCommand(host, port, file), env, ProcessBuilder.Redirect.from(input.toFile()));
    }

    /**
     * {@code bash -c script}, with {@code $CLIENT} the launcher's path and
     * {@code args} as {@code $1 ...}; standard input from /dev/null.
     */
    static SenderProcess bash(String script, List<String> args, Map<String, String> env) throws IOException {
        var command = new ArrayList<>(List.of("bash", "-c", script, "bash"));
        command.addAll(args);
        return start(command, env, ProcessBuilder.Redirect.from(new File("/dev/null")));
    }

    private static List<String> clientCommand(String host, int port, String file) {
        return List.of(Ferry.ROOT.resolve("client").toString(), host, Integer.toString(port), file);
    }

    private static SenderProcess start(List<String> command, Map<String, String> env,
            ProcessBuilder.Redirect input) throws IOException {
        var full = new ArrayList<>(List.of("env", "--default-signal=INT"));
        full.addAll(command);
        Path out = Files.createTempFile("ferry-sender-", ".out");
        Path err = Files.createTempFile("ferry-sender-", ".err");
        var builder = new ProcessBuilder(full).directory(Ferry.ROOT.toFile())
                .redirectInput(input).redirectOutput(out.toFile()).redirectError(err.toFile());
        builder.environment().putAll(env);
        builder.environment().put("CLIENT", Ferry.ROOT.resolve("client").toString());
        return new SenderProcess(builder.start(), out, err);
    }

    /** The pipe to the process's standard input (only for {@link #client(String, int, String, Map)}). */
    OutputStream stdin() {
        return process.getOutputStream();
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Sends {@code signal} ("KILL", "TERM", "INT") to the client's JVM: the
     * process itself, since {@code env} and the launcher exec it. Checks first
     * that the exec has happened, so the signal cannot land on the launcher.
     */
    void signalJvm(String signal) {
        boolean isJava = Ferry.await(Duration.ofSeconds(10), () -> process.toHandle().info().command()
                .map(c -> c.endsWith("/java")).orElse(false));
        assertThat(isJava).as("the client's process is the JVM").isTrue();
        Ferry.signal(process.pid(), signal);
    }

    /** Waits for the process to exit; fails (and kills it) if it outlives {@code deadline}. */
    Ferry.Result awaitExit(Duration deadline) throws IOException, InterruptedException {
        Ferry.Result result = Ferry.awaitExit(process, stdout, stderr, startedAt, deadline, "sender", this::close);
        exitedAt = startedAt + result.elapsed().toNanos();
        return result;
    }

    /** {@link System#nanoTime()} when {@link #awaitExit} saw the process exit. */
    long exitedAt() {
        return exitedAt;
    }

    /** Kills the process and whatever it started, if still running, and removes its output files. */
    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            // Already closed.
        }
        Ferry.kill(process);
        Ferry.deleteQuietly(stdout, stderr);
    }
}
