package ferry.common;

/**
 * A failure to report to the user as one {@code ERROR:} line, and the exit code
 * that goes with it. The message is the text after the prefix.
 */
public final class UserError extends Exception {
    private static final long serialVersionUID = 1L;

    private final transient ExitCode exitCode;

    public UserError(ExitCode exitCode, String message) {
        super(message, null, false, false);
        this.exitCode = exitCode;
    }

    public static UserError usage(String message) {
        return new UserError(ExitCode.USAGE, message);
    }

    public static UserError failure(String message) {
        return new UserError(ExitCode.FAILURE, message);
    }

    public ExitCode exitCode() {
        return exitCode;
    }

    /** The line the user sees on standard error. */
    public String line() {
        return "ERROR: " + getMessage();
    }
}
