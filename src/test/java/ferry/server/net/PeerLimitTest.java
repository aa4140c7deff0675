package ferry.server.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The per-peer table of {@code --max-per-peer}, with real loopback connections: the server's side of each
 * is what the table holds, as on the accept thread. Every way the server ends a connection closes its
 * channel (with a reset: lingering 0; or gracefully, for a complete upload), and each gives its place back.
 */
class PeerLimitTest {
    private static final InetAddress ONE = InetAddress.getLoopbackAddress();
    private ServerSocketChannel listening;
    private final List<SocketChannel> opened = new ArrayList<>();

    @BeforeEach
    void listen() throws IOException {
        listening = ServerSocketChannel.open().bind(new InetSocketAddress(ONE, 0));
    }

    @AfterEach
    void closeAll() throws IOException {
        for (SocketChannel channel : opened) {
            channel.close();
        }
        listening.close();
    }

    /** A connection from {@code from}; returns the server's side of it, as the accept thread gets it. */
    private SocketChannel accepted(String from) throws IOException {
        var client = SocketChannel.open();
        opened.add(client);
        client.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
        client.connect(listening.getLocalAddress());
        SocketChannel server = listening.accept();
        opened.add(server);
        return server;
    }

    private static InetAddress peer(SocketChannel server) throws IOException {
        return ((InetSocketAddress) server.getRemoteAddress()).getAddress();
    }

    private static InetAddress mapped(String v4) throws IOException {
        byte[] b = InetAddress.getByName(v4).getAddress();
        byte[] m = new byte[16];
        m[10] = (byte) 0xff;
        m[11] = (byte) 0xff;
        System.arraycopy(b, 0, m, 12, 4);
        return Inet6Address.getByAddress(null, m, -1);
    }

    @Test
    void anAddressHoldsAtMostTheLimitWhileOthersAreCountedApart() throws IOException {
        var limit = new PeerLimit(2);
        var first = accepted("127.0.0.1");
        assertThat(limit.admit(peer(first), first)).isTrue();
        var second = accepted("127.0.0.1");
        assertThat(limit.admit(peer(second), second)).isTrue();
        var third = accepted("127.0.0.1");
        assertThat(limit.admit(peer(third), third)).as("a third from the same address").isFalse();
        assertThat(limit.held(ONE)).as("a refused one is not counted").isEqualTo(2);
        var other = accepted("127.0.0.2");
        assertThat(limit.admit(peer(other), other)).as("another address has a count of its own").isTrue();
        assertThat(limit.held(InetAddress.getByName("127.0.0.2"))).isEqualTo(1);
    }

    @Test
    void anIpv4MappedAddressCountsAsItsIpv4Address() throws IOException {
        var limit = new PeerLimit(1);
        var first = accepted("127.0.0.1");
        assertThat(limit.admit(mapped("127.0.0.1"), first)).isTrue();
        var second = accepted("127.0.0.1");
        assertThat(limit.admit(InetAddress.getByName("127.0.0.1"), second)).isFalse();
        assertThat(limit.held(mapped("127.0.0.1"))).isEqualTo(1);
    }

    /**
     * <ol>
     * <li>With a limit of 1, an address's connection is admitted, and the next one refused.</li>
     * <li>The server closes the first: with a reset (how an idle timeout, a reset by the sender, a limit, a
     * stop and a refusal end), or gracefully (a complete upload).</li>
     * <li>The next connection from that address is admitted at once; after a hundred such rounds the
     * address still holds exactly one.</li>
     * </ol>
     */
    @Test
    void everyEndingGivesThePlaceBackAndNothingLeaks() throws IOException {
        var limit = new PeerLimit(1);
        var held = accepted("127.0.0.1");
        assertThat(limit.admit(ONE, held)).isTrue();
        for (int round = 0; round < 100; round++) {
            var waiting = accepted("127.0.0.1");
            assertThat(limit.admit(ONE, waiting)).as("round %d: while one is open", round).isFalse();
            waiting.setOption(StandardSocketOptions.SO_LINGER, 0);
            waiting.close(); // refused: reset
            if (round % 2 == 0) {
                held.setOption(StandardSocketOptions.SO_LINGER, 0); // idle timeout, reset, too large, stop
            } else {
                held.shutdownOutput(); // complete: the graceful close the sender waits for
            }
            held.close();
            held = accepted("127.0.0.1");
            assertThat(limit.admit(ONE, held)).as("round %d: once the one before is closed", round).isTrue();
            assertThat(limit.held(ONE)).isEqualTo(1);
        }
    }

    /** Addresses whose connections have all closed are swept: the table stays near the addresses that hold one. */
    @Test
    void addressesThatHoldNothingAreSwept() throws IOException {
        var limit = new PeerLimit(1);
        for (int i = 1; i <= 200; i++) {
            var channel = accepted("127.0.0.1");
            InetAddress address = InetAddress.getByAddress(new byte[] {10, 0, (byte) (i >> 8), (byte) i});
            assertThat(limit.admit(address, channel)).isTrue();
            channel.close();
        }
        assertThat(limit.addresses()).isLessThanOrEqualTo(64);
    }
}
