package ferry.server.numbering;

import ferry.server.report.Log;
import java.io.IOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

/**
 * {@code --counter postgresql://...}: blocks of connection numbers from a
 * one-row table shared by every receiver using the same database, so that
 * numbers are unique across them and never reused, even after a crash.
 *
 * <p>A block is taken by {@code UPDATE ferry_counter SET next = next + size
 * RETURNING next} in a transaction that is committed (with
 * {@code synchronous_commit} on: flushed to the write-ahead log) before any of
 * its numbers is handed out; a bare {@code nextval} would not be durable. The
 * table is created on first use, under an advisory lock so that receivers
 * starting together do not trip over each other. Every call has a time limit
 * (connect, login, socket reads). The only class of ferry that names JDBC:
 * loaded, with the driver, only when the option is on.
 */
public final class PostgresCounter implements BlockCounter.Allocator {
    /** Numbers per round trip to the database (the gaps a stopped receiver leaves are at most this). */
    static final int BLOCK_SIZE = 100;
    /** Seconds allowed to connect, to log in, and for any one reply. */
    static final int CONNECT_TIMEOUT_SECONDS = 5;
    static final int SOCKET_TIMEOUT_SECONDS = 10;
    /** The advisory lock taken while creating the table: "ferry" in ASCII. */
    private static final long SCHEMA_LOCK = 0x6665727279L;

    private final CounterOptions options;
    private Connection connection;
    private boolean schemaReady;

    private PostgresCounter(CounterOptions options) {
        this.options = options;
    }

    /** The allocator alone, without a counter around it (for tests). */
    static PostgresCounter allocator(CounterOptions options) {
        return new PostgresCounter(options);
    }

    /** A counter whose first block is being fetched; a database that is down only delays the numbers. */
    public static ConnectionCounter start(CounterOptions options, Log log) {
        return new BlockCounter(new PostgresCounter(options), BLOCK_SIZE, options.shown(), log);
    }

    @Override
    public long allocate(int size) throws IOException {
        try {
            Connection db = connection();
            if (!schemaReady) {
                createSchema(db);
                schemaReady = true;
            }
            long first;
            try (var update = db.prepareStatement("UPDATE ferry_counter SET next = next + ? RETURNING next")) {
                update.setQueryTimeout(SOCKET_TIMEOUT_SECONDS);
                update.setLong(1, size);
                try (var result = update.executeQuery()) {
                    if (!result.next()) {
                        throw new SQLException("table ferry_counter has no row");
                    }
                    first = result.getLong(1) - size;
                }
            }
            // Durable before any number of the block is handed out.
            db.commit();
            return first;
        } catch (SQLException e) {
            close();
            throw new IOException(describe(e), e);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The driver's message, first line only (PostgreSQL's own may go on with detail and hints). */
    private static String describe(SQLException e) {
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().strip();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline).strip();
    }

    /** The table (one row, the next number to give out) and its row, if missing. */
    private static void createSchema(Connection db) throws SQLException {
        try (var statement = db.createStatement()) {
            statement.setQueryTimeout(SOCKET_TIMEOUT_SECONDS);
            statement.execute("SELECT pg_advisory_xact_lock(" + SCHEMA_LOCK + ")");
            statement.execute("CREATE TABLE IF NOT EXISTS ferry_counter ("
                    + "id boolean PRIMARY KEY DEFAULT true CHECK (id), next bigint NOT NULL CHECK (next > 0))");
            statement.execute("INSERT INTO ferry_counter (id, next) VALUES (true, 1) ON CONFLICT (id) DO NOTHING");
        }
        db.commit();
    }

    private Connection connection() throws SQLException {
        if (connection == null) {
            var properties = new Properties();
            if (options.user() != null) {
                properties.setProperty("user", options.user());
            }
            if (options.password() != null) {
                properties.setProperty("password", options.password());
            }
            properties.setProperty("connectTimeout", Integer.toString(CONNECT_TIMEOUT_SECONDS));
            properties.setProperty("loginTimeout", Integer.toString(CONNECT_TIMEOUT_SECONDS));
            properties.setProperty("socketTimeout", Integer.toString(SOCKET_TIMEOUT_SECONDS));
            properties.setProperty("tcpKeepAlive", "true");
            properties.setProperty("ApplicationName", "ferry-server");
            var db = DriverManager.getConnection(options.jdbcUrl(), properties);
            try {
                db.setAutoCommit(false);
                try (var statement = db.createStatement()) {
                    statement.setQueryTimeout(SOCKET_TIMEOUT_SECONDS);
                    // A commit must reach the disk before its numbers count as taken, whatever the server's default.
                    statement.execute("SET synchronous_commit TO on");
                }
                db.commit();
            } catch (SQLException | RuntimeException e) {
                closeQuietly(db);
                throw e;
            }
            connection = db;
        }
        return connection;
    }

    @Override
    public void close() {
        if (connection != null) {
            closeQuietly(connection);
            connection = null;
        }
    }

    private static void closeQuietly(Connection db) {
        try {
            db.close();
        } catch (SQLException | RuntimeException e) {
            // Gone already.
        }
    }
}
