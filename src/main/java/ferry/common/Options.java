package ferry.common;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The options of one program: each is a flag written before the positional
 * arguments ({@code --metrics 9100}, {@code --metrics=9100}) and an
 * environment variable ({@code FERRY_METRICS=9100}), so that a systemd
 * {@code EnvironmentFile} configures what a command line does. A flag wins
 * over its variable. Options end at the first positional argument or at
 * {@code --}; a lone {@code -} (standard input) and a negative number (a
 * wrong port, reported as such) are positional.
 */
public final class Options {
    /**
     * One option.
     *
     * @param flag        the long flag, {@code --name}
     * @param variable    the environment variable that sets it too
     * @param value       how help names its value ({@code ADDR}), or null for a switch (no value)
     * @param defaultText the default, as help states it
     * @param help        one line of help
     * @param shortFlag   a one-letter form, {@code -q}, or null; written alone ({@code -qv} is not two flags)
     */
    public record Option(String flag, String variable, String value, String defaultText, String help,
                         String shortFlag) {
        public Option {
            // No regular expression: the client checks its options at every start.
            if (shortFlag != null && (shortFlag.length() != 2 || shortFlag.charAt(0) != '-'
                    || !Character.isLetter(shortFlag.charAt(1)) || shortFlag.equals("-h"))) {
                throw new IllegalArgumentException("a short flag is - and one letter other than h: " + shortFlag);
            }
        }

        /** An option with a long flag only. */
        public Option(String flag, String variable, String value, String defaultText, String help) {
            this(flag, variable, value, defaultText, help, null);
        }

        /** The same option, also written as {@code shortFlag} ({@code -q}). */
        public Option withShortFlag(String shortFlag) {
            return new Option(flag, variable, value, defaultText, help, shortFlag);
        }

        public boolean isSwitch() {
            return value == null;
        }
    }

    /** The help and version flags, which every program takes and which no variable sets. */
    public static final String HELP = "--help";
    public static final String VERSION = "--version";

    private final List<Option> options;

    public Options(List<Option> options) {
        this.options = List.copyOf(options);
    }

    public List<Option> all() {
        return options;
    }

    /**
     * What a command line asked for.
     *
     * @param help        {@code --help} or {@code -h} came before the positionals
     * @param version     {@code --version} did
     * @param positionals the arguments after the options
     * @param settings    every option's value, from its flag or else its variable
     */
    public record Parsed(boolean help, boolean version, List<String> positionals, Settings settings) {
    }

    /**
     * Splits {@code args} into options and positionals and merges the flags
     * over {@code env}. A flag that is unknown or lacks its value is a usage
     * error; {@code usage} is appended to its message.
     */
    public Parsed parse(String[] args, Map<String, String> env, String usage) throws UserError {
        var values = new HashMap<String, String>();
        var fromFlag = new HashMap<String, String>();
        boolean help = false;
        boolean version = false;
        int i = 0;
        for (; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--")) {
                i++;
                break;
            }
            if (!arg.startsWith("-") || arg.equals("-") || arg.matches("-[0-9]+")) {
                break;
            }
            if (arg.equals(HELP) || arg.equals("-h")) {
                help = true;
                continue;
            }
            if (arg.equals(VERSION)) {
                version = true;
                continue;
            }
            int equals = arg.indexOf('=');
            String name = equals < 0 ? arg : arg.substring(0, equals);
            Option option = byFlag(name);
            if (option == null) {
                throw UserError.usage("unknown option " + Arguments.quote(name) + " (--help lists them)\n" + usage);
            }
            String value;
            if (option.isSwitch()) {
                if (equals >= 0) {
                    throw UserError.usage("option " + name + " takes no value\n" + usage);
                }
                value = "1";
            } else if (equals >= 0) {
                value = arg.substring(equals + 1);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw UserError.usage("option " + name + " needs a value (" + option.value() + ")\n" + usage);
            }
            values.put(option.variable(), value);
            fromFlag.put(option.variable(), name);
        }
        var positionals = List.of(args).subList(i, args.length);
        for (Option option : options) {
            if (!fromFlag.containsKey(option.variable())) {
                String value = env.get(option.variable());
                if (value != null) {
                    values.put(option.variable(), value);
                }
            }
        }
        return new Parsed(help, version, List.copyOf(positionals), new Settings(values, fromFlag));
    }

    private Option byFlag(String flag) {
        for (Option option : options) {
            if (option.flag().equals(flag) || flag.equals(option.shortFlag())) {
                return option;
            }
        }
        return null;
    }

    /** The option list for {@code --help}: flag and value, variable, then what it does and its default. */
    public String help() {
        var lines = new ArrayList<String>();
        for (Option option : options) {
            lines.add("  " + synopsis(option) + "   (" + option.variable() + ")");
            lines.add("      " + option.help()
                    + (option.defaultText().isEmpty() ? "" : "; default: " + option.defaultText()));
        }
        lines.add("  -h, --help");
        lines.add("      this text, then exit 0");
        lines.add("  --version");
        lines.add("      the version, then exit 0");
        return String.join("\n", lines);
    }

    private static String synopsis(Option option) {
        String flags = option.shortFlag() == null ? option.flag() : option.shortFlag() + ", " + option.flag();
        return option.isSwitch() ? flags : flags + " " + option.value();
    }

    /** Option values by variable name, and where each came from, for messages. */
    public static final class Settings {
        private final Map<String, String> values;
        private final Map<String, String> fromFlag;

        Settings(Map<String, String> values, Map<String, String> fromFlag) {
            this.values = Map.copyOf(values);
            this.fromFlag = Map.copyOf(fromFlag);
        }

        /** Settings taken from the environment alone (for tests and callers without flags). */
        public static Settings of(Map<String, String> env) {
            return new Settings(env, Map.of());
        }

        /** The value, or null when neither the flag nor the variable is set (an empty variable is unset). */
        public String get(String variable) {
            String value = values.get(variable);
            return value == null || value.isEmpty() && !fromFlag.containsKey(variable) ? null : value;
        }

        /** True when the option's flag was given (it then wins over the variable). */
        public boolean givenAsFlag(String variable) {
            return fromFlag.containsKey(variable);
        }

        /** How a message names the option: the flag if it was given, else the variable. */
        public String label(String variable) {
            return fromFlag.getOrDefault(variable, variable);
        }

        /**
         * A switch: on for the flag, and for the variable set to 1, true, yes
         * or on; off for 0, false, no, off or unset.
         */
        public boolean on(String variable) throws UserError {
            String value = get(variable);
            if (value == null) {
                return false;
            }
            return switch (value.toLowerCase(java.util.Locale.ROOT)) {
                case "1", "true", "yes", "on" -> true;
                case "0", "false", "no", "off" -> false;
                default -> throw UserError.usage("invalid " + label(variable) + " " + Arguments.quote(value)
                        + ": must be 1 or 0 (true/false, yes/no, on/off)");
            };
        }

        /** A whole number from 1 to {@code max}, or {@code fallback} when unset. */
        public long number(String variable, String what, long max, long fallback) throws UserError {
            String value = get(variable);
            return value == null ? fallback : Arguments.number(label(variable), value, what, max);
        }
    }
}
