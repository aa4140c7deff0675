package ferry.common;

/** Exit codes of both programs, after picocli's conventions. */
public enum ExitCode {
    /** The server stopped on request, or the client's upload was confirmed. */
    OK(0),
    /** A runtime failure: network, server, file system. */
    FAILURE(1),
    /** The command line was wrong: argument count, port, host syntax, input file. */
    USAGE(2);

    private final int code;

    ExitCode(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }
}
