package ferry.client;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Map;

/** Checks {@code <HOSTNAME-OR-IP> <PORT> <FILENAME>} before anything touches the network. */
final class ClientArgs {
    static final String USAGE = "usage: ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>";

    private ClientArgs() {
    }

    static ClientConfig parse(String[] args, Map<String, String> env) throws UserError {
        if (args.length != 3) {
            throw UserError.usage("expected 3 arguments, got " + args.length + "\n" + USAGE);
        }
        String host = host(args[0]);
        int port = Arguments.port(args[1]);
        Path file = file(args[2]);
        var timeout = Arguments.timeout(env, ClientConfig.TIMEOUT_VARIABLE, ClientConfig.DEFAULT_TIMEOUT);
        return new ClientConfig(host, port, file, timeout);
    }

    /** Accepts a name or an address; strips the brackets of "[::1]". */
    static String host(String text) throws UserError {
        String host = text;
        if (host.length() >= 2 && host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.isEmpty() || host.length() > 253 || !host.codePoints().allMatch(ClientArgs::hostCharacter)) {
            throw UserError.usage("invalid host " + Arguments.quote(text)
                    + ": must be a host name or an IPv4 or IPv6 address");
        }
        return host;
    }

    private static boolean hostCharacter(int c) {
        // Letters and digits of any script (IDN), '-', '.', '_', and ':' and '%' for IPv6 literals.
        return Character.isLetterOrDigit(c) || c == '-' || c == '.' || c == '_' || c == ':' || c == '%';
    }

    /**
     * Checks the file to send: {@code -} is standard input, unchecked; any
     * other must exist, be readable and not be a directory. Pipes, FIFOs and
     * devices are files too.
     */
    static Path file(String text) throws UserError {
        if (text.equals("-")) {
            return ClientConfig.STANDARD_INPUT;
        }
        if (text.isEmpty()) {
            throw UserError.usage("invalid file \"\": must not be empty");
        }
        Path file;
        try {
            file = Path.of(text);
        } catch (InvalidPathException e) {
            throw UserError.usage("invalid file " + Arguments.quote(text) + ": " + e.getReason());
        }
        if (!Files.exists(file)) {
            throw UserError.usage("file " + Arguments.quote(text) + " does not exist");
        }
        if (Files.isDirectory(file)) {
            throw UserError.usage("file " + Arguments.quote(text) + " is a directory");
        }
        if (!Files.isReadable(file)) {
            throw UserError.usage("file " + Arguments.quote(text) + " is not readable");
        }
        return file;
    }
}
