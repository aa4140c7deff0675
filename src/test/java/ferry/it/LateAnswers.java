package ferry.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A TCP relay on 127.0.0.1 to another local port that holds back every
 * answer by {@code delay}: on each connection, the first bytes the target
 * sends after the client has sent some (a request, or a request's body after
 * {@code 100 Continue}) wait that long before they pass; the rest of the
 * answer, and the requests, pass at once. In front of an S3 server, it is a
 * store that answers each request late (a slow or distant region).
 */
final class LateAnswers extends Relay {
    private final Duration delay;

    LateAnswers(int target, Duration delay) throws IOException {
        super(target, "late-answers");
        this.delay = delay;
    }

    @Override
    void connected(Socket client, Socket server) {
        var asked = new AtomicBoolean();
        Thread.ofVirtual().start(() -> pump(client, server, asked, false));
        Thread.ofVirtual().start(() -> pump(server, client, asked, true));
    }

    private void pump(Socket from, Socket to, AtomicBoolean asked, boolean answers) {
        byte[] buffer = new byte[16 * 1024];
        try {
            // The streams are not closed here: closing one would close its socket, both directions.
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            for (int n; (n = in.read(buffer)) > 0; ) {
                if (!answers) {
                    asked.set(true);
                } else if (asked.getAndSet(false)) {
                    Thread.sleep(delay); // the store's time to answer, not a wait for an event
                }
                out.write(buffer, 0, n);
            }
            to.shutdownOutput();
        } catch (IOException | InterruptedException e) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }
}
