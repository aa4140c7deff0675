package ferry.it;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

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

    /** How often a start is tried again when another test took the port first. */
    private static final int ATTEMPTS = 5;

    private final Proc process;
    private final String description;
    final int port;

    private ReceiverProcess(Proc process, String description, int port) {
        this.process = process;
        this.description = description;
        this.port = port;
    }

    /** Starts {@code tool} on loopback, on a port it picks, and waits until the tool itself listens. */
    static ReceiverProcess start(Tool tool, boolean ipv6, Path out) throws IOException {
        return start(port -> tool.command(ipv6, port, out), out);
    }

    /** The Python receiver on 127.0.0.1, sleeping {@code delaySeconds} after each read: a slow reader. */
    static ReceiverProcess slowPython(Path out, double delaySeconds) throws IOException {
        return start(port -> List.of("python3", "-c", PYTHON_RECEIVER, "127.0.0.1", Integer.toString(port),
                out.toString(), Double.toString(delaySeconds)), out);
    }

    /**
     * The tools take no port 0: each attempt names an unused port, and a tool
     * that could not bind it (another test was first) is started again on another.
     */
    private static ReceiverProcess start(IntFunction<List<String>> command, Path out) throws IOException {
        for (int attempt = 1; ; attempt++) {
            int port = Ports.unused();
            List<String> line = command.apply(port);
            // nc writes what it receives to standard output; the others write the file themselves.
            var process = Proc.start(line, Map.of(), null, line.get(0).equals("nc") ? out : null);
            var receiver = new ReceiverProcess(process, line.get(0) + " on port " + port, port);
            if (Ferry.await(Duration.ofSeconds(10), () -> TcpTable.listeningBy(process.process().toHandle(), port)
                    || !process.isAlive()) && process.isAlive()) {
                return receiver;
            }
            String why = process.stderr();
            receiver.close();
            if (attempt == ATTEMPTS || !why.toLowerCase().contains("in use")) {
                fail("%s did not listen within 10 s: %s", receiver.description, why);
            }
        }
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Waits for the receiver to exit on its own and returns its exit code. */
    int awaitExit(Duration deadline) throws InterruptedException {
        return process.awaitExit(deadline).exitCode();
    }

    String stderr() {
        return process.stderr();
    }

    @Override
    public void close() {
        process.close();
    }
}
