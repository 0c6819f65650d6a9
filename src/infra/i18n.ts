// Languages: one catalogue a language in locales/ (English is the source), the reader's language for the work in hand,
// and texts, dates and numbers in it. Pages and mails call t() and when(); the language comes from the request (or the
// recipient of a mail) through an async context, so no view has to pass it along.
import { AsyncLocalStorage } from 'node:async_hooks';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import i18next, { type i18n } from 'i18next';
import ICU from 'i18next-icu';
import Negotiator from 'negotiator';

/** Where the catalogues are: one file a language, named by its BCP 47 code (fr.json, pt-BR.json). */
export const LOCALES_DIR = fileURLToPath(new URL('../../locales/', import.meta.url));
export const SOURCE_LANGUAGE = 'en';

export type Values = Record<string, string | number>;
export type Catalogue = { [key: string]: string | Catalogue };

export interface Translator {
  readonly lang: string;
  readonly dir: 'ltr' | 'rtl';
  /** Every language of the installation, for the switcher. */
  readonly available: readonly LanguageInfo[];
  /** The text of a key in this language, its ICU placeholders and plurals filled from values. */
  t(key: string, values?: Values): string;
  /** A moment as "Dec 8, 2026, 14:05 UTC" (in French "8 déc. 2026, 14:05 UTC") in the installation's time zone. */
  dateTime(ms: number): string;
  date(ms: number): string;
  number(n: number): string;
}

export interface LanguageSettings {
  /** The language of mails to people who chose none, and of pages when the browser asks for none we have. */
  defaultLanguage: string;
  /** An IANA time zone (Europe/Paris): dates are shown in it. */
  timeZone: string;
}

/** A language's name in itself (for the switcher) and its direction, from the "language" part of its catalogue. */
export interface LanguageInfo {
  code: string;
  name: string;
  dir: 'ltr' | 'rtl';
}

/** A catalogue that cannot be read: its file and what is wrong, for one line at start (a language being written). */
export class CatalogueError extends Error {}

/** Reads every catalogue in a folder: the file name is the language. */
export function readCatalogues(dir = LOCALES_DIR): Map<string, Catalogue> {
  const catalogues = new Map<string, Catalogue>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    const full = path.join(dir, file);
    let catalogue: unknown;
    try {
      catalogue = JSON.parse(readFileSync(full, 'utf8'));
    } catch (error) {
      throw new CatalogueError(`${full} is not valid JSON: ${(error as Error).message.split('\n')[0]}`);
    }
    if (typeof catalogue !== 'object' || catalogue === null || Array.isArray(catalogue)) throw new CatalogueError(`${full} must hold one JSON object of texts`);
    catalogues.set(path.basename(file, '.json'), catalogue as Catalogue);
  }
  return catalogues;
}

export class Languages {
  private readonly engine: i18n;
  private readonly translators = new Map<string, Translator>();
  readonly available: LanguageInfo[];

  constructor(catalogues: Map<string, Catalogue>, readonly settings: LanguageSettings) {
    if (!catalogues.has(SOURCE_LANGUAGE)) throw new Error(`the ${SOURCE_LANGUAGE} catalogue is missing from locales/`);
    if (!catalogues.has(settings.defaultLanguage)) throw new Error(`no catalogue for the default language "${settings.defaultLanguage}"`);
    this.engine = i18next.createInstance();
    // Values are filled in as plain text; pages escape the whole result where they place it.
    this.engine.use(new ICU({ memoize: true }));
    void this.engine.init({
      resources: Object.fromEntries([...catalogues].map(([code, catalogue]) => [code, { translation: catalogue }])),
      lng: SOURCE_LANGUAGE,
      // A key missing from a language falls back to English rather than showing the key.
      fallbackLng: SOURCE_LANGUAGE,
      initAsync: false,
      returnNull: false,
    });
    this.available = [...catalogues].map(([code, catalogue]) => {
      const info = (catalogue.language ?? {}) as Catalogue;
      return { code, name: typeof info.name === 'string' ? info.name : code, dir: info.dir === 'rtl' ? 'rtl' : 'ltr' };
    });
  }

  supports(code: string | null | undefined): code is string {
    return typeof code === 'string' && this.available.some((language) => language.code === code);
  }

  /** The translator of a language we have, else of the installation's default. */
  get(code: string | null | undefined): Translator {
    const lang = this.supports(code) ? code : this.settings.defaultLanguage;
    let translator = this.translators.get(lang);
    if (!translator) {
      translator = this.makeTranslator(lang);
      this.translators.set(lang, translator);
    }
    return translator;
  }

  /** The best of our languages for an Accept-Language header, else the default. */
  negotiate(acceptLanguage: string | undefined): string {
    if (!acceptLanguage) return this.settings.defaultLanguage;
    // The default first: a browser that takes anything ("*") gets it.
    const codes = [this.settings.defaultLanguage, ...this.available.map((language) => language.code).filter((code) => code !== this.settings.defaultLanguage)];
    const chosen = new Negotiator({ headers: { 'accept-language': acceptLanguage } }).language(codes);
    return chosen ?? this.settings.defaultLanguage;
  }

  private makeTranslator(lang: string): Translator {
    const fixed = this.engine.getFixedT(lang);
    const dir = this.available.find((language) => language.code === lang)?.dir ?? 'ltr';
    const { timeZone } = this.settings;
    // The zone is named, since readers may live in another; hours run 0–23 in every language.
    const dateTime = new Intl.DateTimeFormat(lang, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone, timeZoneName: 'short' });
    const date = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone });
    const number = new Intl.NumberFormat(lang);
    const available = this.available;
    return {
      lang,
      dir,
      available,
      t: (key, values) => fixed(key, values ?? {}) as string,
      dateTime: (ms) => dateTime.format(ms),
      date: (ms) => date.format(ms),
      number: (n) => number.format(n),
    };
  }
}

const current = new AsyncLocalStorage<Translator>();
let fallback: Translator | null = null;
let ofRequest: () => Translator | undefined = () => undefined;

/** Where the translator of the request in hand is kept (the app's request context). */
export function useRequestTranslator(get: () => Translator | undefined): void {
  ofRequest = get;
}

/** The translator used outside any request or mail (the command line, a worker's own messages). */
export function setDefaultTranslator(translator: Translator): void {
  fallback = translator;
}

/** Runs work in a language: one mail rendered for its recipient, say. */
export function inLanguage<T>(translator: Translator, work: () => T): T {
  return current.run(translator, work);
}

/** The language of the work in hand. */
export function translator(): Translator {
  const found = current.getStore() ?? ofRequest() ?? fallback;
  if (!found) throw new Error('no language: the app sets one per request (setDefaultTranslator for other work)');
  return found;
}

/** The language a request was answered in (null outside a page request: the API, the command line, a worker). */
export function requestLanguage(): string | null {
  return ofRequest()?.lang ?? null;
}

/** The text of a key in the reader's language. */
export function t(key: string, values?: Values): string {
  return translator().t(key, values);
}
