package ferry.it;

import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An independent receiver process ({@code nc}, {@code socat} or a few lines of
 * {@code python3}) that accepts one connection on loopback, saves its bytes to
 * a file until end of stream, then closes and exits.
 */
final class ReceiverProcess implements AutoCloseable {
    /** The receiving tools, each as a user would run it. */
    enum Tool {
        /** netcat-openbsd: with standard input at end of file it exits once the network side ends. */
        NC("nc"),
        SOCAT("socat"),
        PYTHON("python3");

        final String command;

        Tool(String command) {
            this.command = command;
        }

        List<String> command(boolean ipv6, int port, Path out) {
            String p = Integer.toString(port);
            return switch (this) {
                case NC -> ipv6 ? List.of("nc", "-6", "-l", "::1", p) : List.of("nc", "-l", "127.0.0.1", p);
                case SOCAT -> List.of("socat", "-u",
                        (ipv6 ? "TCP6-LISTEN:" + p + ",bind=[::1]" : "TCP-LISTEN:" + p + ",bind=127.0.0.1")
                                + ",reuseaddr",
                        "OPEN:" + out + ",creat,trunc");
                case PYTHON -> List.of("python3", "-c", PYTHON_RECEIVER, ipv6 ? "::1" : "127.0.0.1", p,
                        out.toString(), "0");
            };
        }
    }

    /**
     * Accepts one connection, writes what arrives to a file (unbuffered, so its
     * size shows the progress), sleeping the given seconds after each read of at
     * most 64 KiB; closes at end of stream. Arguments: address, port, file, delay.
     */
    static final String PYTHON_RECEIVER = """
            import socket, sys, time
            host, port, out, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as listener:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((host, port))
                listener.listen(1)
                conn, _ = listener.accept()
                with conn, open(out, "wb", buffering=0) as f:
                    while True:
                        data = conn.recv(65536)
                        if not data:
                            break
                        f.write(data)
                        if delay:
                            time.sleep(delay)
            """;

    private final Process process;
    private final String description;
    private final Path stderr;

    private ReceiverProcess(Process process, String description, Path stderr) {
        this.process = process;
        this.description = description;
        this.stderr = stderr;
    }

    /** Starts {@code tool} on loopback and waits until it listens on {@code port}. */
    static ReceiverProcess start(Tool tool, boolean ipv6, int port, Path out) throws IOException {
        return start(tool.command(ipv6, port, out), port, out);
    }

    /** The Python receiver on 127.0.0.1, sleeping {@code delaySeconds} after each read: a slow reader. */
    static ReceiverProcess slowPython(int port, Path out, double delaySeconds) throws IOException {
        return start(List.of("python3", "-c", PYTHON_RECEIVER, "127.0.0.1", Integer.toString(port),
                out.toString(), Double.toString(delaySeconds)), port, out);
    }

    private static ReceiverProcess start(List<String> command, int port, Path out) throws IOException {
        Path err = Files.createTempFile("ferry-receiver-", ".err");
        // nc writes what it receives to standard output; the others write the file themselves.
        Path stdout = command.get(0).equals("nc") ? out : Path.of("/dev/null");
        var process = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(stdout.toFile()).redirectError(err.toFile())
                .start();
        String description = command.get(0) + " on port " + port;
        var receiver = new ReceiverProcess(process, description, err);
        if (!Ferry.await(Duration.ofSeconds(10), () -> Ferry.listening(port) || !process.isAlive())
                || !process.isAlive()) {
            String why = receiver.stderr();
            receiver.close();
            fail("%s did not listen within 10 s: %s", description, why);
        }
        return receiver;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Waits for the receiver to exit on its own and returns its exit code. */
    int awaitExit(Duration deadline) throws InterruptedException {
        if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
            fail("%s still running after %s: %s", description, deadline, stderr());
        }
        return process.exitValue();
    }

    String stderr() {
        return Ferry.readOrEmpty(stderr);
    }

    @Override
    public void close() {
        Ferry.kill(process);
        Ferry.deleteQuietly(stderr);
    }
}
