package ferry.server.report;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The upload hook.
 *
 * @param command     a shell command line; the file's path is appended as its last argument
 * @param jobs        hooks running at once, at most; more wait their turn
 * @param timeout     a hook still running after this is ended (SIGTERM, then SIGKILL)
 * @param environment names of the server's environment variables passed on to the hook besides
 *                    {@link Hook#ALLOWED} ({@code --on-upload-env}); none by default
 */
public record HookOptions(String command, int jobs, Duration timeout, List<String> environment) {
    public HookOptions {
        environment = List.copyOf(environment);
    }

    /** A hook that gets only the allowed variables and its record's. */
    public HookOptions(String command, int jobs, Duration timeout) {
        this(command, jobs, timeout, List.of());
    }

    /**
     * {@code NAME,...}: the names of variables to pass on to hooks, each
     * letters, digits and {@code _}, not starting with a digit (as the shell
     * takes them); blanks around a name are ignored.
     */
    public static List<String> environment(String label, String text) throws UserError {
        var names = new ArrayList<String>();
        for (String part : text.split(",", -1)) {
            String name = part.strip();
            if (!isName(name)) {
                throw UserError.usage("invalid " + label + " " + Arguments.quote(text) + ": "
                        + (name.isEmpty() ? "an empty name" : Arguments.quote(name) + " is not a variable's name")
                        + "; must be NAME,... (letters, digits and _, e.g. HOOK_TOKEN,http_proxy)");
            }
            if (!names.contains(name)) {
                names.add(name);
            }
        }
        return names;
    }

    private static boolean isName(String name) {
        if (name.isEmpty() || Character.isDigit(name.charAt(0))) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
                return false;
            }
        }
        return true;
    }
}
