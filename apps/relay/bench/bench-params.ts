/** The relay benchmark's parameters: its flags (--quick, --strict, --only, --idle) and sizes. */
const args = new Set(process.argv.slice(2));
export const isQuick = args.has('--quick');
export const isStrict = args.has('--strict');
/** `--only=b,d`: run only these variants (letters). */
export const only = (() => {
  const a = process.argv.find((x) => x.startsWith('--only='));
  return a === undefined ? undefined : new Set(a.slice('--only='.length).split(','));
})();
/**
 * `warmup`: exchanges on each latency session before it is timed. A fresh process needs a
 * few thousand before V8 has compiled its message path: p50 per 1 000 exchanges settled after
 * about 3 000 for the pipe and 5 000–6 000 for the relay (with 1 000 the relay stayed 10–15 µs
 * above its warm p50). `exchanges`: timed exchanges per variant over all latency rounds.
 */
export const PARAMS = isQuick
  ? {
      warmup: 6000,
      exchanges: 1500,
      sessions: 64,
      throughputMs: 500,
      idle: 300,
      websockifyIdle: 50,
    }
  : {
      warmup: 8000,
      exchanges: 10_000,
      sessions: 64,
      throughputMs: 5000,
      idle: 9000,
      websockifyIdle: 300,
    };
/** `--idle=N` overrides the idle session count (e.g. a quick run with a steadier memory figure). */
{
  const a = process.argv.find((x) => x.startsWith('--idle='));
  const n = a === undefined ? undefined : Number(a.slice('--idle='.length));
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 1 || n > 20_000) {
      console.error('relay-bench: --idle=N needs an integer in 1..20000');
      process.exit(2);
    }
    PARAMS.idle = n;
  }
}
/** First session index of the idle phase (the latency and throughput phases use the ones before). */
export const IDLE_BASE = 8 * (1 + PARAMS.sessions);
/**
 * Throughput rounds; the variants take turns within each (order rotated), and the CPU and
 * throughput targets use the median over the rounds of the relay's ratio to the pipe's
 * figure in the same round, so one round disturbed by the shared machine does not decide.
 */
export const THROUGHPUT_ROUNDS = isQuick ? 1 : 5;
/** Latency rounds, each with fresh processes (see `latencyPhase`). */
export const LATENCY_ROUNDS = isQuick ? 3 : 5;
export const WATCHDOG_MS = isQuick ? 180_000 : 540_000;
export const FD_LIMIT = 65_536;
