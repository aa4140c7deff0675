package ferry.server;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;

/** Raw-socket senders for the in-process tests. */
final class Uploads {
    private Uploads() {
    }

    /** How a sender saw its upload end. */
    enum End {
        /** The server closed gracefully after the half-close: the upload is confirmed. */
        CONFIRMED,
        /** The server reset the connection: the upload failed. */
        RESET,
        /** Neither within the deadline. */
        NO_ANSWER
    }

    /** Sends {@code data}, half-closes and waits up to {@code deadline} for the server's end. */
    static End send(Socket socket, byte[] data, Duration deadline) throws IOException {
        try {
            socket.getOutputStream().write(data);
            socket.shutdownOutput();
        } catch (SocketException e) {
            return End.RESET; // reset while still sending
        }
        return awaitEnd(socket, deadline);
    }

    /** Waits up to {@code deadline} for the server to close (confirm) or reset the connection. */
    static End awaitEnd(Socket socket, Duration deadline) throws IOException {
        socket.setSoTimeout((int) Math.max(1, deadline.toMillis()));
        InputStream in = socket.getInputStream();
        try {
            while (true) {
                if (in.read() < 0) {
                    return End.CONFIRMED;
                }
            }
        } catch (java.net.SocketTimeoutException e) {
            return End.NO_ANSWER;
        } catch (SocketException e) {
            return End.RESET;
        }
    }

    /** One upload of {@code data} on a new connection, with a 10 s deadline. */
    static End upload(int port, byte[] data) throws IOException {
        try (var socket = new Socket("127.0.0.1", port)) {
            return send(socket, data, Duration.ofSeconds(10));
        }
    }
}
