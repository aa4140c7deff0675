package ferry.it;


import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A {@code ./client} started without waiting for it, so that a test can play
 * the receiver in the same thread and watch the client while it does.
 * {@link Ferry#run} is the blocking form of the same.
 */
final class ClientProcess implements AutoCloseable {
    private final Process process;
    private final Path stdout;
    private final Path stderr;
    private final long startedAt;
    private long exitedAt;

    private ClientProcess(Process process, Path stdout, Path stderr, long startedAt) {
        this.process = process;
        this.stdout = stdout;
        this.stderr = stderr;
        this.startedAt = startedAt;
    }

    /** Starts {@code ./client host port file} with extra environment variables. */
    static ClientProcess start(String host, int port, Path file, Map<String, String> env) throws IOException {
        var command = new ArrayList<>(List.of(Ferry.ROOT.resolve("client").toString(), host,
                Integer.toString(port), file.toString()));
        Path out = Files.createTempFile("ferry-client-", ".out");
        Path err = Files.createTempFile("ferry-client-", ".err");
        var builder = new ProcessBuilder(command).directory(Ferry.ROOT.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        builder.environment().putAll(env);
        long startedAt = System.nanoTime();
        return new ClientProcess(builder.start(), out, err, startedAt);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Waits for the client to exit and returns what it did; fails (and kills it)
     * if it outlives {@code deadline}. {@link #exitedAt()} is set from here on.
     */
    Ferry.Result awaitExit(Duration deadline) throws IOException, InterruptedException {
        Ferry.Result result = Ferry.awaitExit(process, stdout, stderr, startedAt, deadline, "./client", this::close);
        exitedAt = startedAt + result.elapsed().toNanos();
        return result;
    }

    /** {@link System#nanoTime()} when {@link #awaitExit} saw the client exit, to within a few ms. */
    long exitedAt() {
        return exitedAt;
    }

    /** Kills the client if it is still running and removes its output files. */
    @Override
    public void close() {
        Ferry.kill(process);
        Ferry.deleteQuietly(stdout, stderr);
    }
}
