package ferry.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for the few tests that must name one before anything listens on it
 * (the launchers take no port 0): a port the kernel never hands out by itself,
 * and a port where a connection is refused for as long as the test holds it.
 * Public for the in-process tests of {@code ferry.server}.
 */
public final class Ports {
    /** The lowest port tried: above the usual services. */
    private static final int LOWEST = 20_000;

    private Ports() {
    }

    /**
     * A port no socket uses right now, below the kernel's ephemeral range, so
     * that no port-0 bind and no outgoing connection can take it meanwhile. Two
     * tests can still pick the same one: a server that then cannot bind it is
     * started again on another ({@link Ferry.Server}).
     */
    public static int unused() {
        int below = ephemeralLow();
        var used = TcpTable.rows(Path.of("/proc/net"));
        while (true) {
            int port = ThreadLocalRandom.current().nextInt(LOWEST, below);
            if (used.stream().noneMatch(row -> row.localPort() == port)) {
                return port;
            }
        }
    }

    private static int ephemeralLow() {
        try {
            // Not readString: a /proc file reports no size, and is read short.
            return Integer.parseInt(Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0)
                    .trim().split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return 32_768; // Linux's default
        }
    }

    /**
     * A port bound on every interface (IPv4 and IPv6) but not listening: a
     * connection to it is refused, and no one else can listen on it, until closed.
     */
    static final class Refusing implements AutoCloseable {
        private final Socket socket = new Socket();
        final int port;

        Refusing() {
            try {
                socket.bind(new InetSocketAddress(0));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            port = socket.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
