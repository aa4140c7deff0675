package ferry.server.report;

import ferry.common.Arguments;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The upload hook ({@code --on-upload CMD}): after each upload ends,
 * complete or not, runs {@link Hook CMD} with the file's path, off the I/O
 * path. {@link #uploadEnded} only queues; at most {@code jobs} hooks run at
 * once, on as many worker threads (started as needed, each running one hook
 * at a time), and the rest wait in a queue of at most {@link #QUEUE_LIMIT}.
 * Each hook ends by its timeout; each is logged as one {@code hook} event.
 *
 * <p>At a stop, hooks still running or queued (the last uploads' among them)
 * go on until the stop's deadline; then those not started are logged as
 * skipped and those running are ended (SIGTERM to the process tree, SIGKILL
 * after {@link #STOP_KILL_GRACE}) and logged. Nothing of a hook outlives the
 * server but what it detached from its own process tree.
 */
public final class HookRunner implements ServerEvents {
    /** Hooks waiting for a worker, at most: 10,000. A hook beyond it is logged as skipped and not run. */
    static final int QUEUE_LIMIT = 10_000;
    /** After a hook's timeout, how long its processes have between SIGTERM and SIGKILL: 2 s. */
    static final Duration KILL_GRACE = Duration.ofSeconds(2);
    /** After a stop's deadline, how long running hooks have between SIGTERM and SIGKILL: 500 ms. */
    static final Duration STOP_KILL_GRACE = Duration.ofMillis(500);

    private final HookOptions options;
    private final Log log;
    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled when a hook is queued, and when the runner closes. */
    private final Condition queued = lock.newCondition();
    /** Signalled when a hook ends. */
    private final Condition ended = lock.newCondition();
    private final ArrayDeque<UploadRecord> queue = new ArrayDeque<>();
    private final Set<Hook> running = new HashSet<>();
    /** Workers started, and those of them waiting for a hook. */
    private int workers;
    private int idleWorkers;
    /** Workers between taking a hook and its log line (running, or starting). */
    private int busy;
    /** The stop has begun: workers leave once the queue is empty. */
    private boolean closing;
    /** The stop's deadline has passed: no hook starts any more. */
    private boolean stopped;

    public HookRunner(HookOptions options, Log log) {
        this.options = options;
        this.log = log;
    }

    /** Queues the upload's hook; never waits (the caller is the upload's worker, before its socket closes). */
    @Override
    public void uploadEnded(UploadRecord record) {
        String skipped = null;
        lock.lock();
        try {
            if (stopped) {
                skipped = "the server stopped before it could run";
            } else if (queue.size() >= QUEUE_LIMIT) {
                skipped = QUEUE_LIMIT + " hooks already waiting";
            } else {
                queue.add(record);
                if (idleWorkers > 0) {
                    queued.signal();
                }
                // A signalled worker counts as idle until it runs: more queued hooks than idle workers
                // (records arriving together, at a stop say) need workers of their own, up to jobs.
                if (queue.size() > idleWorkers && workers < options.jobs()) {
                    startWorker();
                }
            }
        } finally {
            lock.unlock();
        }
        if (skipped != null) {
            logSkipped(record, skipped);
        }
    }

    /** Starts one more worker; called holding the lock. */
    private void startWorker() {
        workers++;
        try {
            Thread.ofPlatform().name("ferry-hook-" + workers).daemon().start(this::work);
        } catch (RuntimeException | OutOfMemoryError e) {
            // No thread to be had (a process limit): the queued hook waits for a worker that exists, if any.
            workers--;
            log.line("cannot start a hook worker: " + e);
        }
    }

    /**
     * Lets queued and running hooks go on until {@code deadlineNanos}, then
     * skips those not started and ends those running, each logged; returns
     * once every hook's line is written (or, for a process that will not
     * die, a bounded while after SIGKILL).
     */
    @Override
    public void close(long deadlineNanos) {
        List<UploadRecord> notRun;
        List<Hook> toEnd;
        lock.lock();
        try {
            closing = true;
            queued.signalAll();
            awaitIdle(deadlineNanos);
            stopped = true;
            notRun = new ArrayList<>(queue);
            queue.clear();
            toEnd = new ArrayList<>(running);
        } finally {
            lock.unlock();
        }
        notRun.forEach(record -> logSkipped(record, "the server stopped before it could run"));
        toEnd.forEach(hook -> hook.terminate(Hook.Ending.STOP));
        long killAt = System.nanoTime() + STOP_KILL_GRACE.toNanos();
        try {
            for (Hook hook : toEnd) {
                if (!hook.awaitTree(killAt)) {
                    hook.kill();
                }
            }
        } catch (InterruptedException e) {
            toEnd.forEach(Hook::kill);
            Thread.currentThread().interrupt();
        }
        lock.lock();
        try {
            // The workers write the lines of the hooks just ended (the stderr tail takes them a moment),
            // and end any that started as the deadline passed, unseen above, within the same grace.
            awaitIdle(System.nanoTime() + STOP_KILL_GRACE.toNanos());
        } finally {
            lock.unlock();
        }
    }

    /** Waits, holding the lock, until no hook is queued or running, or the deadline passes. */
    private void awaitIdle(long deadlineNanos) {
        try {
            while (!(queue.isEmpty() && busy == 0)) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                ended.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A worker: runs one queued hook after another, until the runner closes. */
    private void work() {
        while (true) {
            UploadRecord record;
            lock.lock();
            try {
                while (queue.isEmpty() && !closing) {
                    idleWorkers++;
                    try {
                        queued.awaitUninterruptibly();
                    } finally {
                        idleWorkers--;
                    }
                }
                if (queue.isEmpty() || stopped) {
                    // Closing: a hook queued after this (a late record) starts a worker of its own.
                    workers--;
                    return;
                }
                record = queue.poll();
                busy++;
            } finally {
                lock.unlock();
            }
            try {
                run(record);
            } catch (RuntimeException e) {
                log.line("hook conn=" + record.number() + " failed: " + e);
            } finally {
                lock.lock();
                try {
                    busy--;
                    ended.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    private void run(UploadRecord record) {
        Hook hook;
        try {
            hook = Hook.start(options.command(), options.environment(), record);
        } catch (IOException e) {
            log(Hook.notStarted(record, "cannot run /bin/sh: " + Arguments.describe(e)));
            return;
        }
        boolean late;
        lock.lock();
        try {
            running.add(hook);
            late = stopped;
        } finally {
            lock.unlock();
        }
        Hook.Result result;
        try {
            if (late) {
                // Started as the stop's deadline passed, unseen by close(): it ends at once.
                hook.terminate(Hook.Ending.STOP);
                if (!hook.awaitTree(System.nanoTime() + STOP_KILL_GRACE.toNanos())) {
                    hook.kill();
                }
            }
            result = hook.await(options.timeout(), KILL_GRACE);
        } catch (InterruptedException e) {
            hook.kill();
            Thread.currentThread().interrupt();
            result = Hook.notStarted(record, "interrupted");
        } finally {
            lock.lock();
            try {
                running.remove(hook);
            } finally {
                lock.unlock();
            }
        }
        log(result);
    }

    private void log(Hook.Result result) {
        UploadRecord upload = result.upload();
        var line = new StringBuilder(200).append("hook conn=").append(upload.number());
        var fields = new LinkedHashMap<String, Object>();
        fields.put("conn", upload.number());
        fields.put("file", upload.savedAs());
        fields.put("outcome", upload.outcome().label());
        if (result.error() != null) {
            line.append(" error=").append(Arguments.quote(result.error()));
            fields.put("error", result.error());
        } else {
            line.append(" exit=").append(result.exit() == null ? "none" : result.exit())
                    .append(" ms=").append(result.millis());
            fields.put("exit", result.exit());
            fields.put("ms", result.millis());
            fields.put("timed_out", result.ending() == Hook.Ending.TIMEOUT);
            fields.put("stopped", result.ending() == Hook.Ending.STOP);
            if (result.ending() == Hook.Ending.TIMEOUT) {
                line.append(" timed-out=true");
            } else if (result.ending() == Hook.Ending.STOP) {
                line.append(" stopped=true");
            }
            fields.put("stderr", result.stderr());
        }
        line.append(" outcome=").append(upload.outcome().label()).append(" file=").append(upload.savedAs());
        if (!result.stderr().isEmpty()) {
            line.append(" stderr=").append(Arguments.quote(result.stderr()));
        }
        log.event(Instant.now(), "hook", line.toString(), fields);
    }

    private void logSkipped(UploadRecord upload, String why) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("conn", upload.number());
        fields.put("file", upload.savedAs());
        fields.put("outcome", upload.outcome().label());
        fields.put("skipped", why);
        log.event(Instant.now(), "hook", "hook conn=" + upload.number() + " skipped=" + Arguments.quote(why)
                + " outcome=" + upload.outcome().label() + " file=" + upload.savedAs(), fields);
    }

    @Override
    public String toString() {
        return "the upload hook";
    }
}
