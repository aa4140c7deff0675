package ferry;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The packages of {@code src/main/java} keep their layers (docs/design.md, "Packages"): each may use only
 * the packages below it, so there is no cycle and no import running back up. Read from the sources'
 * imports and fully qualified names, as {@code jdeps -verbose:package target/classes} shows them.
 */
class PackageLayersTest {
    /** Each package and the ferry packages it may use. */
    private static final Map<String, Set<String>> MAY_USE = Map.of(
            "ferry", Set.of("ferry.client", "ferry.common", "ferry.server"),
            "ferry.client", Set.of("ferry.common", "ferry.common.tls"),
            "ferry.common", Set.of(),
            "ferry.common.tls", Set.of("ferry.common"),
            "ferry.server", Set.of("ferry.common", "ferry.server.net", "ferry.server.numbering",
                    "ferry.server.report", "ferry.server.store", "ferry.server.tls"),
            "ferry.server.net", Set.of("ferry.common", "ferry.server.numbering", "ferry.server.report",
                    "ferry.server.store", "ferry.server.tls"),
            "ferry.server.numbering", Set.of("ferry.common", "ferry.server.report"),
            "ferry.server.store", Set.of("ferry.common"),
            "ferry.server.tls", Set.of("ferry.common", "ferry.common.tls"),
            "ferry.server.report", Set.of("ferry.common"));

    /** A ferry type named in code: {@code ferry.server.net.FerryServer}, the package being the lower-case part. */
    private static final Pattern REFERENCE = Pattern.compile("\\bferry((?:\\.[a-z]\\w*)*)\\.[A-Z]");

    @Test
    void everyPackageUsesOnlyThePackagesBelowIt() throws IOException {
        Path sources = root().resolve("src/main/java");
        List<String> wrong = new ArrayList<>();
        Set<String> packages = new TreeSet<>();
        try (Stream<Path> files = Files.walk(sources)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                String own = sources.relativize(file.getParent()).toString().replace('/', '.');
                packages.add(own);
                Set<String> allowed = MAY_USE.get(own);
                if (allowed == null) {
                    continue;
                }
                Matcher reference = REFERENCE.matcher(withoutComments(Files.readString(file)));
                while (reference.find()) {
                    String used = "ferry" + reference.group(1);
                    if (!used.equals(own) && !allowed.contains(used)) {
                        wrong.add(sources.relativize(file) + " uses " + used);
                    }
                }
            }
        }
        assertThat(packages).as("packages of src/main/java, each with its place in the layers")
                .isEqualTo(MAY_USE.keySet().stream().collect(Collectors.toCollection(TreeSet::new)));
        assertThat(wrong).as("uses of a package that is not below").isEmpty();
    }

    /** The code without its comments, so that a Javadoc may name a class of any package. */
    private static String withoutComments(String source) {
        return source.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "");
    }

    /** The project's base directory (Surefire sets {@code basedir}), else the working directory. */
    private static Path root() {
        String basedir = System.getProperty("basedir");
        return Path.of(basedir != null ? basedir : "").toAbsolutePath();
    }
}
