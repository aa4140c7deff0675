package ferry.server.numbering;

import java.io.IOException;

/**
 * Hands out connection numbers, called by the accept thread once per
 * accepted connection, in accept order.
 *
 * <p>A counter may block (a remote one refilling its block of numbers) and
 * may fail with {@link IOException} or a {@link RuntimeException}: the accept
 * thread then logs the failure, keeps the accepted connection, backs off and
 * asks again, so a counter that is down delays new uploads without losing one.
 */
public interface ConnectionCounter extends AutoCloseable {
    long next() throws IOException;

    /** Releases what the counter holds (a thread, a database connection); nothing by default. */
    @Override
    default void close() {
    }
}
