package ferry.server;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
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
        return new ServerConfig(port, directory(args[1]), idle);
    }

    /** Creates the directory if missing and checks that files can be made in it. */
    static Path directory(String text) throws UserError {
        if (text.isEmpty()) {
            throw UserError.usage("invalid directory \"\": must not be empty");
        }
        Path dir;
        try {
            dir = Path.of(text).toAbsolutePath();
        } catch (InvalidPathException e) {
            throw UserError.usage("invalid directory " + Arguments.quote(text) + ": " + e.getReason());
        }
        try {
            Files.createDirectories(dir);
        } catch (FileAlreadyExistsException e) {
            throw UserError.usage("directory " + Arguments.quote(text) + " is not a directory");
        } catch (IOException | SecurityException e) {
            throw UserError.usage("cannot create directory " + Arguments.quote(text) + ": " + reason(e));
        }
        if (!Files.isDirectory(dir)) {
            throw UserError.usage("directory " + Arguments.quote(text) + " is not a directory");
        }
        try {
            Files.delete(Files.createTempFile(dir, ".ferry-probe-", ".tmp"));
        } catch (IOException | SecurityException e) {
            throw UserError.usage("directory " + Arguments.quote(text) + " is not writable: " + reason(e));
        }
        return dir;
    }

    private static String reason(Exception e) {
        return e instanceof IOException io ? Arguments.describe(io) : "permission denied";
    }
}
