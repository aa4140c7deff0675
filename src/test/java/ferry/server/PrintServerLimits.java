package ferry.server;

import java.util.Map;

/**
 * Run by {@link ServerArgsTest} in a child JVM under a descriptor limit the
 * test sets: prints the open-file limit the server reads and the connection
 * limit it derives from it by default, one a line.
 */
final class PrintServerLimits {
    private PrintServerLimits() {
    }

    public static void main(String[] args) throws Exception {
        System.out.println(ServerArgs.openFileLimit());
        System.out.println(ServerArgs.parse(new String[] {"8080", args[0]}, Map.of()).maxConnections());
    }
}
