// Charts drawn on the server as inline SVG: one stacked bar per hour, readable without JavaScript. The SVG is
// an image with a name that says what it shows; the numbers themselves are in a table beside it.
import { html, type SafeHtml } from '../../views/html.ts';
import { translator } from '../../infra/i18n.ts';

export interface Series {
  label: string;
  /** A fill with at least 3:1 contrast against white (WCAG 1.4.11). */
  color: string;
  values: number[];
}

const WIDTH = 720;
const HEIGHT = 190;
const LEFT = 44;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 24;

/** 1, 2, 5, 10, 20, 50…: the smallest of these at or above `n`, so the scale reads easily. */
function niceCeiling(n: number): number {
  if (n <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power;
  return 10 * power;
}

/**
 * A stacked bar chart of hourly counts, `firstHour` (whole hours since the epoch) on the left. `label` names the
 * image for screen readers (what it shows, with the totals); the bars themselves carry no text.
 */
export function hourlyBarChart(options: { label: string; series: Series[]; firstHour: number; hours: number }): SafeHtml {
  const { series, firstHour, hours } = options;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const barWidth = plotWidth / hours;
  const totals = Array.from({ length: hours }, (_, hour) => series.reduce((sum, s) => sum + (s.values[hour] ?? 0), 0));
  const max = niceCeiling(Math.max(0, ...totals));
  const y = (value: number) => TOP + plotHeight - (value / max) * plotHeight;

  const bars: SafeHtml[] = [];
  for (let hour = 0; hour < hours; hour++) {
    let base = 0;
    for (const s of series) {
      const value = s.values[hour] ?? 0;
      if (value === 0) continue;
      const top = y(base + value);
      bars.push(html`<rect x="${(LEFT + hour * barWidth).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, barWidth - 0.6).toFixed(1)}" height="${(y(base) - top).toFixed(1)}" fill="${s.color}"/>`);
      base += value;
    }
  }
  const ticks = [0, max / 2, max].filter((value, index) => index !== 1 || Number.isInteger(value));
  const grid = ticks.map(
    (value) =>
      html`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" stroke="#d4d9e2"/><text x="${LEFT - 6}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${translator().number(value)}</text>`,
  );
  // A mark and a name under each midnight (UTC).
  // The chart's hours are UTC, so its days are too; their names are in the reader's language ("Sun", "So.", "dim.").
  const dayName = new Intl.DateTimeFormat(translator().lang, { weekday: 'short', timeZone: 'UTC' });
  const days: SafeHtml[] = [];
  for (let hour = 0; hour < hours; hour++) {
    const ms = (firstHour + hour) * 3_600_000;
    if (new Date(ms).getUTCHours() !== 0) continue;
    const x = LEFT + hour * barWidth;
    const day = new Date(ms);
    days.push(
      html`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${TOP}" y2="${TOP + plotHeight + 4}" stroke="#b8bfcc"/><text x="${(x + 3).toFixed(1)}" y="${HEIGHT - 6}">${dayName.format(day)} ${day.getUTCDate()}</text>`,
    );
  }
  return html`<svg class="chart" width="100%" role="img" aria-label="${options.label}" viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg" font-size="11" fill="#4a5262"><title>${options.label}</title>${grid}${days}${bars}<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${TOP + plotHeight}" y2="${TOP + plotHeight}" stroke="#4a5262"/></svg>`;
}

/** The chart's colours with their names, beside the chart (the bars themselves have no text). */
export function legend(items: Array<{ label: string; color: string; total: SafeHtml }>): SafeHtml {
  return html`<ul class="legend">${items.map(
    (item) => html`<li><svg width="12" height="12" aria-hidden="true" focusable="false"><rect width="12" height="12" fill="${item.color}"/></svg> ${item.label}: ${item.total}</li>`,
  )}</ul>`;
}
