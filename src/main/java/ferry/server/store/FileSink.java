package ferry.server.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Saves an upload to {@code <dir>/N.file}, written as the bytes arrive. */
public final class FileSink implements UploadSink {
    /** What an aborted upload's file holds: exactly these five bytes. */
    static final byte[] ERROR_MARKER = "ERROR".getBytes(StandardCharsets.US_ASCII);

    private final Path path;
    private final FileChannel channel;
    /** The directory, opened once at start, for {@code --fsync}; null without. */
    private final FileChannel directory;

    private FileSink(Path path, FileChannel channel, FileChannel directory) {
        this.path = path;
        this.channel = channel;
        this.directory = directory;
    }

    /** A factory that saves connection N to {@code dir/N.file}. */
    public static SinkFactory in(Path dir) {
        return in(dir, null);
    }

    /**
     * A factory that saves connection N to {@code dir/N.file}; with
     * {@code directory} (the directory {@code dir} itself, opened once by the
     * caller, for {@code --fsync}), a complete upload's data and its
     * directory entry are on stable storage before {@link #complete} returns,
     * so before the server confirms the upload to its sender.
     */
    static SinkFactory in(Path dir, FileChannel directory) {
        return new SinkFactory() {
            @Override
            public UploadSink open(long number) throws IOException {
                return create(dir.resolve(number + ".file"), directory);
            }

            @Override
            public String locate(long number) {
                return dir.resolve(number + ".file").toString();
            }

            @Override
            public void markError(long number) throws IOException {
                writeMarker(dir.resolve(number + ".file"));
            }
        };
    }

    /**
     * Creates the file at once, so it is visible from the start. It must not
     * exist: the server moved an earlier run's files aside at start, so one
     * that is there now (a link planted to make the server overwrite another
     * file, say) is never opened, let alone truncated or followed.
     */
    static FileSink create(Path path) throws IOException {
        return create(path, null);
    }

    static FileSink create(Path path, FileChannel directory) throws IOException {
        FileChannel channel = FileChannel.open(path,
                StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
        return new FileSink(path, channel, directory);
    }

    @Override
    public void write(ByteBuffer chunk) throws IOException {
        while (chunk.hasRemaining()) {
            channel.write(chunk);
        }
    }

    @Override
    public void complete() throws IOException {
        if (directory != null) {
            // fsync(2) of the data and its size, then of the directory, for the entry that names it.
            channel.force(true);
        }
        channel.close();
        if (directory != null) {
            try {
                // The directory opened at start: completing needs no descriptor, even when they are short.
                directory.force(true);
            } catch (IOException e) {
                // Some file systems cannot fsync a directory (EINVAL), as PostgreSQL also allows for:
                // the file's own data is on disk; any other failure fails the upload.
                if (!String.valueOf(e.getMessage()).contains("Invalid argument")) {
                    throw e;
                }
            }
        }
        if (!Files.exists(path)) {
            // Writes to a file whose directory entry is gone succeed, but nobody will ever see them.
            throw new IOException("the file was removed while the upload was in flight");
        }
    }

    @Override
    public void abort() throws IOException {
        try (channel) {
            channel.truncate(0);
            ByteBuffer marker = ByteBuffer.wrap(ERROR_MARKER);
            while (marker.hasRemaining()) {
                channel.write(marker, marker.position());
            }
        } catch (IOException e) {
            // The open channel may be unusable (a failed device write, or closed by an interrupt
            // at stop); a fresh open may still work, and the marker matters more than the interrupt.
            Thread.interrupted();
            writeMarker(path);
        }
    }

    /** The marker by the file's name, through a descriptor of its own (never following a link). */
    private static void writeMarker(Path path) throws IOException {
        Files.write(path, ERROR_MARKER, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING, LinkOption.NOFOLLOW_LINKS);
    }
}
