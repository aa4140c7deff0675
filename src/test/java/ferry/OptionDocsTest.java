package ferry;

import static org.assertj.core.api.Assertions.assertThat;

import ferry.client.ClientMain;
import ferry.common.ExitCode;
import ferry.server.ServerMain;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The man pages and the docs' option tables agree with {@code --help}, which
 * each program prints from its option list (the one source of every option's
 * flag, variable, default and help). For every option they must give the same
 * flags and value name ({@code -q, --quiet}, {@code --listen ADDR}), the same
 * variable ({@code VARIABLE=1} is accepted for a switch) and the same default,
 * which a document may follow with a remark in parentheses
 * ({@code 10000 (S6)}); none may be missing, and none may be extra.
 *
 * <p>Help texts are not compared: a man page or a table may say more. The
 * class sits in package {@code ferry}, above both programs as the training
 * does, and reads each program's {@code --help} through its public entry
 * point, so that no package below needs to open its option list.
 */
class OptionDocsTest {
    /** The flags every program takes that no variable sets. */
    private static final Set<String> BUILT_IN = Set.of("-h", "--help", "--version");

    private static final Path ROOT = projectRoot();

    /**
     * One option as a document states it.
     *
     * @param synopsis    its flags and value, {@code -q, --quiet} or {@code --listen ADDR}
     * @param variable    its variable as written ({@code FERRY_FSYNC=1}), or "" for none
     * @param defaultText its default as written, or "" for none
     * @param where       file and line, for messages
     */
    record Documented(String synopsis, String variable, String defaultText, String where) {
        /** The long flag: {@code --quiet} of {@code -q, --quiet}. */
        String flag() {
            String[] flags = synopsis.split(", ");
            return flags[flags.length - 1].split(" ")[0];
        }

        boolean builtIn() {
            return Stream.of(synopsis.split(", ")).allMatch(part -> BUILT_IN.contains(part.split(" ")[0]));
        }

        boolean isSwitch() {
            return !synopsis.substring(synopsis.lastIndexOf("--")).contains(" ");
        }
    }

    /** A program (its man page is packaging/NAME.1) and its options as its {@code --help} lists them, by long flag. */
    record Program(String name, Map<String, Documented> options) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<Program> programs() {
        return List.of(
                new Program("ferry-server", fromHelp("ferry-server --help",
                        out -> new ServerMain(Map.of(), out, out).run(new String[] {"--help"}, null))),
                new Program("ferry-client", fromHelp("ferry-client --help",
                        out -> ClientMain.run(new String[] {"--help"}, Map.of(), out, out, false))));
    }

    @Test
    void helpListsEveryOptionWithItsVariableAndDefault() {
        var server = programs().get(0).options();
        assertThat(server).hasSizeGreaterThan(15);
        assertThat(server.get("--listen")).isEqualTo(new Documented("--listen ADDR", "FERRY_LISTEN",
                "every interface, IPv4 and IPv6", "ferry-server --help"));
        assertThat(server.get("--fsync").isSwitch()).isTrue();
        var client = programs().get(1).options();
        assertThat(client.keySet()).containsExactly("--quiet", "--verbose", "--timeout-ms", "--parallel", "--tls", "--cacert",
                "--cert", "--key");
        assertThat(client.get("--quiet")).isEqualTo(new Documented("-q, --quiet", "FERRY_QUIET", "off",
                "ferry-client --help"));
    }

    @ParameterizedTest
    @MethodSource("programs")
    void theManPageGivesEveryOptionItsFlagsVariableAndDefault(Program program) throws IOException {
        Path page = ROOT.resolve("packaging").resolve(program.name() + ".1");
        var problems = new ArrayList<String>();
        var listed = new TreeSet<String>();
        for (Documented entry : manPageOptions(page, ROOT.relativize(page).toString())) {
            if (entry.builtIn()) {
                continue;
            }
            if (!listed.add(entry.flag())) {
                problems.add(entry.where() + ": " + entry.flag() + " is listed twice");
            }
            check(program, entry, problems);
        }
        for (String flag : program.options().keySet()) {
            if (!listed.contains(flag)) {
                problems.add(ROOT.relativize(page) + ": " + flag + " (" + program.options().get(flag).variable()
                        + ") is missing from OPTIONS");
            }
        }
        assertThat(problems).as("the man page against " + program.name() + " --help").isEmpty();
    }

