package ferry.it;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

/**
 * A TCP relay on 127.0.0.1 to another local port, for a test to put between
 * ferry and a store: each accepted connection gets its own connection to the
 * target, and a subclass moves the bytes between the two, its own way.
 * {@link #close()} ends every connection.
 */
abstract class Relay implements AutoCloseable {
    private final ServerSocket listener;
    private final int target;
    private final List<Socket> sockets = new ArrayList<>();

    Relay(int target, String name) throws IOException {
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.target = target;
        Thread.ofPlatform().daemon().name(name).start(this::accept);
    }

    int port() {
        return listener.getLocalPort();
    }

    /** A client connected and its connection to the target is made: start moving bytes (on threads of its own). */
    abstract void connected(Socket client, Socket server);

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket();
                server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), target), 5_000);
                synchronized (sockets) {
                    sockets.add(client);
                    sockets.add(server);
                }
                connected(client, server);
            } catch (IOException e) {
                // Closed, or the target refused: the client's connection ends with it.
            }
        }
    }

    static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // Already closed.
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        synchronized (sockets) {
            sockets.forEach(Relay::closeQuietly);
        }
    }
}
