package ferry.server;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/** Checks {@code <PORT> <FILE-DIR>} and prepares the directory. */
final class ServerArgs {
    static final String USAGE = "usage: ./server <PORT> <FILE-DIR>";

    private ServerArgs() {
    }

    static ServerConfig parse(String[] args, Map<String, String> env) throws UserError {
        if (args.length != 2) {
            throw UserError.usage("expected 2 arguments, got " + args.length + "\n" + USAGE);
        }
        int port = Arguments.port(args[0]);
        var idle = Arguments.timeout(env, ServerConfig.IDLE_TIMEOUT_VARIABLE, ServerConfig.DEFAULT_IDLE_TIMEOUT);
        int maxConnections = (int) Arguments.number(env, ServerConfig.MAX_CONNECTIONS_VARIABLE, "a whole number",
                1_000_000, defaultMaxConnections(openFileLimit()));
        long maxBytes = Arguments.number(env, ServerConfig.MAX_BYTES_VARIABLE, "a whole number of bytes",
                Long.MAX_VALUE, 0);
        var maxDuration = Duration.ofMillis(Arguments.number(env, ServerConfig.MAX_DURATION_VARIABLE,
                "a whole number of milliseconds", 999_999_999_999L, 0));
        long bufferMemory = Arguments.number(env, ServerConfig.BUFFER_MEMORY_VARIABLE, "a whole number of MiB",
                1 << 20, ServerConfig.DEFAULT_BUFFER_MEMORY >> 20) << 20;
        return new ServerConfig(port, directory(args[1]), idle, maxConnections, maxBytes, maxDuration,
                bufferMemory);
    }

    /**
     * Uploads served at once when {@code FERRY_MAX_CONNECTIONS} is not set: each
     * takes two descriptors (socket and file), and {@link #RESERVED_DESCRIPTORS}
     * stay for the JVM itself, so that the limit is met before the process runs
     * out of descriptors.
     */
    static int defaultMaxConnections(long openFileLimit) {
        return (int) Math.max(1, Math.min(1_000_000, (openFileLimit - RESERVED_DESCRIPTORS) / 2));
    }

    /** Descriptors kept for the JVM (its jars, standard streams, selectors, pipes) and the listening socket. */
    static final int RESERVED_DESCRIPTORS = 64;

    /** The soft limit on open files, from /proc/self/limits (the JVM raises it to the hard limit at start). */
    static long openFileLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    return soft.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(soft);
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or an unexpected format: fall through to a common default.
        }
        return 1024;
    }

    /**
     * Checks that the directory can be used, without creating or touching
     * anything (the server creates it only once it has bound its port): an
     * existing one must be a writable directory; for a missing one, the
     * nearest existing parent must be.
     */
    static Path directory(String text) throws UserError {
        if (text.isEmpty()) {
            throw UserError.usage("invalid directory \"\": must not be empty");
        }
        Path dir;
        try {
            dir = Path.of(text).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            throw UserError.usage("invalid directory " + Arguments.quote(text) + ": " + e.getReason());
        }
        Path existing = dir;
        while (existing != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            throw UserError.usage("cannot create directory " + Arguments.quote(text) + ": no such file or directory");
        }
        if (!Files.isDirectory(existing)) {
            throw UserError.usage(existing.equals(dir)
                    ? "directory " + Arguments.quote(text) + " is not a directory"
                    : "cannot create directory " + Arguments.quote(text) + ": " + existing + " is not a directory");
        }
        if (!Files.isWritable(existing) || !Files.isExecutable(existing)) {
            throw UserError.usage(existing.equals(dir)
                    ? "directory " + Arguments.quote(text) + " is not writable: permission denied"
                    : "cannot create directory " + Arguments.quote(text) + ": permission denied");
        }
        return dir;
    }
}
