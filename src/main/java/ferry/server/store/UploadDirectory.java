package ferry.server.store;

import ferry.common.Arguments;
import ferry.common.UserError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * {@code <FILE-DIR>}, made ready for one server: created if missing, locked
 * so that no second server writes into it, and cleared of the numbered files
 * of an earlier run, which are moved aside (never overwritten) into a folder
 * {@code earlier-<UTC time>} inside it.
 *
 * <p>The lock is an OS lock ({@code fcntl}) on {@value #LOCK_FILE}, held
 * while the server runs: it dies with the process, so even SIGKILL leaves no
 * stale lock behind.
 */
public final class UploadDirectory implements AutoCloseable {
    /** The file whose lock marks the directory as in use; it holds the owner's process id. */
    static final String LOCK_FILE = ".ferry.lock";
    /** The files a server run writes: N.file for N = 1, 2, 3 ... */
    private static final Pattern NUMBERED = Pattern.compile("[1-9][0-9]*\\.file");
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("uuuuMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

    private final Path path;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Path earlier;
    private final int moved;

    /** The directory itself, opened once for {@code --fsync} (null without): no descriptor is needed per upload. */
    private FileChannel syncChannel;

    private UploadDirectory(Path path, FileChannel lockChannel, FileLock lock, Path earlier, int moved) {
        this.path = path;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.earlier = earlier;
        this.moved = moved;
    }

    /**
     * Creates, locks and clears {@code dir}.
     *
     * @throws UserError (exit 2) when the directory cannot be created or written,
     *                   (exit 1) when another server uses it or earlier files cannot be moved aside
     */
    public static UploadDirectory open(Path dir) throws UserError {
        String shown = Arguments.quote(dir.toString());
        try {
            Files.createDirectories(dir);
        } catch (FileAlreadyExistsException e) {
            throw UserError.usage("directory " + shown + " is not a directory");
        } catch (IOException | SecurityException e) {
            throw UserError.usage("cannot create directory " + shown + ": " + reason(e));
        }
        FileChannel channel;
        Path lockFile = dir.resolve(LOCK_FILE);
        try {
            // Never through a link: one planted there would have the server truncate its target and write a pid.
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException | SecurityException e) {
            if (Files.isSymbolicLink(lockFile)) {
                throw UserError.failure("directory " + shown + " has a symbolic link as its lock file "
                        + Arguments.quote(lockFile.toString()) + ", which the server never follows; remove it");
            }
            throw UserError.usage("directory " + shown + " is not writable: " + reason(e));
        }
        try {
            FileLock lock = tryLock(channel);
            if (lock == null) {
                String owner = owner(channel);
                throw UserError.failure("directory " + shown + " is in use by another ferry server"
                        + (owner.isEmpty() ? "" : " (process " + owner + ")")
                        + "; give each server a directory of its own");
            }
            writeOwner(channel);
            Path earlier = null;
            List<Path> numbered = numberedFiles(dir);
            if (!numbered.isEmpty()) {
                earlier = moveAside(dir, numbered);
            }
            return new UploadDirectory(dir, channel, lock, earlier, numbered.size());
        } catch (UserError e) {
            closeQuietly(channel);
            throw e;
        } catch (IOException | RuntimeException e) {
            closeQuietly(channel);
            throw UserError.failure("cannot prepare directory " + shown + ": " + reason(e));
        }
    }

    public Path path() {
        return path;
    }

    /** The folder earlier uploads were moved to, or null if there were none. */
    public Path earlier() {
        return earlier;
    }

    /** How many earlier uploads were moved aside. */
    public int moved() {
        return moved;
    }

    /**
     * The sinks that save connection N to {@code N.file} here. With
     * {@code durable} ({@code --fsync}), a complete upload's data and its
     * directory entry are on stable storage before the server confirms it;
     * the directory is opened for that once, now, so that an upload completed
     * while descriptors are short never fails for want of one.
     *
     * @throws UserError (exit 1) when the directory cannot be opened
     */
    public SinkFactory sinks(boolean durable) throws UserError {
        if (durable && syncChannel == null) {
            try {
                syncChannel = FileChannel.open(path, StandardOpenOption.READ);
            } catch (IOException | SecurityException e) {
                throw UserError.failure("cannot open directory " + Arguments.quote(path.toString())
                        + " for --fsync: " + reason(e));
            }
        }
        return FileSink.in(path, durable ? syncChannel : null);
    }

    /** Releases the lock (the process's end does the same). */
    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException e) {
            // Released with the channel below, or with the process.
        }
        closeQuietly(lockChannel);
        if (syncChannel != null) {
            closeQuietly(syncChannel);
        }
    }

    private static FileLock tryLock(FileChannel channel) throws IOException {
        try {
            return channel.tryLock();
        } catch (OverlappingFileLockException e) {
            return null; // held by another server in this same process (tests)
        }
    }

    private static String owner(FileChannel channel) {
        try {
            ByteBuffer bytes = ByteBuffer.allocate(32);
            channel.read(bytes, 0);
            String text = new String(bytes.array(), 0, bytes.position(), StandardCharsets.US_ASCII).trim();
            return text.matches("[0-9]{1,10}") ? text : "";
        } catch (IOException e) {
            return "";
        }
    }

    private static void writeOwner(FileChannel channel) throws IOException {
        channel.truncate(0);
        channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
    }

    private static List<Path> numberedFiles(Path dir) throws IOException {
        var found = new ArrayList<Path>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                // Whatever it is (a file, a link, a folder): the server creates these names anew.
                if (NUMBERED.matcher(entry.getFileName().toString()).matches()) {
                    found.add(entry);
                }
            }
        }
        return found;
    }

    /** Moves the files into a new folder named after the current time (with a suffix if taken). */
    private static Path moveAside(Path dir, List<Path> files) throws IOException {
        String base = "earlier-" + STAMP.format(Instant.now());
        Path target = dir.resolve(base);
        for (int i = 2; ; i++) {
            try {
                Files.createDirectory(target);
                break;
            } catch (FileAlreadyExistsException e) {
                target = dir.resolve(base + "-" + i);
            }
        }
        for (Path file : files) {
            // Same file system, a rename: atomic, and never over an existing file.
            Files.move(file, target.resolve(file.getFileName()));
        }
        return target;
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            // Nothing more to release.
        }
    }

    private static String reason(Exception e) {
        return e instanceof IOException io ? Arguments.describe(io) : "permission denied";
    }
}
