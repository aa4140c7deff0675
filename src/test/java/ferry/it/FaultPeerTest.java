package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ferry.it.FaultPeer.Policy;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/** The fault peer does what each policy says, as a sender on the other end sees it. */
class FaultPeerTest {
    private static final byte[] DATA = Ferry.randomBytes(1 << 20, 1);

    /** Writes {@link #DATA} and half-closes on a thread of its own; completes with the failure, if any. */
    private static CompletableFuture<Void> send(Socket socket) {
        return CompletableFuture.runAsync(() -> {
            try {
                socket.getOutputStream().write(DATA);
                socket.shutdownOutput();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    @Test
    void drainReadsEverythingAndClosesCleanly() throws Exception {
        try (var peer = FaultPeer.serve(Policy.drain()); var socket = FaultPeer.connect(peer.port())) {
            send(socket).get(10, TimeUnit.SECONDS);
            FaultPeer.awaitClose(socket);
            assertThat(peer.received().bytes()).isEqualTo(DATA.length);
            assertThat(peer.received().sha256()).isEqualTo(Checksums.sha256(DATA));
        }
    }

    @Test
    void resetAfterNResetsTheSenderOnceNBytesHaveArrived() throws Exception {
        try (var peer = FaultPeer.serve(Policy.drain().resetAfter(100_000)); var socket = FaultPeer.connect(peer.port())) {
            var sending = send(socket);
            assertThat(peer.received().bytes()).isBetween(100_000L, (long) DATA.length - 1);
            try {
                sending.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                return; // the reset cut the write itself
            }
            assertThatThrownBy(() -> socket.getInputStream().read()).isInstanceOf(SocketException.class)
                    .hasMessageContaining("reset");
        }
    }

    @Test
    void closeAfterNEndsTheConnectionOnceNBytesHaveArrived() throws Exception {
        try (var peer = FaultPeer.serve(Policy.drain().closeAfter(100_000)); var socket = FaultPeer.connect(peer.port())) {
            send(socket);
            assertThat(peer.received().bytes()).isBetween(100_000L, (long) DATA.length - 1);
        }
    }

    @Test
    void stallNeverReadsSoTheSenderBlocks() throws Exception {
        try (var peer = FaultPeer.serve(Policy.stall()); var socket = FaultPeer.connect(peer.port())) {
            var big = new byte[64 << 20]; // more than both socket buffers hold
            var sending = CompletableFuture.runAsync(() -> {
                try {
                    socket.getOutputStream().write(big);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            assertThatThrownBy(() -> sending.get(2, TimeUnit.SECONDS)).isInstanceOf(TimeoutException.class);
        }
    }

    @Test
    void trickleHoldsItsRate() throws Exception {
        try (var peer = FaultPeer.serve(Policy.trickle(1 << 20)); var socket = FaultPeer.connect(peer.port())) {
            long start = System.nanoTime();
            send(socket);
            FaultPeer.awaitClose(socket);
            assertThat(peer.received().bytes()).isEqualTo(DATA.length);
            // 1 MiB at 1 MiB/s, less what the buffers took at once.
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(Duration.ofMillis(500));
        }
    }

    @Test
    void aRefusingPortRefuses() throws Exception {
        try (var refusing = new Ports.Refusing()) {
            assertThatThrownBy(() -> FaultPeer.connect(refusing.port).close()).isInstanceOf(SocketException.class)
                    .hasMessageContaining("refused");
        }
    }
}
