// A browser's User-Agent as a person reads it ("Chrome 156 on Linux"), with the full string on hover.
import { html, type SafeHtml } from './html.ts';
import { t } from '../infra/i18n.ts';

const BROWSERS: Array<[RegExp, string]> = [
  [/Edg\/(\d+)/, 'Edge'],
  [/Firefox\/(\d+)/, 'Firefox'],
  [/HeadlessChrome\/(\d+)/, 'Headless Chrome'],
  [/Chrome\/(\d+)/, 'Chrome'],
  [/Version\/(\d+)[^ ]* .*Safari\//, 'Safari'],
  [/curl\/([\d.]+)/, 'curl'],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/Android/, 'Android'],
  [/iPhone|iPad/, 'iOS'],
  [/Windows/, 'Windows'],
  [/Mac OS X/, 'macOS'],
  [/Linux/, 'Linux'],
];

export function describeUserAgent(agent: string): string {
  const browser = BROWSERS.map(([pattern, name]) => [pattern.exec(agent), name] as const).find(([match]) => match);
  const system = SYSTEMS.find(([pattern]) => pattern.test(agent))?.[1];
  if (!browser) return agent.slice(0, 60) || t('sessions.userAgent.unknown');
  return `${browser[1]} ${browser[0]![1]}${system ? ` on ${system}` : ''}`;
}

export function userAgentCell(agent: string | null): SafeHtml {
  return html`<td title="${agent ?? ''}">${agent ? describeUserAgent(agent) : ''}</td>`;
}
