package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A real {@code ./server OPTIONS... PORT TARGET} whose target is a string
 * (an {@code s3://bucket/prefix} URL, which a {@link Path} would mangle), as
 * {@link Ferry.Server} runs one for a directory. Knows its JVM (the
 * launcher's child), so that a test can SIGKILL the JVM itself: killing the
 * launcher only makes the JVM stop in order. {@link #close()} kills both.
 */
final class Receiver implements AutoCloseable {
    private static final Pattern LOGGED = Pattern.compile(" ferry: conn=(\\d+) ");

    final Process process;
    final int port;
    final String target;
    private final Path logs;

    private Receiver(Process process, int port, String target, Path logs) {
        this.process = process;
        this.port = port;
        this.target = target;
        this.logs = logs;
    }

    /** Starts the receiver on a free port and waits until it listens (its first log line). */
    static Receiver start(List<String> options, String target, Map<String, String> env) throws IOException {
        int port = Ferry.freePort();
        Path logs = Files.createTempDirectory("ferry-receiver-");
        var command = new ArrayList<String>();
        command.add(Ferry.ROOT.resolve("server").toString());
        command.addAll(options);
        command.addAll(List.of(Integer.toString(port), target));
        var builder = new ProcessBuilder(command).directory(Ferry.ROOT.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(logs.resolve("stdout").toFile()).redirectError(logs.resolve("stderr").toFile());
        builder.environment().putAll(env);
        var receiver = new Receiver(builder.start(), port, target, logs);
        if (!Ferry.await(Ferry.START_DEADLINE, () -> receiver.stdout().contains("listening on port ")
                || !receiver.process.isAlive())) {
            receiver.close();
            fail("./server %d %s did not listen within %s", port, target, Ferry.START_DEADLINE);
        }
        if (!receiver.process.isAlive()) {
            String err = receiver.stderr();
            receiver.close();
            fail("./server %d %s exited with %d: %s", port, target, receiver.process.exitValue(), err);
        }
        return receiver;
    }

    /** The receiver's JVM: the launcher's child running java. */
    ProcessHandle jvm() {
        var found = new java.util.concurrent.atomic.AtomicReference<ProcessHandle>();
        boolean started = Ferry.await(Duration.ofSeconds(10), () -> {
            process.descendants().filter(p -> p.info().command().map(c -> c.endsWith("/java")).orElse(false))
                    .findFirst().ifPresent(found::set);
            return found.get() != null;
        });
        assertThat(started).as("the launcher of port %d runs a JVM", port).isTrue();
        return found.get();
    }

    /**
     * SIGKILL to the JVM (no stop in order, no ERROR written, no multipart
     * upload aborted: a crash), then waits until it and its launcher are gone.
     */
    void killJvm() {
        ProcessHandle jvm = jvm();
        Ferry.signal(jvm.pid(), "KILL");
        assertThat(Ferry.await(Duration.ofSeconds(10), () -> !jvm.isAlive() && !process.isAlive()))
                .as("the killed JVM and its launcher are gone").isTrue();
    }

    boolean alive() {
        return process.isAlive() && Ferry.listening(port);
    }

    /** Stops the receiver as a user would (SIGTERM) and returns the launcher's exit code. */
    int stop() throws InterruptedException {
        Ferry.signal(process.pid(), "TERM");
        assertThat(process.waitFor(10, TimeUnit.SECONDS)).as("./server %d exits within 10 s", port).isTrue();
        return process.exitValue();
    }

    String stdout() {
        return Ferry.readOrEmpty(logs.resolve("stdout"));
    }

    String stderr() {
        return Ferry.readOrEmpty(logs.resolve("stderr"));
    }

    /** The connection numbers of the uploads this receiver logged (each logged once it ended). */
    List<Long> loggedNumbers() {
        var numbers = new ArrayList<Long>();
        var m = LOGGED.matcher(stdout());
        while (m.find()) {
            numbers.add(Long.parseLong(m.group(1)));
        }
        return numbers;
    }

    /** The log line of connection {@code n}, or null. */
    String logLine(long n) {
        String mark = " ferry: conn=" + n + " ";
        return stdout().lines().filter(l -> l.contains(mark)).findFirst().orElse(null);
    }

    /** Kills the launcher and the JVM if still running, and deletes the logs. */
    @Override
    public void close() {
        List<ProcessHandle> tree = process.descendants().toList();
        tree.forEach(ProcessHandle::destroyForcibly);
        Ferry.kill(process);
        Ferry.await(Duration.ofSeconds(10), () -> tree.stream().noneMatch(ProcessHandle::isAlive));
        Ferry.deleteQuietly(logs.resolve("stdout"), logs.resolve("stderr"), logs);
    }
}
