package ferry.client;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Where the bytes come from, opened: a file, or standard input for {@code -}.
 * A regular file that reports a size is <em>sized</em> and is sent with
 * {@code FileChannel.transferTo} (the kernel's {@code sendfile}) from its
 * current position to the size seen when it was opened; anything else (a
 * pipe, a FIFO, a character device, a socket, or a regular file that reports
 * size 0, as those under {@code /proc} do) is a stream, read to its end.
 */
final class Source implements Closeable {
    /** Where the kernel shows what the process's standard input is. */
    private static final Path STANDARD_INPUT_LINK = Path.of("/proc/self/fd/0");

    private final FileChannel channel;
    private final String name;
    private final long start;
    private final long end;

    private Source(FileChannel channel, String name, long start, long end) {
        this.channel = channel;
        this.name = name;
        this.start = start;
        this.end = end;
    }

    /**
     * Opens the configured file or standard input. Opening a FIFO waits, as
     * for any reader, until a writer opens it.
     */
    static Source open(ClientConfig config) throws UserError {
        if (config.fromStandardInput()) {
            @SuppressWarnings("resource") // closed with the Source: it closes standard input
            FileChannel channel = new FileInputStream(FileDescriptor.in).getChannel();
            return of(channel, "standard input", attributes(STANDARD_INPUT_LINK));
        }
        Path file = config.file();
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw UserError.usage("cannot open file " + Arguments.quote(file.toString()) + ": "
                    + Arguments.describe(e));
        }
        return of(channel, Arguments.quote(file.toString()), attributes(file));
    }

    private static Source of(FileChannel channel, String name, BasicFileAttributes attributes) throws UserError {
        try {
            if (!sized(attributes)) {
                return new Source(channel, name, 0, -1);
            }
            long size = channel.size();
            // Standard input may already have been read in part (a shell's read, dd): send the rest.
            long position = Math.min(channel.position(), size);
            return size > 0 ? new Source(channel, name, position, size) : new Source(channel, name, 0, -1);
        } catch (IOException e) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // Reported below.
            }
            throw UserError.failure("cannot read " + name + ": " + Arguments.describe(e));
        }
    }

    /** The attributes of what {@code path} leads to, or null if they cannot be read (then it is streamed). */
    private static BasicFileAttributes attributes(Path path) {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class);
        } catch (IOException e) {
            return null;
        }
    }

    /** True for a regular file that reports a size: sent with transferTo; everything else is streamed. */
    static boolean sized(BasicFileAttributes attributes) {
        return attributes != null && attributes.isRegularFile() && attributes.size() > 0;
    }

    FileChannel channel() {
        return channel;
    }

    /** How messages name it: the quoted file name, or "standard input". */
    String name() {
        return name;
    }

    /** True when the bytes from {@link #start()} to {@link #end()} are sent with transferTo. */
    boolean sized() {
        return end >= 0;
    }

    /** Position of the first byte to send (0, or standard input's position). */
    long start() {
        return start;
    }

    /** Position after the last byte to send, as seen when opened; -1 for a stream. */
    long end() {
        return end;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
