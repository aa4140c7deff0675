package ferry.server.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spool files of parts that do not fit in memory ({@link Spool}). */
class SpoolTest {
    @TempDir
    Path tmp;

    @Test
    void filesAreNewInADirectoryOnlyTheServerReads() throws Exception {
        var spool = new Spool(tmp);
        Path[] file = new Path[1];
        try (var channel = spool.create(file)) {
            channel.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        assertThat(file[0].getParent()).isEqualTo(spool.directory());
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(spool.directory())))
                .isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(spool.directory().getParent())))
                .isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file[0]))).isEqualTo("rw-------");
        Path[] second = new Path[1];
        spool.create(second).close();
        assertThat(second[0]).isNotEqualTo(file[0]);
        // A cleaner of old files in /tmp removed the directory under a running server: made again.
        Files.delete(file[0]);
        Files.delete(second[0]);
        Files.delete(spool.directory());
        Path[] third = new Path[1];
        spool.create(third).close();
        assertThat(third[0]).exists();
    }

    /** At start, the files of a server killed before it could delete them are removed; a running one's stay. */
    @Test
    void aStartRemovesWhatAKilledServerLeftAndNothingOfARunningOne() throws Exception {
        var spool = new Spool(tmp);
        Path base = spool.directory().getParent();
        var dead = new ProcessBuilder("true").start();
        dead.waitFor();
        Path left = Files.createDirectories(base.resolve(Long.toString(dead.pid()))).resolve("part-1");
        Files.write(left, new byte[10]);
        var alive = new ProcessBuilder("sleep", "60").start();
        try {
            Path running = Files.createDirectories(base.resolve(Long.toString(alive.pid()))).resolve("part-1");
            Files.write(running, new byte[10]);

            assertThat(spool.clean()).isEqualTo(1);

            assertThat(left.getParent()).doesNotExist();
            assertThat(running).exists();
        } finally {
            alive.destroy();
        }
    }
}
