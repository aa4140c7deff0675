package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The senders of the scale-out tests, each a real peer run as a process:
 * {@code nc -N} (OpenBSD netcat: half-closes at the end of its input, then
 * waits for the receiver's close), the real {@code ./client}, and
 * {@code sender.py} (Python's plain socket, {@code shutdown(SHUT_WR)}, read
 * until EOF; or a pattern generated while sent, for sizes no test should
 * write to disk).
 */
final class Senders {
    static final Path PYTHON_SENDER = Ferry.ROOT.resolve("src/test/resources/ferry/it/sender.py");
    private static final Duration DEADLINE = Duration.ofSeconds(120);

    private Senders() {
    }

    /** The tools that send a file. */
    enum Tool {
        NC, CLIENT, PYTHON;

        /** Sends {@code file} to 127.0.0.1:{@code port} and waits (at most 120 s) for the tool to exit. */
        Ferry.Result send(int port, Path file) throws IOException, InterruptedException {
            return switch (this) {
                case NC -> Ferry.exec(List.of("nc", "-N", "127.0.0.1", Integer.toString(port)), Map.of(), file, DEADLINE);
                case CLIENT -> Ferry.run("client", List.of("127.0.0.1", Integer.toString(port), file.toString()), Map.of(),
                        DEADLINE);
                case PYTHON -> Ferry.exec(List.of("python3", PYTHON_SENDER.toString(), "127.0.0.1", Integer.toString(port),
                        "file", file.toString()), Map.of(), null, DEADLINE);
            };
        }
    }

    /** Runs sender.py in {@code mode} with {@code args} to completion (pattern mode: prints its SHA-256). */
    static Ferry.Result python(int port, String mode, Object... args) throws IOException, InterruptedException {
        var command = new ArrayList<>(List.of("python3", PYTHON_SENDER.toString(), "127.0.0.1", Integer.toString(port), mode));
        for (Object arg : args) {
            command.add(arg.toString());
        }
        return Ferry.exec(command, Map.of(), null, DEADLINE);
    }

    /** The "sha256 HEX" that sender.py printed, or null. */
    static String sha256Of(Ferry.Result result) {
        return result.stdout().lines().filter(l -> l.startsWith("sha256 ")).map(l -> l.substring(7)).findFirst()
                .orElse(null);
    }

    /**
     * sender.py in an interactive mode ({@code hold}, {@code reset},
     * {@code idle}), started without waiting: the test sees when it has sent
     * ({@link #awaitSent}) and tells it when to go on ({@link #proceed}).
     */
    static final class Interactive implements AutoCloseable {
        private final Proc process;

        private Interactive(Proc process) {
            this.process = process;
        }

        static Interactive start(int port, String mode, Object... args) throws IOException {
            var command = new ArrayList<>(List.of("python3", PYTHON_SENDER.toString(), "127.0.0.1", Integer.toString(port),
                    mode));
            for (Object arg : args) {
                command.add(arg.toString());
            }
            return new Interactive(Proc.start(command, Map.of(), ProcessBuilder.Redirect.PIPE));
        }

        /** Waits until the sender has handed all its first bytes to the kernel. */
        Interactive awaitSent(Duration deadline) {
            boolean sent = Ferry.await(deadline, () -> process.stdout().lines().anyMatch("sent"::equals)
                    || !process.isAlive());
            assertThat(sent && process.isAlive()).as("sender.py sent its bytes within %s; stdout %s stderr %s", deadline,
                    process.stdout(), process.stderr()).isTrue();
            return this;
        }

        /** Lets the sender go on (hold: send the rest; reset: reset now). */
        void proceed() throws IOException {
            OutputStream in = process.stdin();
            in.write("go\n".getBytes(StandardCharsets.US_ASCII));
            in.flush();
        }

        Ferry.Result awaitExit(Duration deadline) throws InterruptedException {
            return process.awaitExit(deadline);
        }

        @Override
        public void close() {
            process.close();
        }
    }
}
