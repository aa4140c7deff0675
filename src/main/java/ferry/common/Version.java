package ferry.common;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** ferry's version, as Maven wrote it into {@code ferry/version.properties} at build time. */
public final class Version {
    private Version() {
    }

    /** The version, e.g. {@code 0.1.0-SNAPSHOT}, or "unknown" outside a Maven build. */
    public static String number() {
        try (InputStream in = Version.class.getResourceAsStream("/ferry/version.properties")) {
            if (in == null) {
                return "unknown";
            }
            var properties = new Properties();
            properties.load(in);
            String version = properties.getProperty("version", "unknown");
            return version.startsWith("${") ? "unknown" : version;
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** What {@code --version} prints: program, version and the Java runtime. */
    public static String line(String program) {
        return program + " (ferry) " + number() + ", Java " + Runtime.version();
    }
}
