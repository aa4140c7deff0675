package ferry.server;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The read end of the pipe from {@code ./server}, whose end of file asks the
 * server to stop: the launcher closes its end on SIGTERM, SIGQUIT, SIGINT or
 * SIGHUP, and the kernel closes it if the launcher dies, even by SIGKILL.
 *
 * <p>The launcher hands the pipe over on a descriptor of its choosing, named
 * by {@code -Dferry.parentPipe=N}, so that standard input stays whatever the
 * launcher's was (a socket, under systemd's socket activation). Java cannot
 * read an inherited descriptor by number, so the pipe is opened again through
 * {@code /proc/self/fd/N}. Opening a pipe read-only waits until it has a
 * writer, which would be for ever if the launcher were already gone; so it is
 * first opened read-write (which never waits, and makes this process a writer
 * for a moment), then read-only, and the read-write one is closed: from then
 * on the launcher is the only writer, and its end closing is end of file here.
 */
final class ParentPipe {
    private ParentPipe() {
    }

    /**
     * The pipe named by {@code spec}: a descriptor number, or {@code stdin}
     * (standard input is the pipe); null when {@code spec} is null or empty.
     */
    static InputStream open(String spec) throws IOException {
        if (spec == null || spec.isEmpty()) {
            return null;
        }
        if (spec.equals("stdin")) {
            return System.in;
        }
        int fd;
        try {
            fd = Integer.parseInt(spec);
        } catch (NumberFormatException e) {
            throw new IOException("ferry.parentPipe must be a descriptor number or \"stdin\", not \"" + spec + "\"");
        }
        Path path = Path.of("/proc/self/fd", Integer.toString(fd));
        FileChannel writer = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            return Files.newInputStream(path);
        } finally {
            writer.close();
        }
    }

    /** Returns when the stream ends or fails: either way the parent is gone or wants us to stop. */
    static void awaitEnd(InputStream in) {
        byte[] discard = new byte[256];
        try {
            while (in.read(discard) >= 0) {
                // Nothing is expected on the pipe; whatever comes is ignored.
            }
        } catch (IOException e) {
            // Same as end of file.
        }
    }
}