    @Test
    void everyOptionTableRowIsARealOptionAndEveryOptionHasARow() throws IOException {
        var programs = programs();
        var files = new ArrayList<Path>();
        if (Files.isRegularFile(ROOT.resolve("README.md"))) {
            files.add(ROOT.resolve("README.md"));
        }
        if (Files.isDirectory(ROOT.resolve("docs"))) {
            try (Stream<Path> docs = Files.list(ROOT.resolve("docs"))) {
                docs.filter(file -> file.getFileName().toString().endsWith(".md")).sorted().forEach(files::add);
            }
        }
        var problems = new ArrayList<String>();
        var tabled = new LinkedHashMap<Program, Set<String>>();
        programs.forEach(program -> tabled.put(program, new TreeSet<>()));
        for (Path file : files) {
            for (List<Documented> table : optionTables(file, ROOT.relativize(file).toString())) {
                Program program = programOf(table, programs);
                for (Documented row : table) {
                    if (row.builtIn()) {
                        if (!row.variable().isEmpty() || !row.defaultText().isEmpty()) {
                            problems.add(row.where() + ": " + row.synopsis() + " has no variable and no default");
                        }
                    } else if (program == null) {
                        problems.add(row.where() + ": " + row.synopsis() + " is no option of any program");
                    } else {
                        check(program, row, problems);
                        tabled.get(program).add(row.flag());
                    }
                }
            }
        }
        tabled.forEach((program, flags) -> program.options().keySet().stream().filter(flag -> !flags.contains(flag))
                .forEach(flag -> problems.add(program.name() + " " + flag + " is in no option table of "
                        + files.stream().map(file -> ROOT.relativize(file).toString()).toList())));
        assertThat(problems).as("the option tables against --help").isEmpty();
    }

    @Test
    void aManPageEntryIsReadFromItsTagAndItsBody() {
        var entries = manPageOptions(List.of(
                ".SH OPTIONS", "Text before the list.", ".TP", ".BR \\-q \", \" \\-\\-quiet",
                "(T_QUIET) say less;", "default: off.",
                ".TP", ".BI \\-\\-size \" SIZE|N%\"", "(T_SIZE) with", ".I FILE-DIR",
                "only; default: (a \\- 1) / 2.",
                ".TP", ".B \\-\\-bare", "no variable", ".PP", "After the list.",
                ".SH NEXT", ".TP", ".B \\-\\-other"), "t.1");
        assertThat(entries).containsExactly(
                new Documented("-q, --quiet", "T_QUIET", "off", "t.1:4"),
                new Documented("--size SIZE|N%", "T_SIZE", "(a - 1) / 2", "t.1:8"),
                new Documented("--bare", "", "", "t.1:13"));
    }

    @Test
    void aTableRowIsSplitAtItsUnescapedBars() {
        var tables = optionTables(List.of(
                "| Option | Variable | Default | What |", "|---|---|---|---|",
                "| `--min-free SIZE\\|N%` | `T_MIN` | (limit \u2212 64) / 2 | a \\| b |",
                "| `-h`, `--help` | | | help |",
                "", "```", "| `--in-code` | `T_CODE` | x | y |", "```",
                "| `-q`, `--quiet` | `T_QUIET=1` | `off` | quiet |"), "t.md");
        assertThat(tables).containsExactly(
                List.of(new Documented("--min-free SIZE|N%", "T_MIN", "(limit - 64) / 2", "t.md:3"),
                        new Documented("-h, --help", "", "", "t.md:4")),
                List.of(new Documented("-q, --quiet", "T_QUIET=1", "off", "t.md:9")));
    }

