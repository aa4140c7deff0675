package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;

/**
 * A mount a test makes over one of its folders, to fill a disk or take
 * writing away; root only. {@link #close()} takes it away again (lazily, so
 * that a server still holding a file cannot keep it).
 */
final class Mount implements AutoCloseable {
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    private final Path dir;
    private boolean mounted = true;

    private Mount(Path dir) {
        this.dir = dir;
    }

    /** A tmpfs of {@code size} ("1m", "5g") on {@code dir}; skips the test where it cannot be mounted. */
    static Mount tmpfs(Path dir, String size) throws IOException, InterruptedException {
        Mount mount = tryTmpfs(dir, size);
        Assumptions.assumeTrue(mount != null, "mounting a tmpfs needs root (CI runs as root)");
        return mount;
    }

    /** A tmpfs of {@code size} on {@code dir} if this process may mount one, else null. */
    static Mount tryTmpfs(Path dir, String size) throws IOException, InterruptedException {
        return "root".equals(System.getProperty("user.name"))
                && run("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString()) == 0 ? new Mount(dir) : null;
    }

    /** {@code dir} bound over itself, to be made read-only later; skips the test where that cannot be done. */
    static Mount bind(Path dir) throws IOException, InterruptedException {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")) && run("mount", "--bind", dir.toString(),
                dir.toString()) == 0, "a bind mount needs root (CI runs as root)");
        return new Mount(dir);
    }

    /** Makes a bind mount read-only. */
    void readOnly() throws IOException, InterruptedException {
        assertThat(run("mount", "-o", "remount,bind,ro", dir.toString())).as("remount read-only").isZero();
    }

    /** Takes the mount away at once (not lazily): fails if something still uses it. */
    void unmount() throws IOException, InterruptedException {
        assertThat(run("umount", dir.toString())).as("umount %s", dir).isZero();
        mounted = false;
    }

    private static int run(String... command) throws IOException, InterruptedException {
        var result = Ferry.exec(List.of(command), Map.of(), null, DEADLINE);
        if (result.exitCode() != 0) {
            System.out.printf("%s: exit %d: %s", String.join(" ", command), result.exitCode(), result.stderr());
        }
        return result.exitCode();
    }

    @Override
    public void close() throws IOException {
        try {
            if (mounted) {
                run("umount", "-l", dir.toString());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
