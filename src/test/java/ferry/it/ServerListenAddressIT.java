package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --listen ADDR} through ./server: the listening socket is of the
 * address's own family, as the kernel's tables show ({@code /proc/net/tcp}
 * holds IPv4 sockets, {@code tcp6} IPv6 ones), not an IPv6 socket on an
 * IPv4-mapped address.
 */
class ServerListenAddressIT {
    /** 127.0.0.1 as /proc/net/tcp writes it (the address's bytes in host order, little-endian here). */
    private static final String LOOPBACK4 = "0100007F";
    /** ::1 as /proc/net/tcp6 writes it (four 32-bit words, each in host order). */
    private static final String LOOPBACK6 = "00000000000000000000000001000000";

    @TempDir
    Path tmp;

    private static List<TcpTable.Row> listeners(String table, int port) {
        return TcpTable.rows(Path.of("/proc/net"), table).stream()
                .filter(row -> row.listening() && row.localPort() == port).toList();
    }

    /**
     * <ol>
     * <li>./server runs with {@code --listen 127.0.0.1}.</li>
     * <li>Its listening socket is in /proc/net/tcp, on 127.0.0.1; none is in tcp6 on that port (as an
     * IPv6 socket on ::ffff:127.0.0.1 would be).</li>
     * <li>An upload to 127.0.0.1 is saved.</li>
     * </ol>
     */
    @Test
    void anIpv4AddressGetsAnIpv4Socket() throws Exception {
        try (var server = Ferry.Server.start(List.of(), List.of("--listen", "127.0.0.1"), tmp.resolve("files"),
                Map.of())) {
            assertThat(listeners("tcp", server.port)).as("IPv4 listening sockets on port %d", server.port)
                    .extracting(TcpTable.Row::localAddress).containsExactly(LOOPBACK4);
            assertThat(listeners("tcp6", server.port)).as("IPv6 listening sockets on port %d", server.port).isEmpty();
            FaultPeer.upload(server.port, "over IPv4".getBytes(StandardCharsets.US_ASCII));
            assertThat(server.file(1)).hasContent("over IPv4");
        }
    }

    /**
     * <ol>
     * <li>./server runs with {@code --listen ::1}.</li>
     * <li>Its listening socket is in /proc/net/tcp6, on ::1; none is in tcp on that port.</li>
     * <li>An upload to ::1 is saved; a connection to 127.0.0.1 on that port is refused.</li>
     * </ol>
     */
    @Test
    void anIpv6AddressGetsAnIpv6SocketThatTakesNoIpv4Connection() throws Exception {
        try (var server = Ferry.Server.start(List.of(), List.of("--listen", "::1"), tmp.resolve("files"),
                Map.of())) {
            assertThat(listeners("tcp6", server.port)).as("IPv6 listening sockets on port %d", server.port)
                    .extracting(TcpTable.Row::localAddress).containsExactly(LOOPBACK6);
            assertThat(listeners("tcp", server.port)).as("IPv4 listening sockets on port %d", server.port).isEmpty();
            FaultPeer.upload(null, Ferry.loopback(true), server.port, "over IPv6".getBytes(StandardCharsets.US_ASCII));
            assertThat(server.file(1)).hasContent("over IPv6");
            assertThatThrownBy(() -> {
                try (var socket = new Socket()) {
                    socket.connect(new InetSocketAddress(Ferry.loopback(false), server.port), 10_000);
                }
            }).isInstanceOf(ConnectException.class);
        }
    }
}
