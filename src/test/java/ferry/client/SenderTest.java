package ferry.client;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.common.UserError;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The client's {@link Sender} against a peer played by the test on a
 * loopback socket: what it sends, when it counts an upload as confirmed
 * (C1, C3), and when it gives up (C4).
 */
@Timeout(60)
class SenderTest {
    /** Every wait of the test itself: generous, for a loaded two-core machine. */
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    /** Sizes on either side of {@link Sender#SMALL_FILE}, which are sent two ways, and an empty file. */
    @ParameterizedTest
    @ValueSource(ints = {0, 500, Sender.SMALL_FILE + 1, 3 << 20})
    void sendsEveryByteThenHalfClosesAndWaitsForTheServersClose(int size) throws Exception {
        byte[] file = bytes(size);
        try (ServerSocket server = listen()) {
            Future<Long> sending = send(server, file, Duration.ofSeconds(10));
            try (Socket peer = accept(server)) {
                byte[] received = peer.getInputStream().readAllBytes(); // returns at the sender's half-close
                assertThat(received).isEqualTo(file);
                assertThat(sending.isDone()).as("the sender waits for the server's close").isFalse();
            }
            assertThat(sending.get(DEADLINE.toSeconds(), TimeUnit.SECONDS)).isEqualTo(size);
        }
    }

    @Test
    void aResetAfterTheLastByteIsAnErrorNotSuccess() throws Exception {
        byte[] file = bytes(100_000);
        try (ServerSocket server = listen()) {
            Future<Long> sending = send(server, file, Duration.ofSeconds(10));
            try (Socket peer = accept(server)) {
                assertThat(peer.getInputStream().readAllBytes()).isEqualTo(file);
                peer.setSoLinger(true, 0); // the close is a reset
            }
            assertThat(failure(sending)).hasMessage("all 100000 bytes sent, but the connection to "
                    + "127.0.0.1:" + server.getLocalPort() + " then failed: the server reset the connection;"
                    + " the upload is unconfirmed");
        }
    }

    /**
     * A peer that stops reading fails the upload within the stall limit:
     * <ol>
     *   <li>the peer accepts with a small receive buffer and never reads;</li>
     *   <li>the sender fills both buffers, then can send no more;</li>
     *   <li>1 s (its limit) later it gives up with an error, well within C4's 10 s.</li>
     * </ol>
     */
    @Test
    void aPeerThatNeverReadsFailsTheUploadWithinTheStallLimit() throws Exception {
        byte[] file = bytes(32 << 20); // far more than the two sockets' buffers hold
        try (ServerSocket server = new ServerSocket()) {
            server.setReceiveBufferSize(8192);
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            long start = System.nanoTime();
            Future<Long> sending = send(server, file, Duration.ofSeconds(1));
            try (Socket peer = accept(server)) {
                UserError error = failure(sending);
                long millis = (System.nanoTime() - start) / 1_000_000;
                assertThat(error).hasMessageStartingWith("the server took no data for 1 s (");
                assertThat(millis).as("gave up after its limit, within C4's").isBetween(1000L, 10_000L);
            }
        }
    }

    @Test
    void aPeerThatReadsAllButNeverClosesLeavesTheUploadUnconfirmed() throws Exception {
        byte[] file = bytes(1000);
        try (ServerSocket server = listen()) {
            Future<Long> sending = send(server, file, Duration.ofSeconds(1));
            try (Socket peer = accept(server)) {
                assertThat(peer.getInputStream().readAllBytes()).isEqualTo(file);
                assertThat(failure(sending)).hasMessage("all 1000 bytes sent, but 127.0.0.1:"
                        + server.getLocalPort() + " did not close the connection within 1 s;"
                        + " the upload is unconfirmed");
            }
        }
    }

    private static ServerSocket listen() throws IOException {
        return new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    }

    private static Socket accept(ServerSocket server) throws IOException {
        server.setSoTimeout((int) DEADLINE.toMillis());
        Socket peer = server.accept();
        peer.setSoTimeout((int) DEADLINE.toMillis());
        return peer;
    }

    /** Starts sending {@code content}, as a file, to {@code server} on a thread of its own. */
    private Future<Long> send(ServerSocket server, byte[] content, Duration timeout) throws IOException {
        Path file = Files.write(dir.resolve("file-" + content.length), content);
        var config = new ClientConfig("127.0.0.1", server.getLocalPort(), file, timeout, true, false);
        var sending = new FutureTask<>(new Sender(config)::send);
        Thread.ofPlatform().name("sender").daemon().start(sending);
        return sending;
    }

    /** The error the sender ended with; fails if it succeeded. */
    private static UserError failure(Future<Long> sending) throws InterruptedException {
        try {
            long sent = sending.get(DEADLINE.toSeconds(), TimeUnit.SECONDS);
            throw new AssertionError("the sender succeeded with " + sent + " bytes");
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(UserError.class);
            return (UserError) e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("the sender did not end within " + DEADLINE, e);
        }
    }

    private static byte[] bytes(int size) {
        var bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        return bytes;
    }
    /**
     * An address written out skips the lookup thread only where the JDK
     * itself asks no resolver: for every such string (a random search over
     * digits, dots, colons and a few letters, and named cases) the JDK's
     * result is the parsed address itself ({@code InetAddress.ofLiteral},
     * JDK 22+, which never looks up), or both fail; a name would resolve.
     */
    @Test
    void onlyAddressesTheJdkParsesSkipTheLookup() throws Exception {
        var ofLiteral = InetAddress.class.getMethod("ofLiteral", String.class);
        for (String literal : new String[] {"127.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::ffff:10.0.0.1",
                "fe80::1", "2001:db8::a:b"}) {
            assertThat(Sender.isAddressLiteral(literal)).as(literal).isTrue();
        }
        for (String name : new String[] {"localhost", "010.0.0.1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3",
                ".1.2.3.4", "1.2.3.4.", "", "g::1", "fe80::1%lo", "[::1]", "1.2.3.04", "example.com"}) {
            assertThat(Sender.isAddressLiteral(name)).as(name).isFalse();
        }
        var random = new Random(20261207);
        String alphabet = "0123456789.:abfg";
        int accepted = 0;
        for (int n = 0; n < 20_000; n++) {
            var host = new StringBuilder();
            for (int length = 1 + random.nextInt(16); host.length() < length; ) {
                host.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            if (!Sender.isAddressLiteral(host.toString())) {
                continue;
            }
            accepted++;
            Object parsed;
            try {
                parsed = ofLiteral.invoke(null, host.toString());
            } catch (java.lang.reflect.InvocationTargetException e) {
                parsed = null;
            }
            InetAddress[] got;
            try {
                got = InetAddress.getAllByName(host.toString());
            } catch (java.net.UnknownHostException e) {
                got = null;
            }
            if (parsed == null) {
                assertThat(got).as("%s: not an address, and the JDK says so without a lookup", host).isNull();
            } else {
                assertThat(got).as(host.toString()).containsExactly((InetAddress) parsed);
            }
        }
        assertThat(accepted).as("the search reached addresses").isGreaterThan(100);
    }
}
