package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A TLS receiver for the client: {@code tls_receiver.py} (Python's
 * {@code ssl} module) on 127.0.0.1, on a port the kernel picks, serving
 * {@code count} connections at once and saving connection i's bytes to
 * {@code dir/i.file}. Its {@link Ending} says whether it confirms with its
 * own {@code close_notify}; with a client CA it wants a client certificate.
 */
final class TlsReceiver implements AutoCloseable {
    static final Path SCRIPT = Ferry.ROOT.resolve("src/test/resources/ferry/it/tls_receiver.py");
    private static final Pattern LISTENING = Pattern.compile("listening (\\d+)");
    private static final Duration START = Duration.ofSeconds(30);

    /** How the receiver ends a connection once the sender's close_notify came. */
    enum Ending {
        /** Its own close_notify, then close: the TLS confirmation. */
        NOTIFY,
        /** close() without close_notify: a TCP FIN only. */
        SILENT,
        /** SO_LINGER 0: a TCP reset. */
        RESET,
        /** Reads nothing after the handshake: the sender's stall limit must end it. */
        STALL
    }

    private final Proc process;
    private final Path dir;
    private final int port;

    private TlsReceiver(Proc process, Path dir, int port) {
        this.process = process;
        this.dir = dir;
        this.port = port;
    }

    /**
     * Starts a receiver with {@code identity} as its certificate; {@code options}
     * are the script's ({@code --client-ca FILE}, {@code --max-tls 1.2},
     * {@code --count N}).
     */
    static TlsReceiver start(TestCerts.Pair identity, Path dir, Ending ending, String... options)
            throws IOException {
        Files.createDirectories(dir);
        var command = new ArrayList<>(List.of("python3", SCRIPT.toString(), identity.cert().toString(),
                identity.key().toString(), dir.toString(), ending.name().toLowerCase()));
        command.addAll(List.of(options));
        Proc process = Proc.start(command, Map.of(), null);
        var port = new int[1];
        boolean listening = Ferry.await(START, () -> {
            Matcher m = LISTENING.matcher(process.stdout());
            if (m.find()) {
                port[0] = Integer.parseInt(m.group(1));
                return true;
            }
            return !process.isAlive();
        });
        if (!listening || port[0] == 0) {
            String err = process.stderr();
            process.close();
            throw new IOException("tls_receiver.py did not start: " + err);
        }
        return new TlsReceiver(process, dir, port[0]);
    }

    int port() {
        return port;
    }

    /** Connection {@code n}'s file. */
    Path file(int n) {
        return dir.resolve(n + ".file");
    }

    /**
     * Waits for the line the receiver prints when connection {@code n} ended
     * ({@code done N BYTES close_notify=yes|no VERSION}, {@code failed N REASON}), or
     * that it stalls it ({@code stalled N})
     * and returns it.
     */
    String awaitEnd(int n, Duration deadline) {
        Pattern line = Pattern.compile("(?m)^(done|failed|stalled) " + n + "( .*)?$");
        var found = new String[1];
        boolean ended = Ferry.await(deadline, () -> {
            Matcher m = line.matcher(process.stdout());
            if (m.find()) {
                found[0] = m.group();
                return true;
            }
            return false;
        });
        assertThat(ended).as("tls_receiver.py reports connection %d; stdout: %s; stderr: %s", n,
                process.stdout(), process.stderr()).isTrue();
        return found[0];
    }

    /** Everything the receiver printed. */
    String output() {
        return process.stdout() + process.stderr();
    }

    @Override
    public void close() {
        process.close();
    }
}
