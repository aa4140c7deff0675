package ferry.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The kernel's TCP socket tables, {@code /proc/net/tcp} and {@code tcp6}, read
 * without opening a connection (so no connection number is used up): who
 * listens on a port, on which address, and how many connections wait to be
 * accepted. Public for the in-process tests of {@code ferry.server}.
 */
public final class TcpTable {
    private static final String LISTEN = "0A";
    private static final String ESTABLISHED = "01";

    private TcpTable() {
    }

    /**
     * One row: the local address (hex, as the kernel writes it), port, state,
     * receive queue (for a listening socket: connections not yet accepted) and
     * socket inode.
     */
    record Row(String localAddress, int localPort, String state, int rxQueue, long inode) {
        boolean listening() {
            return state.equals(LISTEN);
        }

        /** Bound to the all-zero address (0.0.0.0 or ::). */
        boolean wildcard() {
            return localAddress.chars().allMatch(c -> c == '0');
        }
    }

    /** Every row of the tables under {@code net} ({@code /proc/net}, or {@code /proc/PID/net} for its namespace). */
    static List<Row> rows(Path net) {
        var rows = new ArrayList<Row>();
        for (String table : List.of("tcp", "tcp6")) {
            rows.addAll(rows(net, table));
        }
        return rows;
    }

    /** The rows of one table under {@code net}: {@code tcp} (IPv4 sockets) or {@code tcp6} (IPv6 sockets). */
    static List<Row> rows(Path net, String table) {
        var rows = new ArrayList<Row>();
        try (Stream<String> lines = Files.lines(net.resolve(table))) {
            lines.skip(1).map(line -> line.trim().split("\\s+")).forEach(f -> {
                int colon = f[1].lastIndexOf(':');
                rows.add(new Row(f[1].substring(0, colon), Integer.parseInt(f[1].substring(colon + 1), 16), f[3],
                        Integer.parseInt(f[4].substring(f[4].indexOf(':') + 1), 16), Long.parseLong(f[9])));
            });
        } catch (IOException | RuntimeException e) {
            // No such table (IPv6 off, or the process is gone): the other still counts.
        }
        return rows;
    }

    /** True while some socket in this network namespace listens on {@code port}. */
    static boolean listening(int port) {
        return rows(Path.of("/proc/net")).stream().anyMatch(r -> r.listening() && r.localPort() == port);
    }

    /** Connections the kernel holds in the accept queue of the sockets listening on {@code port}. */
    public static int acceptQueue(int port) {
        return rows(Path.of("/proc/net")).stream().filter(r -> r.listening() && r.localPort() == port)
                .mapToInt(Row::rxQueue).sum();
    }

    /**
     * The receive queue of each established connection whose local port is {@code port}: bytes that arrived
     * and that the process holding it has not read yet.
     */
    static List<Integer> receiveQueues(int port) {
        return rows(Path.of("/proc/net")).stream().filter(r -> r.state().equals(ESTABLISHED) && r.localPort() == port)
                .map(Row::rxQueue).toList();
    }

    /** True while a socket on the all-zero address listens on {@code port}. */
    static boolean wildcardListening(int port) {
        return rows(Path.of("/proc/net")).stream()
                .anyMatch(r -> r.listening() && r.wildcard() && r.localPort() == port);
    }

    /**
     * True while {@code process} or one of its descendants holds a socket that
     * listens on {@code port}, in its own network namespace: someone else's
     * listener on that port does not count.
     */
    static boolean listeningBy(ProcessHandle process, int port) {
        Set<Long> inodes = new HashSet<>();
        var tree = new ArrayList<ProcessHandle>();
        tree.add(process);
        process.descendants().forEach(tree::add);
        for (ProcessHandle handle : tree) {
            try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(handle.pid()), "fd"))) {
                fds.forEach(fd -> {
                    try {
                        String target = Files.readSymbolicLink(fd).toString();
                        if (target.startsWith("socket:[")) {
                            inodes.add(Long.parseLong(target.substring(8, target.length() - 1)));
                        }
                    } catch (IOException e) {
                        // Closed meanwhile.
                    }
                });
            } catch (IOException | RuntimeException e) {
                // Gone, or not ours to look into.
            }
        }
        return rows(Path.of("/proc", Long.toString(process.pid()), "net")).stream()
                .anyMatch(r -> r.listening() && r.localPort() == port && inodes.contains(r.inode()));
    }
}