    /** Adds to {@code problems} what {@code documented} states otherwise than {@code program}'s help. */
    private static void check(Program program, Documented documented, List<String> problems) {
        Documented help = program.options().get(documented.flag());
        String where = documented.where() + ": " + documented.synopsis();
        if (help == null) {
            problems.add(where + " is no option of " + program.name() + " (its options: "
                    + program.options().keySet() + ")");
            return;
        }
        if (!documented.synopsis().equals(help.synopsis())) {
            problems.add(where + ": --help writes it " + help.synopsis());
        }
        if (!documented.variable().equals(help.variable())
                && !(help.isSwitch() && documented.variable().equals(help.variable() + "=1"))) {
            problems.add(where + ": variable " + quoted(documented.variable()) + ", but --help says "
                    + help.variable());
        }
        String stated = documented.defaultText();
        if (!stated.equals(help.defaultText())
                && !(stated.startsWith(help.defaultText() + " (") && stated.endsWith(")"))) {
            problems.add(where + ": default " + quoted(stated) + ", but --help says " + quoted(help.defaultText()));
        }
    }

    private static String quoted(String text) {
        return "\"" + text + "\"";
    }

    /** The program whose option the table's first row that is not --help or --version names, or null. */
    private static Program programOf(List<Documented> table, List<Program> programs) {
        for (Documented row : table) {
            if (!row.builtIn()) {
                return programs.stream().filter(program -> program.options().containsKey(row.flag()))
                        .findFirst().orElse(null);
            }
        }
        return null;
    }

    // --- --help ------------------------------------------------------------------------------

    /** The options that {@code help} prints: for each, {@code "  SYNOPSIS   (VARIABLE)"}, then its help line. */
    private static Map<String, Documented> fromHelp(String name, Function<PrintStream, ExitCode> help) {
        var bytes = new ByteArrayOutputStream();
        var out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        assertThat(help.apply(out)).isEqualTo(ExitCode.OK);
        List<String> lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
        var options = new LinkedHashMap<String, Documented>();
        Pattern head = Pattern.compile("  (\\S.*?)   \\(([A-Z][A-Z0-9_]*)\\)");
        for (int i = lines.indexOf("Options:") + 1; i > 0 && i + 1 < lines.size() && !lines.get(i).isEmpty(); i += 2) {
            Matcher matcher = head.matcher(lines.get(i));
            String text = lines.get(i + 1);
            int defaultAt = text.lastIndexOf("; default: ");
            if (matcher.matches()) {
                var option = new Documented(matcher.group(1), matcher.group(2),
                        defaultAt < 0 ? "" : text.substring(defaultAt + "; default: ".length()), name);
                options.put(option.flag(), option);
            }
        }
        return options;
    }

    // --- man pages ---------------------------------------------------------------------------

    private static List<Documented> manPageOptions(Path page, String name) throws IOException {
        return manPageOptions(Files.readAllLines(page, StandardCharsets.UTF_8), name);
    }

    /**
     * The entries of the section OPTIONS: each {@code .TP}, its tag line (the
     * flags and value), and a paragraph that begins with {@code (VARIABLE)}
     * and ends with {@code ; default: DEFAULT.}
     */
    static List<Documented> manPageOptions(List<String> lines, String name) {
        var entries = new ArrayList<Documented>();
        int i = lines.indexOf(".SH OPTIONS");
        if (i < 0) {
            return entries;
        }
        for (i++; i < lines.size() && !lines.get(i).startsWith(".SH"); i++) {
            if (!lines.get(i).equals(".TP") || i + 1 >= lines.size()) {
                continue;
            }
            int tagLine = ++i;
            var body = new ArrayList<String>();
            while (i + 1 < lines.size() && !lines.get(i + 1).matches("\\.(TP|PP|LP|P|SH|SS)\\b.*")) {
                body.add(troffText(lines.get(++i)));
            }
            String text = String.join(" ", body);
            Matcher variable = Pattern.compile("\\(([A-Z][A-Z0-9_]*(?:=1)?)\\).*").matcher(text);
            int defaultAt = text.lastIndexOf("; default: ");
            String defaultText = defaultAt < 0 ? "" : text.substring(defaultAt + "; default: ".length());
            entries.add(new Documented(troffText(lines.get(tagLine)), variable.matches() ? variable.group(1) : "",
                    defaultText.endsWith(".") ? defaultText.substring(0, defaultText.length() - 1) : defaultText,
                    name + ":" + (tagLine + 1)));
        }
        return entries;
    }

