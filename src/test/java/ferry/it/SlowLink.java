package ferry.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;

/**
 * A TCP relay on 127.0.0.1 to another local port that passes bytes towards
 * it at a fixed rate (a slow link to a store, without a network namespace):
 * the upstream direction of all connections together is paced to
 * {@code bytesPerSecond}, the answers flow back unpaced.
 */
final class SlowLink extends Relay {
    private final long bytesPerSecond;
    /** When the bytes passed so far are due to have left, at the link's rate; never in the past when idle. */
    private long dueNanos = System.nanoTime();

    SlowLink(int target, long bytesPerSecond) throws IOException {
        super(target, "slow-link");
        this.bytesPerSecond = bytesPerSecond;
    }

    @Override
    void connected(Socket client, Socket server) {
        Thread.ofVirtual().start(() -> pump(client, server, true));
        Thread.ofVirtual().start(() -> pump(server, client, false));
    }

    private void pump(Socket from, Socket to, boolean paced) {
        byte[] buffer = new byte[16 * 1024];
        try {
            // The streams are not closed here: closing one would close its socket, both directions.
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            for (int n; (n = in.read(buffer)) > 0; ) {
                out.write(buffer, 0, n);
                if (paced) {
                    long wait = due(n) - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
            }
            to.shutdownOutput();
        } catch (IOException | InterruptedException e) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    /** Books {@code bytes} on the link: when they are due to have left (an idle link saves no credit). */
    private synchronized long due(int bytes) {
        dueNanos = Math.max(dueNanos, System.nanoTime()) + bytes * 1_000_000_000L / bytesPerSecond;
        return dueNanos;
    }
}
