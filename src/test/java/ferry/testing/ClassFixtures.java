package ferry.testing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fixtures that are dear to start (a PostgreSQL cluster, an s3proxy JVM) kept
 * between the tests of one class: a fixture that a test has closed is kept
 * here, idle, and the class's next test takes it back instead of starting a
 * new one; the fixture's own {@code start()} makes it as good as new (its
 * {@code close()} calls {@link #keep}, its {@code start()} calls {@link #take}).
 * When the class has ended, the idle ones are closed for good.
 *
 * <p>Registered for every test class by JUnit's extension auto-detection
 * ({@code junit-platform.properties}, {@code META-INF/services}); a shutdown
 * hook closes what is still kept if the JVM ends without a class's end (a
 * run stopped half-way). At most one fixture of each type is kept; a test that
 * holds two of a type gives the second one back by closing it for good.
 */
public final class ClassFixtures implements AfterAllCallback {
    /** A fixture that can be kept: {@link #reset()} makes it as good as new, {@link #destroy()} closes it for good. */
    public interface Fixture {
        /** Makes a kept fixture as good as new for the next test; fails when a test left it broken. */
        void reset() throws Exception;

        /** Stops and deletes the fixture, whatever state a test left it in. */
        void destroy();
    }

    /** The idle fixtures, one per type. Guarded by the class. */
    private static final Map<Class<?>, Fixture> IDLE = new LinkedHashMap<>();
    private static boolean hooked;

    /**
     * The kept fixture of this type, reset and now the caller's, or null when there is none or when
     * it could not be reset (a test left it broken: it is then destroyed, and the caller starts a new one).
     */
    public static <T extends Fixture> T take(Class<T> type) {
        T kept;
        synchronized (ClassFixtures.class) {
            kept = type.cast(IDLE.remove(type));
        }
        if (kept == null) {
            return null;
        }
        try {
            kept.reset();
            return kept;
        } catch (Exception | AssertionError e) {
            kept.destroy();
            return null;
        }
    }

    /**
     * Keeps a fixture that a test has closed, for the class's next test; false
     * when one of its type is kept already (the caller then destroys it).
     */
    public static synchronized boolean keep(Fixture fixture) {
        if (IDLE.containsKey(fixture.getClass())) {
            return false;
        }
        if (!hooked) {
            Runtime.getRuntime().addShutdownHook(new Thread(ClassFixtures::destroyAll, "class-fixtures"));
            hooked = true;
        }
        IDLE.put(fixture.getClass(), fixture);
        return true;
    }

    @Override
    public void afterAll(ExtensionContext context) {
        destroyAll();
    }

    private static void destroyAll() {
        ArrayList<Fixture> idle;
        synchronized (ClassFixtures.class) {
            idle = new ArrayList<>(IDLE.values());
            IDLE.clear();
        }
        // Each is destroyed even when another one fails to.
        for (Fixture fixture : idle) {
            try {
                fixture.destroy();
            } catch (RuntimeException | AssertionError e) {
                System.err.println("could not destroy " + fixture + ": " + e);
            }
        }
    }
}
