// The two-sample Kolmogorov–Smirnov test the timing tests rely on, checked against values from SciPy 1.17
// (scipy.stats.ks_2samp for D; scipy.stats.kstwobign.sf(D·√(nm/(n+m))) for the asymptotic p-value).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ksCoefficient, ksStatistic, ksTest } from './support/ks.ts';

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);

describe('the two-sample Kolmogorov–Smirnov test', () => {
  it('gives SciPy\'s D and asymptotic p-value for two small samples', () => {
    const a = [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37, 1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.32, -0.4, 1.06, -2.47];
    const b = [2.2, 1.66, 1.38, 0.2, 0.36, 0, 0.96, 1.56, 0.44, 1.5, -0.3, 0.66, 2.31, 3.29, -0.27, -0.37, 0.38, 0.7, 0.52, -0.42];
    const result = ksTest(a, b);
    close(result.d, 0.24, 1e-12, 'D');
    close(result.p, 0.5441424115741981, 1e-9, 'p');
    assert.equal(result.differ, false);
    assert.equal(ksStatistic(b, a), result.d, 'symmetric');
  });

  it('steps over values tied between the samples together', () => {
    const result = ksTest([1, 2, 2, 3, 3, 3, 4], [2, 3, 3, 4, 4, 5]);
    close(result.d, 0.35714285714285715, 1e-12, 'D');
    close(result.p, 0.8043801769439591, 1e-9, 'p');
  });

  it('tells apart two large samples shifted by 5 %, at p < 0.01', () => {
    const x = Array.from({ length: 1000 }, (_, i) => i / 1000);
    const y = Array.from({ length: 800 }, (_, i) => i / 1000 + 0.05);
    const result = ksTest(x, y);
    close(result.d, 0.15, 1e-12, 'D');
    close(result.p, 4.122307244877131e-9, 1e-12, 'p');
    close(result.critical, 1.6276236 * Math.sqrt(1800 / 800_000), 1e-6, 'critical value');
    assert.equal(result.differ, true);
  });

  it('c(0.01) is 1.628: for 500 against 500 the line falls between D = 0.102 (p = 0.011) and D = 0.104 (p = 0.009)', () => {
    // The closed form keeps the series' first term; SciPy's kstwobign.isf(0.01), the whole series, is 1.6276236115.
    close(ksCoefficient(0.01), 1.6276236115189504, 1e-7, 'c(0.01)');
    close(ksCoefficient(0.05), 1.3581015157406195, 1e-6, 'c(0.05)');
    const base = Array.from({ length: 500 }, (_, i) => i);
    const below = ksTest(base, base.map((x) => x + 50.5));
    close(below.d, 0.102, 1e-12, 'D below');
    close(below.p, 0.011011082797879716, 1e-9, 'p below');
    assert.equal(below.differ, false);
    const above = ksTest(base, base.map((x) => x + 51.5));
    close(above.d, 0.104, 1e-12, 'D above');
    close(above.p, 0.008961184075965103, 1e-9, 'p above');
    assert.equal(above.differ, true);
  });

  it('finds no difference between two samples of one distribution', () => {
    // A fixed linear congruential sequence: the same distribution, interleaved into two samples.
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const all = Array.from({ length: 2000 }, () => -Math.log(1 - next()));
    const result = ksTest(all.filter((_, i) => i % 2 === 0), all.filter((_, i) => i % 2 === 1));
    assert.equal(result.differ, false, `D = ${result.d}, critical ${result.critical}`);
  });
});
