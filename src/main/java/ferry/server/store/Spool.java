package ferry.server.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Comparator;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Where parts go when {@link PartMemory} has no chunk to spare: files on local
 * disk, in a directory of this server's own,
 * {@code <java.io.tmpdir>/ferry-spool-<user>/<pid>} (0700, its files 0600 and
 * created new, never opened when already there). A part's file is deleted once
 * the part is stored or its upload ends; {@link #clean} removes, at start,
 * what a server killed before that left behind (the directories of processes
 * no longer running).
 */
final class Spool {
    private final Path base;
    private final Path directory;
    private final AtomicLong files = new AtomicLong();
    private volatile boolean created;

    /** A spool under {@code tmp}; nothing is created before the first file. */
    Spool(Path tmp) {
        this.base = tmp.resolve("ferry-spool-" + System.getProperty("user.name", "user"));
        this.directory = base.resolve(Long.toString(ProcessHandle.current().pid()));
    }

    /** The spool under {@code java.io.tmpdir}. */
    static Spool ofTmpdir() {
        return new Spool(Path.of(System.getProperty("java.io.tmpdir")));
    }

    Path directory() {
        return directory;
    }

    /**
     * Removes the spool directories of servers no longer running (killed
     * before they could delete their files); returns how many files that were.
     */
    int clean() throws IOException {
        if (!Files.isDirectory(base, LinkOption.NOFOLLOW_LINKS)) {
            return 0;
        }
        int removed = 0;
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(base)) {
            for (Path dir : dirs) {
                long pid;
                try {
                    pid = Long.parseLong(dir.getFileName().toString());
                } catch (NumberFormatException e) {
                    continue;
                }
                if (pid == ProcessHandle.current().pid() || ProcessHandle.of(pid).isEmpty()) {
                    removed += removeTree(dir);
                }
            }
        }
        return removed;
    }

    private static int removeTree(Path dir) throws IOException {
        int files = 0;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
                if (!path.equals(dir)) {
                    files++;
                }
                Files.deleteIfExists(path);
            }
        } catch (NoSuchFileException gone) {
            // Removed meanwhile.
        }
        return files;
    }

    /** A new file in the spool, open for writing; its path is {@code into[0]}. */
    FileChannel create(Path[] into) throws IOException {
        ensureDirectory();
        var attributes = PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
        while (true) {
            Path file = directory.resolve("part-" + files.incrementAndGet());
            try {
                FileChannel channel = FileChannel.open(file, Set.of(StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS), attributes);
                into[0] = file;
                return channel;
            } catch (FileAlreadyExistsException taken) {
                // Left by an earlier process of the same id: take the next name.
            } catch (NoSuchFileException gone) {
                if (!created) {
                    throw gone;
                }
                // Removed under a long-running server (a cleaner of old files in /tmp): made again.
                created = false;
                ensureDirectory();
            }
        }
    }

    /** The owner of this process's new files. */
    private UserPrincipal owner() throws IOException {
        Path probe = Files.createTempFile(directory.getParent().getParent(), "ferry-owner", ".probe");
        try {
            return Files.getOwner(probe);
        } finally {
            Files.deleteIfExists(probe);
        }
    }

    private void ensureDirectory() throws IOException {
        if (created) {
            return;
        }
        synchronized (this) {
            if (created) {
                return;
            }
            var attributes = PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
            for (Path dir : new Path[] {base, directory}) {
                try {
                    Files.createDirectory(dir, attributes);
                } catch (FileAlreadyExistsException there) {
                    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)
                            || !Files.getOwner(dir, LinkOption.NOFOLLOW_LINKS).equals(owner())) {
                        throw new IOException("cannot spool parts to " + dir + ": not a directory of this user's");
                    }
                    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
                }
            }
            created = true;
        }
    }
}
