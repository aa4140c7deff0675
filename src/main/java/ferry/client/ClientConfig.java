package ferry.client;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What the client needs to send its files (most often one).
 *
 * @param host    name or address literal (IPv6 without brackets)
 * @param port    the server's TCP port
 * @param file    the file to send, or {@link #STANDARD_INPUT}
 * @param timeout limit for connecting (lookup included), for each stall while
 *                sending, and for the server's confirmation; default 10 s
 * @param quiet   no progress line (nothing on standard error but an ERROR: line)
 * @param verbose one summary line once the server confirmed
 * @param files    every file to send, in order, each over a connection of its own; {@code file} is the first
 * @param parallel files sent at once at most (1: one after another)
 * @param tls      TLS for every connection, or null for plain TCP
 */
record ClientConfig(String host, int port, Path file, Duration timeout, boolean quiet, boolean verbose,
                    List<Path> files, int parallel, ClientTls tls) {
    /** One file, plain TCP. */
    ClientConfig(String host, int port, Path file, Duration timeout, boolean quiet, boolean verbose) {
        this(host, port, file, timeout, quiet, verbose, List.of(file), 1, null);
    }

    /** The same, to send {@code other} alone (one file of a batch). */
    ClientConfig withFile(Path other) {
        return new ClientConfig(host, port, other, timeout, quiet, verbose, List.of(other), 1, tls);
    }

    /** The spec's limit (C4). */
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** Environment variable (and {@code --timeout-ms}) that sets the limit, in milliseconds. */
    static final String TIMEOUT_VARIABLE = "FERRY_CLIENT_TIMEOUT_MS";
    /** {@code -} as the file: standard input, as for nc, socat and curl (a file named so is {@code ./-}). */
    static final Path STANDARD_INPUT = Path.of("-");

    /**
     * True for {@code -} only: compared by identity, since {@code Path.of("-/")}
     * equals {@code Path.of("-")} and may name a file called {@code -}.
     */
    boolean fromStandardInput() {
        return file == STANDARD_INPUT;
    }

    /** The server as people write it: host:port, with brackets around an IPv6 literal. */
    String server() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