    /** The text a troff line prints: a font macro's arguments, joined as the macro does, without escapes. */
    private static String troffText(String line) {
        String text = line;
        Matcher macro = Pattern.compile("\\.(B|I|BI|BR|IB|IR|RB|RI)(?: (.*))?").matcher(line);
        if (macro.matches()) {
            var arguments = new ArrayList<String>();
            Matcher argument = Pattern.compile("\"([^\"]*)\"|(\\S+)")
                    .matcher(macro.group(2) == null ? "" : macro.group(2));
            while (argument.find()) {
                arguments.add(argument.group(1) != null ? argument.group(1) : argument.group(2));
            }
            // .B and .I print their arguments as words; the others alternate two fonts without a space.
            text = String.join(macro.group(1).length() == 1 ? " " : "", arguments);
        }
        return text.replaceAll("\\\\f[BIRP]", "").replace("\\-", "-").replace("\\e", "\\");
    }

    // --- markdown ----------------------------------------------------------------------------

    private static List<List<Documented>> optionTables(Path file, String name) throws IOException {
        return optionTables(Files.readAllLines(file, StandardCharsets.UTF_8), name);
    }

    /**
     * The option rows of each table, a table being consecutive lines that
     * begin with {@code |}: rows whose first cell is a flag in backticks,
     * {@code | `--flag VALUE` | `VARIABLE` | default | what |}. Code blocks are
     * skipped.
     */
    static List<List<Documented>> optionTables(List<String> lines, String name) {
        var tables = new ArrayList<List<Documented>>();
        List<Documented> table = new ArrayList<>();
        boolean code = false;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.startsWith("```")) {
                code = !code;
            }
            if (code || !line.startsWith("|")) {
                if (!table.isEmpty()) {
                    tables.add(table);
                    table = new ArrayList<>();
                }
                continue;
            }
            List<String> cells = new ArrayList<>(List.of(line.split("(?<!\\\\)\\|", -1)));
            cells.remove(0);
            if (cells.size() >= 3 && cells.get(0).strip().startsWith("`-")) {
                table.add(new Documented(cell(cells.get(0)), cell(cells.get(1)), cell(cells.get(2)),
                        name + ":" + (i + 1)));
            }
        }
        if (!table.isEmpty()) {
            tables.add(table);
        }
        return tables;
    }

    /** A cell's text: without backticks and escapes, a minus sign written as a hyphen. */
    private static String cell(String cell) {
        return cell.replace("`", "").replace("\\|", "|").replace('\u2212', '-').strip();
    }

    // --- the repository ----------------------------------------------------------------------

    /**
     * The project's base directory: Maven's {@code basedir}, else the nearest
     * directory above this class's compiled form, else above the working
     * directory, that holds pom.xml and packaging/.
     */
    private static Path projectRoot() {
        var starts = new ArrayList<Path>();
        if (System.getProperty("basedir") != null) {
            starts.add(Path.of(System.getProperty("basedir")));
        }
        try {
            starts.add(Path.of(OptionDocsTest.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
        } catch (URISyntaxException | RuntimeException e) {
            // No location (an unusual class loader): the working directory remains.
        }
        starts.add(Path.of(System.getProperty("user.dir")));
        for (Path start : starts) {
            for (Path dir = start.toAbsolutePath().normalize(); dir != null; dir = dir.getParent()) {
                if (Files.isRegularFile(dir.resolve("pom.xml")) && Files.isDirectory(dir.resolve("packaging"))) {
                    return dir;
                }
            }
        }
        throw new IllegalStateException("no project directory (with pom.xml and packaging/) above " + starts);
    }
}
