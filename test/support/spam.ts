// SpamAssassin with local rules only (no network tests), as a receiving server would score a mail.
import { execFileSync } from 'node:child_process';

export function spamScore(raw: string): { score: number; report: string } {
  const out = execFileSync('spamassassin', ['-L', '-x', '-t'], { input: raw, encoding: 'utf8', maxBuffer: 10 * 1024 * 1024 });
  const status = /^X-Spam-Status: \w+, score=(-?[\d.]+)/m.exec(out);
  if (!status) throw new Error(`no X-Spam-Status in SpamAssassin's output:\n${out.slice(0, 2000)}`);
  const report = out.slice(out.indexOf('Content analysis details'), out.indexOf('Content analysis details') + 1500);
  return { score: Number(status[1]), report };
}
