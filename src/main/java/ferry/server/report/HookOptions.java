package ferry.server.report;

import java.time.Duration;

/**
 * The upload hook.
 *
 * @param command a shell command line; the file's path is appended as its last argument
 * @param jobs    hooks running at once, at most; more wait their turn
 * @param timeout a hook still running after this is ended (SIGTERM, then SIGKILL)
 */
public record HookOptions(String command, int jobs, Duration timeout) {
}
