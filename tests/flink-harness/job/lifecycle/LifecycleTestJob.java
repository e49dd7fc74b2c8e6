package lifecycle;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

/**
 * Unbounded stateful job for flink-lifecycle's tests (compiles against Flink 1.19+ and 2.x).
 *
 * <p>A rate-limited sequence is keyed by {@code value % keys}; a keyed ValueState counts records
 * per key. Because the sequence is round-robin over the keys, all counters stay within one of each
 * other, so the state is summarised by two numbers that a test can read from outside:
 * {@code max} (highest counter now) and {@code restored-min} (lowest counter value a key had when
 * this task attempt first saw it, i.e. what the attempt restored; 0 when it started empty).
 * Each subtask rewrites {@code <out-dir>/counter-<subtask>.properties} atomically about every
 * 100 ms.
 *
 * <p>Args: --out-dir DIR, --rate N (records/s, 100), --keys N (8), --fail-file PATH (if it exists:
 * delete it and fail once), --sticky-fail-file PATH (fail while it exists), --snapshot-delay-ms MS
 * (every snapshot takes at least MS), --checkpoint-interval MS, --name NAME.
 */
public class LifecycleTestJob {
    public static void main(String[] args) throws Exception {
        String name = "lifecycle-test-job";
        double rate = 100;
        long keys = 8;
        String outDir = null;
        String failFile = null;
        String stickyFailFile = null;
        long checkpointInterval = -1;
        long snapshotDelayMs = 0;
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + args[i]);
            }
            String value = args[i + 1];
            switch (args[i]) {
                case "--name": name = value; break;
                case "--rate": rate = Double.parseDouble(value); break;
                case "--keys": keys = Long.parseLong(value); break;
                case "--out-dir": outDir = value; break;
                case "--fail-file": failFile = value; break;
                case "--sticky-fail-file": stickyFailFile = value; break;
                case "--checkpoint-interval": checkpointInterval = Long.parseLong(value); break;
                case "--snapshot-delay-ms": snapshotDelayMs = Long.parseLong(value); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (checkpointInterval > 0) {
            env.enableCheckpointing(checkpointInterval);
        }
        final long keyCount = keys;
        GeneratorFunction<Long, Long> sequence = index -> index;
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(
                sequence, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "sequence").uid("sequence-source")
                .keyBy(value -> value % keyCount)
                .map(new KeyedCounter(keyCount, outDir, failFile, stickyFailFile, snapshotDelayMs))
                .uid("keyed-counter").name("keyed-counter")
                .sinkTo(new DiscardingSink<>()).uid("discard-sink").name("discard-sink");
        env.execute(name);
    }

    static final class KeyedCounter extends RichMapFunction<Long, Long> implements CheckpointedFunction {
        private final long keys;
        private final String outDir;
        private final String failFile;
        private final String stickyFailFile;
        private final long snapshotDelayMs;
        private transient ValueState<Long> count;
        private transient java.util.Set<Long> seenKeys;
        private transient long max;
        private transient long restoredMin;
        private transient long lastReport;

        KeyedCounter(long keys, String outDir, String failFile, String stickyFailFile, long snapshotDelayMs) {
            this.keys = keys;
            this.outDir = outDir;
            this.failFile = failFile;
            this.stickyFailFile = stickyFailFile;
            this.snapshotDelayMs = snapshotDelayMs;
        }

        @Override
        public void initializeState(FunctionInitializationContext context) {
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            if (snapshotDelayMs > 0) {
                Thread.sleep(snapshotDelayMs);
            }
        }

        @Override
        public void open(OpenContext context) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            seenKeys = new java.util.HashSet<>();
            max = 0;
            restoredMin = Long.MAX_VALUE;
            lastReport = 0;
        }

        @Override
        public Long map(Long value) throws Exception {
            if (failFile != null && Files.deleteIfExists(Paths.get(failFile))) {
                throw new RuntimeException("lifecycle-test-job: induced failure via " + failFile);
            }
            if (stickyFailFile != null && Files.exists(Paths.get(stickyFailFile))) {
                throw new RuntimeException("lifecycle-test-job: induced sticky failure via " + stickyFailFile);
            }
            Long previous = count.value();
            long before = previous == null ? 0 : previous;
            long key = value % keys;
            if (seenKeys.add(key)) {
                restoredMin = Math.min(restoredMin, before);
            }
            long now = before + 1;
            count.update(now);
            max = Math.max(max, now);
            report(false);
            return now;
        }

        @Override
        public void close() throws Exception {
            report(true);
        }

        private void report(boolean force) throws Exception {
            long nowMs = System.currentTimeMillis();
            if (outDir == null || (!force && nowMs - lastReport < 100) || seenKeys == null) {
                return;
            }
            lastReport = nowMs;
            int subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
            int attempt = getRuntimeContext().getTaskInfo().getAttemptNumber();
            String body = "max=" + max + "\n"
                    + "restored-min=" + (seenKeys.isEmpty() ? 0 : restoredMin) + "\n"
                    + "keys-seen=" + seenKeys.size() + "\n"
                    + "attempt=" + attempt + "\n"
                    + "updated-ms=" + nowMs + "\n";
            Path dir = Paths.get(outDir);
            Files.createDirectories(dir);
            Path tmp = dir.resolve(".counter-" + subtask + ".tmp");
            Files.write(tmp, body.getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, dir.resolve("counter-" + subtask + ".properties"),
                    StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
