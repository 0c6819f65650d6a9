// The two-sample Kolmogorov–Smirnov test, for telling whether two sets of response times could come from one distribution.

export interface KsResult {
  /** The largest distance between the two empirical distribution functions (0 = same, 1 = fully apart). */
  d: number;
  n: number;
  m: number;
  /** The asymptotic p-value: how likely a distance at least this large is when both samples share one distribution. */
  p: number;
  /** The distance above which the samples differ at level `alpha`: c(α)·√((n+m)/(n·m)). */
  critical: number;
  alpha: number;
  /** Whether d exceeds the critical value, i.e. the samples differ at level alpha. */
  differ: boolean;
}

/** c(α) = √(−ln(α/2)/2): 1.628 at α = 0.01, 1.358 at α = 0.05. */
export function ksCoefficient(alpha: number): number {
  return Math.sqrt(-Math.log(alpha / 2) / 2);
}

/** The D statistic: sup |F_a(x) − F_b(x)| over every x, with ties between the samples stepped over together. */
export function ksStatistic(a: readonly number[], b: readonly number[]): number {
  if (a.length === 0 || b.length === 0) throw new Error('the KS test needs two non-empty samples');
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const value = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i] === value) i++;
    while (j < y.length && y[j] === value) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/** The Kolmogorov distribution's survival function Q(λ) = 2 Σ (−1)^(k−1) e^(−2k²λ²). */
function kolmogorovQ(lambda: number): number {
  if (lambda < 0.2) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += (k % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-12) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** The two-sample test at level alpha (0.01 unless given), with the large-sample approximation. */
export function ksTest(a: readonly number[], b: readonly number[], alpha = 0.01): KsResult {
  const d = ksStatistic(a, b);
  const n = a.length;
  const m = b.length;
  const critical = ksCoefficient(alpha) * Math.sqrt((n + m) / (n * m));
  const p = kolmogorovQ(d * Math.sqrt((n * m) / (n + m)));
  return { d, n, m, p, critical, alpha, differ: d > critical };
}

/** One line for a log or a failed assertion: "D = 0.041 (critical 0.103 at p < 0.01, p = 0.83; 500 vs 500)". */
export function describeKs(result: KsResult): string {
  return `D = ${result.d.toFixed(3)} (critical ${result.critical.toFixed(3)} at p < ${result.alpha}, p = ${result.p.toPrecision(2)}; ${result.n} vs ${result.m})`;
}
