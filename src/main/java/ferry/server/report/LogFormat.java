package ferry.server.report;

/** How the log is written. */
public enum LogFormat {
    /** {@code <time> ferry: key=value ...}, one line per event. */
    TEXT,
    /** One JSON object per line. */
    JSON
}
