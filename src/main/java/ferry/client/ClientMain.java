package ferry.client;

import ferry.common.ExitCode;
import ferry.common.UserError;
import java.io.PrintStream;
import java.util.Map;

/**
 * {@code ./client <HOSTNAME-OR-IP> <PORT> <FILENAME>}: sends the file's bytes
 * over one TCP connection, half-closes, and exits 0 once the server has
 * closed its side too. Any failure is one {@code ERROR:} line on standard
 * error and a non-zero exit.
 */
public final class ClientMain {
    private ClientMain() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.getenv(), System.err).code());
    }

    /** Sends the file named in {@code args}; every failure is one line on {@code err}. */
    public static ExitCode run(String[] args, Map<String, String> env, PrintStream err) {
        try {
            ClientConfig config = ClientArgs.parse(args, env);
            new Sender(config).send();
            return ExitCode.OK;
        } catch (UserError e) {
            err.println(e.line());
            return e.exitCode();
        } catch (RuntimeException e) {
            err.println("ERROR: unexpected failure: " + e);
            return ExitCode.FAILURE;
        }
    }
}
