package ferry.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Debian package, as a user gets it: {@code packaging/build-deb} on a
 * copy of the sources (as a fresh clone has them) and of the jar this run's
 * {@code mvn verify} made, which it packages instead of building again, makes the .deb,
 * {@code dpkg -i} installs it on this machine, and the installed commands
 * alone (no JDK, no Maven, no source tree) carry an upload, stop on SIGTERM
 * with exit 0 and serve on a socket from {@code systemd-socket-activate};
 * systemd itself, booted in namespaces of its own, runs the installed units
 * with the shipped TLS drop-in (a key only root may read, through
 * {@code LoadCredential=}); {@code dpkg -r} keeps the edited {@code /etc/default/ferry},
 * {@code dpkg --purge} removes every file. Needs root and dpkg; skipped, with
 * a message, without them or when a ferry package is installed already (this
 * test must not replace one).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PackageIT {
    private static final Path SERVER = Path.of("/usr/bin/ferry-server");
    private static final Path CLIENT = Path.of("/usr/bin/ferry-client");
    private static final Path HOME = Path.of("/usr/lib/ferry");
    private static final Path DEFAULTS = Path.of("/etc/default/ferry");
    private static final Path UNITS = Path.of("/usr/lib/systemd/system");
    private static final Path TLS_DROP_IN = Path.of("/usr/share/doc/ferry/examples/tls.conf");
    private static final Path SYSTEMD = Path.of("/usr/lib/systemd/systemd");
    private static final Path SYSTEMD_CONTAINER = Ferry.ROOT.resolve("src/test/resources/ferry/it/systemd_container.sh");
    /** jlink and two training runs on a loaded 2-core machine, with room to spare. */
    private static final Duration BUILD = Duration.ofMinutes(6);
    private static final Duration DPKG = Duration.ofMinutes(2);

    @TempDir
    static Path work;
    static Path deb;
    private static boolean installedHere;

    @BeforeAll
    static void buildAndInstall() throws Exception {
        Assumptions.assumeTrue(Ferry.has("dpkg") && Ferry.has("dpkg-deb"), "dpkg is not installed: package not tested");
        var uid = Ferry.exec(List.of("id", "-u"), Map.of(), null, Duration.ofSeconds(10));
        Assumptions.assumeTrue(uid.stdout().strip().equals("0"), "not root: dpkg -i cannot install the package here");
        var status = Ferry.exec(List.of("dpkg-query", "-W", "-f", "${Status}", "ferry"), Map.of(), null, DPKG);
        Assumptions.assumeFalse(status.stdout().contains("installed"),
                "a ferry package is installed on this machine already; not replacing it");

        Path copy = copyWithVerifysBuild(work.resolve("ferry"));
        var built = Ferry.exec(List.of(copy.resolve("packaging/build-deb").toString()), Map.of(), null, BUILD);
        assertThat(built.exitCode()).as("packaging/build-deb; stderr: %s", built.stderr()).isZero();
        deb = Path.of(built.stdout().strip());
        assertThat(deb.getFileName().toString()).matches("ferry_[0-9][^_]*_amd64\\.deb");
        assertThat(deb).isRegularFile().hasParent(copy.resolve("target"));
        assertThat(copy.resolve("target/launcher/ferry.jar")).as("build-deb packaged the jar of mvn verify, building none")
                .doesNotExist();

        var installed = dpkg("-i", deb.toString());
        installedHere = true;
        assertThat(installed.exitCode()).as("dpkg -i; stderr: %s", installed.stderr()).isZero();
    }

    @AfterAll
    static void purge() throws Exception {
        if (installedHere) {
            dpkg("--purge", "ferry");
        }
    }

    private static Ferry.Result dpkg(String... args) throws Exception {
        var command = new ArrayList<String>();
        command.add("dpkg");
        command.addAll(List.of(args));
        return Ferry.exec(command, Map.of("DEBIAN_FRONTEND", "noninteractive"), null, DPKG);
    }

    /**
     * A copy of the sources, as a fresh clone has them, and of what this run's
     * {@code mvn verify} built in target/ (Failsafe runs after {@code package}):
     * the jar, its list of run-time libraries and the libraries it lists, with
     * their times, newer than the sources'.
     */
    private static Path copyWithVerifysBuild(Path copy) throws IOException {
        for (String name : List.of("server", "client", "bin", "pom.xml", "src/main", "packaging")) {
            copyTree(Ferry.ROOT.resolve(name), copy.resolve(name));
        }
        Path built = Ferry.ROOT.resolve("target");
        Files.createDirectories(copy.resolve("target/lib"));
        for (String name : List.of("ferry.jar", "libraries")) {
            Files.copy(built.resolve(name), copy.resolve("target").resolve(name), StandardCopyOption.COPY_ATTRIBUTES);
        }
        for (String entry : Files.readString(built.resolve("libraries")).strip().split(":")) {
            Files.copy(built.resolve(entry), copy.resolve("target").resolve(entry), StandardCopyOption.COPY_ATTRIBUTES);
        }
        return copy;
    }

    /**
     * build-deb packages the jar of mvn verify only when it is newer than every
     * source: after a change to one, it builds ferry with Maven (here a stand-in
     * that fails, so that the build is seen and costs nothing).
     */
    @Test
    @Order(0)
    void aJarOlderThanASourceIsBuiltAgainNotPackaged() throws Exception {
        Path copy = copyWithVerifysBuild(work.resolve("stale"));
        Path source = copy.resolve("src/main/java/ferry/common/Arguments.java");
        Files.setLastModifiedTime(source, FileTime.fromMillis(
                Files.getLastModifiedTime(copy.resolve("target/ferry.jar")).toMillis() + 1000));
        Path bin = Files.createDirectories(work.resolve("fake-maven"));
        Path mvn = Files.writeString(bin.resolve("mvn"), "#!/bin/sh\necho 'the stand-in for mvn ran'\nexit 1\n");
        assertThat(mvn.toFile().setExecutable(true)).isTrue();
        var built = Ferry.exec(List.of(copy.resolve("packaging/build-deb").toString()),
                Map.of("PATH", bin + ":" + System.getenv("PATH")), null, Duration.ofMinutes(2));
        assertThat(built.exitCode()).as("build-deb; stderr: %s", built.stderr()).isEqualTo(1);
        assertThat(built.stderr()).startsWith("ERROR: building ferry failed").contains("the stand-in for mvn ran");
        assertThat(built.stdout()).isEmpty();
    }

    /** Copies {@code from} to {@code to} with the times of its files and directories, as they are in the checkout. */
    private static void copyTree(Path from, Path to) throws IOException {
        List<Path> paths;
        try (Stream<Path> walk = Files.walk(from)) {
            paths = walk.toList();
        }
        for (Path path : paths) {
            Path target = to.resolve(from.relativize(path).toString());
            if (Files.isDirectory(path)) {
                Files.createDirectories(target);
            } else {
                Files.createDirectories(target.getParent());
                Files.copy(path, target, StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
        // After the files, whose copying changed their directories' times.
        for (Path path : paths) {
            if (Files.isDirectory(path)) {
                Files.setLastModifiedTime(to.resolve(from.relativize(path).toString()), Files.getLastModifiedTime(path));
            }
        }
    }

    /** An environment with no JDK in sight: the installed commands must bring their own runtime. */
    private static Map<String, String> bare() {
        return Map.of("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", "JAVA_HOME", "/nonexistent");
    }

    /** The package says what it is and needs: libc alone, the runtime being bundled. */
    @Test
    @Order(1)
    void theControlFileDependsOnLibcAlone() throws Exception {
        var fields = Ferry.exec(List.of("dpkg-deb", "-f", deb.toString(), "Package", "Architecture", "Depends"),
                Map.of(), null, DPKG);
        assertThat(fields.stdout()).isEqualTo("Package: ferry\nArchitecture: amd64\nDepends: libc6 (>= 2.34)\n");
        var conffiles = Ferry.exec(List.of("dpkg-query", "--control-show", "ferry", "conffiles"), Map.of(), null, DPKG);
        assertThat(conffiles.stdout()).isEqualTo("/etc/default/ferry\n");
        // As packed, before any maintainer script: 0640 root:root.
        var contents = Ferry.exec(List.of("dpkg-deb", "-c", deb.toString()), Map.of(), null, DPKG);
        assertThat(contents.stdout().lines().filter(line -> line.endsWith(" ./etc/default/ferry")))
                .singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING).startsWith("-rw-r----- root/root ");
    }

    /**
     * {@code ferry-server --help} and {@code ferry-client --help} work
     * installed and name the installed commands, and every variable the server lists is in /etc/default/ferry,
     * commented out (the defaults stay the defaults).
     */
    @Test
    @Order(2)
    void helpWorksAndTheSettingsFileListsEveryOption() throws Exception {
        var help = Ferry.exec(List.of(SERVER.toString(), "--help"), bare(), null, Duration.ofSeconds(30));
        assertThat(help.exitCode()).isZero();
        assertThat(help.stdout()).startsWith("usage: ferry-server [OPTIONS] <PORT> <FILE-DIR>\n");
        var clientHelp = Ferry.exec(List.of(CLIENT.toString(), "--help"), bare(), null, Duration.ofSeconds(30));
        assertThat(clientHelp.exitCode()).isZero();
        assertThat(clientHelp.stdout()).startsWith("usage: ferry-client [OPTIONS] <HOSTNAME-OR-IP> <PORT> <FILENAME>\n");
        String defaults = Files.readString(DEFAULTS);
        var variables = Pattern.compile("\\((FERRY_[A-Z_]+)\\)").matcher(help.stdout()).results()
                .map(m -> m.group(1)).toList();
        assertThat(variables).hasSizeGreaterThan(10)
                .contains("FERRY_TLS_CERT", "FERRY_TLS_KEY", "FERRY_TLS_CLIENT_CA");
        for (String variable : variables) {
            assertThat(defaults).as("/etc/default/ferry").contains("\n#" + variable + "=\n");
        }
        assertThat(defaults.lines().filter(line -> !line.isBlank() && !line.startsWith("#"))).as("set lines").isEmpty();
        // FERRY_COUNTER may hold a password: only root reads the file (systemd reads it as root).
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(DEFAULTS, LinkOption.NOFOLLOW_LINKS)))
                .as("/etc/default/ferry's mode").isEqualTo("rw-r-----");
        assertThat(Files.getOwner(DEFAULTS, LinkOption.NOFOLLOW_LINKS).getName()).isEqualTo("root");
        assertThat(Files.readAttributes(DEFAULTS, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS).group().getName())
                .isEqualTo("root");
    }

    /** systemd's own check of the installed units (the command, the man page, every setting). */
    @Test
    @Order(3)
    void systemdFindsNothingWrongInTheUnits() throws Exception {
        Assumptions.assumeTrue(Ferry.has("systemd-analyze"), "systemd-analyze is not installed: units not verified");
        var verify = Ferry.exec(List.of("systemd-analyze", "verify", UNITS.resolve("ferry.socket").toString(),
                UNITS.resolve("ferry.service").toString()), Map.of(), null, Duration.ofSeconds(60));
        assertThat(verify.exitCode()).as("systemd-analyze verify; stderr: %s", verify.stderr()).isZero();
        assertThat(verify.stderr()).isEmpty();
        // With the shipped TLS drop-in in ferry.service.d (found first on SYSTEMD_UNIT_PATH).
        Path dropIns = Files.createDirectories(work.resolve("verify-units/ferry.service.d"));
        Files.copy(TLS_DROP_IN, dropIns.resolve("tls.conf"));
        var withDropIn = Ferry.exec(List.of("systemd-analyze", "verify", UNITS.resolve("ferry.service").toString()),
                Map.of("SYSTEMD_UNIT_PATH", dropIns.getParent() + ":"), null, Duration.ofSeconds(60));
        assertThat(withDropIn.exitCode()).as("systemd-analyze verify with tls.conf; stderr: %s", withDropIn.stderr())
                .isZero();
        assertThat(withDropIn.stderr()).isEmpty();
    }

    /**
     * <ol>
     * <li>The installed ferry-server starts on a free port, with no JDK on the PATH or in JAVA_HOME,
     * running the bundled runtime.</li>
     * <li>The installed ferry-client sends 3 MiB: exit 0, 1.file holds the same bytes.</li>
     * <li>The metrics endpoint (--metrics: the Prometheus library on the bundled runtime's modules)
     * counts it, in each format Prometheus asks for; with --metrics, the JVM's class path holds the
     * libraries /usr/lib/ferry/libraries lists, which are the jars of /usr/lib/ferry/lib.</li>
     * <li>SIGTERM ends the server with exit 0.</li>
     * </ol>
     */
    @Test
    @Order(4)
    void theInstalledCommandsCarryAnUploadAndTheServerStopsOnSigterm() throws Exception {
        Path dir = work.resolve("uploads");
        Path upload = Ferry.randomFile(work, "upload", 3 << 20, 11);
        int port = Ferry.freePort();
        int metricsPort = Ferry.freePort();
        try (var server = Installed.start(List.of(SERVER.toString(), "--metrics", "127.0.0.1:" + metricsPort,
                Integer.toString(port), dir.toString()), work, port)) {
            assertThat(server.process.descendants().map(p -> p.info().command().orElse("")))
                    .contains(HOME.resolve("runtime/bin/java").toString());
            List<String> listed = Files.readAllLines(HOME.resolve("libraries"));
            assertThat(listed).as("/usr/lib/ferry/libraries").hasSize(1);
            try (var lib = Files.list(HOME.resolve("lib"))) {
                assertThat(lib.map(jar -> "lib/" + jar.getFileName())).containsExactlyInAnyOrder(listed.get(0).split(":"));
            }
            assertThat(jvmClassPath(server.process)).as("the class path with --metrics").contains(":")
                    .contains("/lib/ferry/lib/prometheus-metrics-core-");
            var sent = Ferry.exec(List.of(CLIENT.toString(), "127.0.0.1", Integer.toString(port), upload.toString()),
                    bare(), null, Duration.ofSeconds(60));
            assertThat(sent.exitCode()).as("ferry-client; stderr: %s", sent.stderr()).isZero();
            assertThat(sent.stderr()).isEmpty();
            assertThat(dir.resolve("1.file")).hasSameBinaryContentAs(upload);
            var http = HttpClient.newHttpClient();
            for (String type : List.of("text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0",
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")) {
                var response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort
                        + "/metrics")).header("Accept", type).timeout(Duration.ofSeconds(10)).build(),
                        HttpResponse.BodyHandlers.ofString(StandardCharsets.ISO_8859_1));
                assertThat(response.statusCode()).as("status for %s; server stderr: %s", type,
                        Ferry.readOrEmpty(server.stderrFile)).isEqualTo(200);
                assertThat(response.body()).as("body for %s", type).contains("ferry_uploads_total");
                if (type.startsWith("text/plain")) {
                    assertThat(response.body()).contains("ferry_uploads_total{outcome=\"complete\"} 1");
                }
            }
            Ferry.signal(server.process.pid(), "TERM");
            var result = server.awaitExit(Duration.ofSeconds(10));
            assertThat(result.exitCode()).as("ferry-server exit code; stderr: %s", result.stderr()).isZero();
            assertThat(result.stdout()).contains("conn=1 ").contains("outcome=complete").contains("ferry: stopped");
        }
    }

    /**
     * <ol>
     * <li>systemd-socket-activate listens and, on nc's connection, executes the installed ferry-server.</li>
     * <li>The server serves on that socket: 1.file holds nc's bytes; without an option that needs a
     * library, its JVM's class path is ferry.jar alone.</li>
     * <li>SIGTERM ends it with exit 0.</li>
     * </ol>
     */
    @Test
    @Order(5)
    void theInstalledServerServesOnASocketFromSystemd() throws Exception {
        Assumptions.assumeTrue(Ferry.has("systemd-socket-activate") && Ferry.has("nc"),
                "systemd-socket-activate or nc is not installed: socket activation of the package not tested");
        Path dir = work.resolve("activated");
        Path upload = Ferry.randomFile(work, "small", 100_000, 12);
        int port = Ferry.freePort();
        var command = List.of("systemd-socket-activate", "--listen=127.0.0.1:" + port, SERVER.toString(),
                Integer.toString(port), dir.toString());
        try (var server = Installed.launch(command, work.resolve("activated-logs"))) {
            assertThat(Ferry.await(Duration.ofSeconds(10), () -> Ferry.listening(port))).isTrue();
            var nc = Ferry.exec(List.of("nc", "-N", "127.0.0.1", Integer.toString(port)), Map.of(), upload,
                    Duration.ofSeconds(30));
            assertThat(nc.exitCode()).isZero();
            Ferry.awaitContent(dir.resolve("1.file"), Files.readAllBytes(upload), Duration.ofSeconds(30));
            assertThat(server.stdout()).contains("listening on port " + port + " (socket from systemd)");
            assertThat(jvmClassPath(server.process)).as("the class path without options").endsWith("/lib/ferry/ferry.jar")
                    .doesNotContain(":");
            Ferry.signal(server.process.pid(), "TERM");
            var result = server.awaitExit(Duration.ofSeconds(10));
            assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
        }
    }

    /**
     * ferry.service's sandbox, emulated without systemd (PID 1 here is not
     * systemd): the same restrictions by the same kernel means.
     * <ol>
     * <li>In a mount namespace, the file system is read-only but the upload directory
     * (ProtectSystem=strict, ReadWritePaths=), /tmp is a private tmpfs (PrivateTmp=),
     * /home and /root are empty (ProtectHome=).</li>
     * <li>systemd-socket-activate binds as root, then setpriv runs the installed ferry-server as an
     * unprivileged user with no capabilities and no new privileges (DynamicUser=, CapabilityBoundingSet=,
     * NoNewPrivileges=).</li>
     * <li>An upload lands in the directory, owned by that user; SIGTERM ends the server with exit 0.</li>
     * </ol>
     */
    @Test
    @Order(6)
    void theInstalledServerWorksInTheServicesSandbox() throws Exception {
        Assumptions.assumeTrue(Ferry.has("systemd-socket-activate") && Ferry.has("setpriv") && Ferry.has("unshare"),
                "systemd-socket-activate, setpriv or unshare is not installed: the sandbox not tested");
        int uid = 61234;
        Path dir = Files.createTempDirectory(Path.of("/var/tmp"), "ferry-sandbox-");
        try {
            Files.setAttribute(dir, "unix:uid", uid);
            Files.setAttribute(dir, "unix:gid", uid);
            int port = Ferry.freePort();
            String sandbox = "mount --make-rprivate / && mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro /"
                    + " && mount -t tmpfs -o mode=1777 tmpfs /tmp && mount -t tmpfs tmpfs /home"
                    + " && mount -t tmpfs tmpfs /root && shift && exec \"$@\"";
            var command = List.of("unshare", "--mount", "bash", "-c", sandbox, "sandbox", dir.toString(),
                    "systemd-socket-activate", "--listen=127.0.0.1:" + port,
                    "setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--no-new-privs",
                    "--inh-caps=-all", "--bounding-set=-all",
                    SERVER.toString(), Integer.toString(port), dir.toString());
            Path upload = Ferry.randomFile(work, "sandboxed", 500_000, 13);
            try (var server = Installed.launch(command, work.resolve("sandbox-logs"))) {
                assertThat(Ferry.await(Duration.ofSeconds(10), () -> Ferry.listening(port)))
                        .as("listening; stderr: %s", Ferry.readOrEmpty(server.stderrFile)).isTrue();
                var sent = Ferry.exec(List.of(CLIENT.toString(), "127.0.0.1", Integer.toString(port),
                        upload.toString()), bare(), null, Duration.ofSeconds(60));
                assertThat(sent.exitCode()).as("ferry-client; server stderr: %s",
                        Ferry.readOrEmpty(server.stderrFile)).isZero();
                assertThat(dir.resolve("1.file")).hasSameBinaryContentAs(upload);
                assertThat(Files.getAttribute(dir.resolve("1.file"), "unix:uid")).isEqualTo(uid);
                Ferry.signal(server.process.pid(), "TERM");
                var result = server.awaitExit(Duration.ofSeconds(10));
                assertThat(result.exitCode()).as("exit code; stderr: %s", result.stderr()).isZero();
                assertThat(result.stdout()).contains("(socket from systemd)").contains("ferry: stopped");
            }
        } finally {
            try (var files = Files.list(dir)) {
                for (Path file : files.toList()) {
                    Files.deleteIfExists(file);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    /**
     * The premise of the TLS drop-in, under systemd itself (PID 1 of its own
     * namespaces, {@link SystemdContainer}) running the installed ferry.service:
     * with FERRY_TLS_CERT and FERRY_TLS_KEY naming /etc/ferry's files directly, a
     * key 0600 root:root, the service's (dynamic) user cannot read the key: the
     * server writes one ERROR line naming the file and exits 2, which systemd
     * does not restart.
     */
    @Test
    @Order(7)
    void aRootOnlyKeyReadDirectlyStopsTheServiceWithOneErrorLine() throws Exception {
        try (var systemd = SystemdContainer.boot(work.resolve("certs-direct"))) {
            systemd.dropIn("direct.conf", "[Service]\nEnvironment=FERRY_TLS_CERT=/etc/ferry/tls.pem"
                    + " FERRY_TLS_KEY=/etc/ferry/tls.key\n");
            systemd.systemctl("start", "ferry.service");
            assertThat(Ferry.await(Duration.ofSeconds(60), () -> systemd.show("ActiveState").equals("failed")))
                    .as("ferry.service failed; log: %s", systemd.log()).isTrue();
            assertThat(systemd.show("ExecMainStatus")).isEqualTo("2");
            assertThat(systemd.show("NRestarts")).isEqualTo("0");
            assertThat(systemd.log()).isEqualTo("ERROR: cannot read FERRY_TLS_KEY \"/etc/ferry/tls.key\": permission denied\n");
        }
    }

    /**
     * The shipped drop-in /usr/share/doc/ferry/examples/tls.conf, copied into
     * ferry.service.d as it says, under systemd itself ({@link SystemdContainer}):
     * LoadCredential= hands the service the 0600 root:root key of /etc/ferry, and
     * the installed ferry-client (--cacert) sends a file over TLS to ferry.socket's
     * port: exit 0, the server's record says TLSv1.3 and the certificate from the
     * credentials directory, and N.file holds the same bytes.
     */
    @Test
    @Order(8)
    void theShippedDropInServesTlsWithARootOnlyKey() throws Exception {
        try (var systemd = SystemdContainer.boot(work.resolve("certs-drop-in"))) {
            systemd.dropIn("tls.conf", Files.readString(TLS_DROP_IN));
            systemd.systemctl("start", "ferry.socket");
            Path upload = Ferry.randomFile(work, "over-tls", 1 << 20, 14);
            var sent = Ferry.exec(List.of("nsenter", "-t", Long.toString(systemd.pid()), "-n", CLIENT.toString(),
                    "--cacert", systemd.certs.ca.cert().toString(), "localhost", "9000", upload.toString()),
                    bare(), null, Duration.ofSeconds(60));
            assertThat(sent.exitCode()).as("ferry-client; stderr: %s; service log: %s", sent.stderr(), systemd.log())
                    .isZero();
            assertThat(sent.stderr()).isEmpty();
            assertThat(Ferry.await(Duration.ofSeconds(30), () -> systemd.log().contains("conn=1 ")))
                    .as("the server's record; log: %s", systemd.log()).isTrue();
            assertThat(systemd.log()).contains("TLS 1.3/1.2 only, certificate /run/credentials/ferry.service/tls.pem")
                    .contains("outcome=complete").contains("tls=TLSv1.3").doesNotContain("ERROR");
            assertThat(systemd.root().resolve("var/lib/private/ferry/1.file")).hasSameBinaryContentAs(upload);
        }
    }

    /**
     * <ol>
     * <li>An operator's edit of /etc/default/ferry survives dpkg -r (a conffile), and so does a reinstall;
     * a copy left readable by everyone (as packages before 0640 installed it) is 0640 after the reinstall.</li>
     * <li>dpkg --purge removes it and every file of the package, and /etc/ferry.</li>
     * </ol>
     */
    @Test
    @Order(9)
    void removeKeepsTheEditedSettingsAndPurgeRemovesEverything() throws Exception {
        String edited = Files.readString(DEFAULTS) + "FERRY_CHECKSUM=sha256\n";
        Files.writeString(DEFAULTS, edited);
        Files.setPosixFilePermissions(DEFAULTS, PosixFilePermissions.fromString("rw-r--r--"));
        var removed = dpkg("-r", "ferry");
        assertThat(removed.exitCode()).as("dpkg -r; stderr: %s", removed.stderr()).isZero();
        assertThat(SERVER).doesNotExist();
        assertThat(DEFAULTS).hasContent(edited);
        var again = dpkg("-i", deb.toString());
        assertThat(again.exitCode()).as("dpkg -i again; stderr: %s", again.stderr()).isZero();
        assertThat(DEFAULTS).hasContent(edited);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(DEFAULTS))).isEqualTo("rw-r-----");

        var purged = dpkg("--purge", "ferry");
        assertThat(purged.exitCode()).as("dpkg --purge; stderr: %s", purged.stderr()).isZero();
        installedHere = false;
        for (Path path : List.of(SERVER, CLIENT, HOME, DEFAULTS, Path.of("/etc/ferry"), UNITS.resolve("ferry.service"),
                UNITS.resolve("ferry.socket"), Path.of("/usr/share/doc/ferry"))) {
            assertThat(path).doesNotExist();
        }
    }

    /** A process started from the installed commands, its output in files. */
    /** The -cp argument of the java process below {@code launcher}, from /proc. */
    private static String jvmClassPath(Process launcher) throws IOException {
        ProcessHandle jvm = launcher.descendants().filter(p -> p.info().command().orElse("").endsWith("/bin/java"))
                .findFirst().orElseThrow();
        List<String> args = List.of(Files.readString(Path.of("/proc", Long.toString(jvm.pid()), "cmdline")).split("\0"));
        assertThat(args).contains("-cp");
        return args.get(args.indexOf("-cp") + 1);
    }

    /**
     * systemd as PID 1 of its own PID, mount, network, UTS and cgroup
     * namespaces (systemd_container.sh), with the installed ferry.socket and
     * ferry.service and stand-ins for the targets they name, nothing else:
     * /etc/ferry holds a TLS certificate (0644) and its key (0600), root's, made by
     * {@link TestCerts}; the units' output goes to a log file. Port 9000 is that
     * network namespace's. Closing kills systemd, which ends every process inside.
     */
    private static final class SystemdContainer implements AutoCloseable {
        private static final List<String> TARGETS = List.of("ferry-test", "sysinit", "basic", "sockets", "shutdown",
                "network", "timers", "paths", "slices", "local-fs");
        final TestCerts certs;
        private final Path base;
        private final Path logFile;
        private final Process script;
        private ProcessHandle systemd;

        private SystemdContainer(TestCerts certs, Path base) throws IOException {
            this.certs = certs;
            this.base = base;
            Path units = Files.createDirectories(base.resolve("units"));
            for (String unit : List.of("ferry.service", "ferry.socket")) {
                Files.copy(UNITS.resolve(unit), units.resolve(unit));
            }
            for (String target : TARGETS) {
                Files.writeString(units.resolve(target + ".target"),
                        "[Unit]\nDescription=" + target + " (stand-in)\nDefaultDependencies=no\n");
            }
            Path etc = Files.createDirectories(base.resolve("etc"));
            Files.copy(certs.server.cert(), etc.resolve("tls.pem"));
            Files.copy(certs.server.key(), etc.resolve("tls.key"));
            Files.setPosixFilePermissions(etc.resolve("tls.pem"), PosixFilePermissions.fromString("rw-r--r--"));
            Files.setPosixFilePermissions(etc.resolve("tls.key"), PosixFilePermissions.fromString("rw-------"));
            logFile = base.resolve("units.log");
            script = new ProcessBuilder("bash", SYSTEMD_CONTAINER.toString(), units.toString(), logFile.toString(),
                    etc.toString()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true).redirectOutput(base.resolve("container.log").toFile()).start();
        }

        /** Boots it and waits until systemd says "running"; the certificates are made in {@code certs}. */
        static SystemdContainer boot(Path certs) throws Exception {
            Assumptions.assumeTrue(Files.isExecutable(SYSTEMD) && Ferry.has("unshare") && Ferry.has("nsenter")
                    && Ferry.has("systemctl") && Ferry.has("ip") && Ferry.has("openssl"),
                    "systemd, unshare, nsenter, systemctl, ip or openssl is not installed: the service not run");
            // Outside /tmp, which is a tmpfs of its own in there.
            Path base = Files.createTempDirectory(Path.of("/var/tmp"), "ferry-systemd-");
            var container = new SystemdContainer(TestCerts.create(certs), base);
            try {
                assertThat(Ferry.await(Duration.ofSeconds(30), () -> container.findSystemd() != null))
                        .as("systemd started; %s", Ferry.readOrEmpty(base.resolve("container.log"))).isTrue();
                assertThat(Ferry.await(Duration.ofSeconds(30), () -> container.running()))
                        .as("systemd running; %s", Ferry.readOrEmpty(base.resolve("container.log"))).isTrue();
            } catch (Throwable e) {
                container.close();
                throw e;
            }
            return container;
        }

        private ProcessHandle findSystemd() {
            systemd = script.descendants().filter(p -> p.info().command().orElse("").equals(SYSTEMD.toString()))
                    .findFirst().orElse(null);
            return systemd;
        }

        private boolean running() {
            try {
                return systemctl("is-system-running").equals("running");
            } catch (Exception e) {
                return false;
            }
        }

        long pid() {
            return systemd.pid();
        }

        /** The file system as the processes inside see it. */
        Path root() {
            return Path.of("/proc", Long.toString(pid()), "root");
        }

        /** systemctl inside; returns its standard output, stripped, after checking only that it ran. */
        String systemctl(String... args) throws IOException, InterruptedException {
            var command = new ArrayList<>(List.of("nsenter", "-t", Long.toString(pid()), "-m", "-p", "systemctl"));
            command.addAll(List.of(args));
            return Ferry.exec(command, Map.of(), null, Duration.ofSeconds(60)).stdout().strip();
        }

        /** A property of ferry.service. */
        String show(String property) {
            try {
                return systemctl("show", "--value", "-p", property, "ferry.service");
            } catch (IOException | InterruptedException e) {
                throw new AssertionError(e);
            }
        }

        /** Writes /etc/systemd/system/ferry.service.d/NAME inside, and systemd reads it. */
        void dropIn(String name, String text) throws IOException, InterruptedException {
            Path dir = Files.createDirectories(root().resolve("etc/systemd/system/ferry.service.d"));
            Files.writeString(dir.resolve(name), text);
            systemctl("daemon-reload");
        }

        String log() {
            return Ferry.readOrEmpty(logFile);
        }

        @Override
        public void close() throws IOException {
            if (systemd != null) {
                systemd.destroyForcibly();
            }
            try {
                // The script removes its cgroups once systemd has gone.
                if (!script.waitFor(30, TimeUnit.SECONDS)) {
                    Ferry.kill(script);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try (Stream<Path> walk = Files.walk(base)) {
                for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    private record Installed(Process process, Path stdoutFile, Path stderrFile, long startedAt)
            implements AutoCloseable {
        static Installed launch(List<String> command, Path logs) throws IOException {
            Files.createDirectories(logs);
            Path out = logs.resolve("stdout");
            Path err = logs.resolve("stderr");
            var builder = new ProcessBuilder(command).directory(logs.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile()).redirectError(err.toFile());
            builder.environment().putAll(bare());
            builder.environment().put("SYSTEMD_LOG_LEVEL", "warning");
            return new Installed(builder.start(), out, err, System.nanoTime());
        }

        /** Starts the server and waits for its "listening" line. */
        static Installed start(List<String> command, Path work, int port) throws IOException {
            var server = launch(command, work.resolve("server-logs-" + port));
            if (!Ferry.await(Duration.ofSeconds(30), () -> server.stdout().contains("listening on port ")
                    || !server.process.isAlive()) || !server.process.isAlive()) {
                String err = Ferry.readOrEmpty(server.stderrFile);
                server.close();
                throw new AssertionError("the installed ferry-server did not start: " + err);
            }
            return server;
        }

        String stdout() {
            return Ferry.readOrEmpty(stdoutFile);
        }

        Ferry.Result awaitExit(Duration deadline) throws IOException, InterruptedException {
            return Ferry.awaitExit(process, stdoutFile, stderrFile, startedAt, deadline, "installed ferry-server",
                    this::close);
        }

        @Override
        public void close() {
            List<ProcessHandle> tree = process.descendants().toList();
            Ferry.kill(process);
            Ferry.await(Duration.ofSeconds(10), () -> tree.stream().noneMatch(ProcessHandle::isAlive));
        }
    }
}
