package ferry.client;

import ferry.common.Arguments;
import ferry.common.ExitCode;
import ferry.common.UserError;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@code ./client HOST PORT FILE FILE...}: each file over a connection of its
 * own, from one JVM, in the order given, up to {@code --parallel} at once.
 * Connections are opened strictly in that order (each waits until the one
 * before has connected), so a server that numbers connections in accept
 * order, as ferry does, numbers the files in the order given.
 *
 * <p>The first failure stops the batch: no file after it is started; files
 * already on their way finish. Then one {@code ERROR:} line names the file
 * that failed and why, the files sent and those not sent, and the exit code
 * is that failure's.
 */
final class Batch {
    /** How a file of the batch ended. */
    private enum State { NOT_SENT, SENT, FAILED }

    private final ClientConfig config;
    private final PrintStream err;
    private final State[] states;
    /** Guards {@link #turn}. */
    private final ReentrantLock turns = new ReentrantLock();
    /**
     * Where file i waits for its turn: {@code waiting[i % threads]}. The pool
     * runs files in order, so those waiting at once are consecutive, fewer
     * than its threads, and each has a condition of its own: passing the turn
     * wakes only the file whose turn it is, not every thread of the pool.
     */
    private Condition[] waiting;
    /** The index of the file whose turn it is to connect. */
    private int turn;
    private UserError failure;
    private Path failed;

    private Batch(ClientConfig config, PrintStream err) {
        this.config = config;
        this.err = err;
        this.states = new State[config.files().size()];
        java.util.Arrays.fill(states, State.NOT_SENT);
    }

    /** Sends every file of {@code config}; the summary lines ({@code --verbose}) and the ERROR: line go to {@code err}. */
    static ExitCode run(ClientConfig config, PrintStream err) {
        return new Batch(config, err).run();
    }

    private ExitCode run() {
        InetAddress[] addresses;
        try {
            // Once for the batch: the host has one set of addresses for all its files.
            addresses = new Sender(config).resolve(System.nanoTime() + config.timeout().toNanos());
        } catch (UserError e) {
            err.println(e.line());
            return e.exitCode();
        }
        int threads = Math.min(config.parallel(), states.length);
        waiting = new Condition[threads];
        for (int i = 0; i < threads; i++) {
            waiting[i] = turns.newCondition();
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads, Thread.ofPlatform().daemon().factory());
        for (int i = 0; i < states.length; i++) {
            int index = i;
            pool.execute(() -> send(index, addresses));
        }
        pool.shutdown();
        try {
            // Each file ends within its own time limits (connect, stalls, confirmation).
            pool.awaitTermination(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (failure == null) {
            return ExitCode.OK;
        }
        err.println("ERROR: " + Arguments.quote(failed.toString()) + ": " + failure.getMessage() + "; "
                + list("sent", State.SENT) + "; " + list("not sent", State.NOT_SENT));
        return failure.exitCode();
    }

    /** Sends file {@code index}, unless a file before it has failed. */
    private void send(int index, InetAddress[] addresses) {
        Path file = config.files().get(index);
        if (stopped()) {
            // Its turn still comes and goes, so that the files after it do not wait for it.
            awaitTurn(index);
            passTurn(index);
            return;
        }
        var sender = new Sender(config.withFile(file), addresses, new Sender.Turn() {
            @Override
            public void await() throws InterruptedException {
                awaitTurn(index);
            }

            @Override
            public void done() {
                passTurn(index);
            }
        });
        long started = System.nanoTime();
        try {
            long sent = sender.send();
            record(index, State.SENT, null);
            if (config.verbose()) {
                String summary = Progress.summary(sent, config.server(), System.nanoTime() - started);
                synchronized (err) {
                    err.println(Arguments.quote(file.toString()) + ": " + summary);
                }
            }
        } catch (UserError e) {
            record(index, State.FAILED, e);
        } catch (RuntimeException e) {
            record(index, State.FAILED, UserError.failure("unexpected failure: " + e));
        } finally {
            if (sender.phase() < Sender.SENDING) {
                // Failed before its connection was made (a file that cannot be opened, say): its turn
                // must still come and go, or the files after it would wait for it forever.
                awaitTurn(index);
                passTurn(index);
            }
        }
    }

    private synchronized boolean stopped() {
        return failure != null;
    }

    private synchronized void record(int index, State state, UserError error) {
        states[index] = state;
        if (error != null && failure == null) {
            failure = error;
            failed = config.files().get(index);
        }
    }

    private void awaitTurn(int index) {
        turns.lock();
        try {
            while (turn < index) {
                waiting[index % waiting.length].await();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            turns.unlock();
        }
    }

    private void passTurn(int index) {
        turns.lock();
        try {
            if (turn == index) {
                turn = index + 1;
                waiting[turn % waiting.length].signal();
            }
        } finally {
            turns.unlock();
        }
    }

    /** {@code sent 2 (a, b)}: the files in {@code state}, in order. */
    private synchronized String list(String label, State state) {
        var names = new ArrayList<String>();
        for (int i = 0; i < states.length; i++) {
            if (states[i] == state) {
                names.add(Arguments.quote(config.files().get(i).toString()));
            }
        }
        return label + " " + names.size() + (names.isEmpty() ? "" : " (" + String.join(", ", names) + ")");
    }
}
