package ferry.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A TCP relay on 127.0.0.1 to an HTTP server on another local port that,
 * once {@link #loseNextAnswer armed}, lets the next request of a kind
 * through to the server but loses its answer: the relay reads the server's
 * response, throws it away and closes the client's connection, as a
 * keep-alive connection dropped at the wrong moment does. The client then
 * cannot know that its request succeeded.
 */
final class AnswerLosingLink extends Relay {
    /** The start of the request whose answer to lose (method, and a text its head holds), or null. */
    private final AtomicReference<String[]> armed = new AtomicReference<>();
    private final AtomicInteger lost = new AtomicInteger();

    AnswerLosingLink(int target) throws IOException {
        super(target, "answer-losing-link");
    }

    /**
     * The answer to the next request whose method is {@code method} and whose
     * head holds {@code text} (case aside) is lost.
     */
    void loseNextAnswer(String method, String text) {
        armed.set(new String[] {method + " ", text.toLowerCase(Locale.ROOT)});
    }

    /** Answers lost so far. */
    int lost() {
        return lost.get();
    }

    @Override
    void connected(Socket client, Socket server) {
        var losing = new AtomicBoolean();
        Thread.ofVirtual().start(() -> requests(client, server, losing));
        Thread.ofVirtual().start(() -> answers(server, client, losing));
    }

    /** Client to server: marks the connection whose request is the armed one. */
    private void requests(Socket client, Socket server, AtomicBoolean losing) {
        byte[] buffer = new byte[64 * 1024];
        try {
            InputStream in = client.getInputStream();
            OutputStream out = server.getOutputStream();
            for (int n; (n = in.read(buffer)) > 0; ) {
                String[] wanted = armed.get();
                if (wanted != null) {
                    String head = new String(buffer, 0, n, StandardCharsets.ISO_8859_1);
                    int end = head.indexOf("\r\n\r\n");
                    head = (end < 0 ? head : head.substring(0, end)).toLowerCase(Locale.ROOT);
                    if (head.startsWith(wanted[0].toLowerCase(Locale.ROOT)) && head.contains(wanted[1])
                            && armed.compareAndSet(wanted, null)) {
                        losing.set(true);
                    }
                }
                out.write(buffer, 0, n);
            }
        } catch (IOException e) {
            closeQuietly(server);
        }
    }

    /** Server to client: passes answers on, except the one to lose, after which both ends are closed. */
    private void answers(Socket server, Socket client, AtomicBoolean losing) {
        byte[] buffer = new byte[64 * 1024];
        try {
            InputStream in = server.getInputStream();
            OutputStream out = client.getOutputStream();
            for (int n; (n = in.read(buffer)) > 0; ) {
                if (losing.get()) {
                    lost.incrementAndGet();
                    closeQuietly(client);
                    closeQuietly(server);
                    return;
                }
                out.write(buffer, 0, n);
            }
        } catch (IOException e) {
            closeQuietly(client);
        }
    }
}
