package ferry.server;

import java.nio.file.Path;
import java.time.Duration;

/**
 * What the server needs to run.
 *
 * @param port        TCP port to listen on, all interfaces
 * @param directory   where N.file goes
 * @param idleTimeout a connection silent for longer is aborted; default 10 s
 */
record ServerConfig(int port, Path directory, Duration idleTimeout) {
    /** The spec's idle limit (S6). */
    static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(10);
    /** Environment variable that shortens the idle limit, in milliseconds (for tests). */
    static final String IDLE_TIMEOUT_VARIABLE = "FERRY_IDLE_TIMEOUT_MS";
}
