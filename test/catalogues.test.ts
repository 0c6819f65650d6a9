// The language catalogues (locales/*.json) against each other and against the code: every language has every key of
// English and no other, the same placeholders in each text, every key is used, and every key used exists.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, TYPE, type MessageFormatElement } from '@formatjs/icu-messageformat-parser';
import { readCatalogues, SOURCE_LANGUAGE, type Catalogue } from '../src/infra/i18n.ts';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
/** Keys the code does not look up by name: each catalogue's own description of its language. */
const DESCRIPTIVE = /^language\./;

/** Every key of a catalogue with its text, nested objects joined by dots. */
export function flatten(catalogue: Catalogue, prefix = ''): Map<string, string> {
  const keys = new Map<string, string>();
  for (const [name, value] of Object.entries(catalogue)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (typeof value === 'string') keys.set(key, value);
    else for (const [inner, text] of flatten(value, key)) keys.set(inner, text);
  }
  return keys;
}

/** The names a text's ICU placeholders, plurals and selects use, sorted. */
export function placeholdersOf(text: string): string[] {
  const names = new Set<string>();
  const walk = (elements: MessageFormatElement[]) => {
    for (const element of elements) {
      if (element.type === TYPE.argument || element.type === TYPE.number || element.type === TYPE.date || element.type === TYPE.time) names.add(element.value);
      if (element.type === TYPE.plural || element.type === TYPE.select) {
        names.add(element.value);
        for (const option of Object.values(element.options)) walk(option.value);
      }
      if (element.type === TYPE.tag) walk(element.children);
    }
  };
  walk(parse(text, { ignoreTag: true }));
  return [...names].sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [full] : [];
  });
}

/** Keys the code names: t('key'), t("key") — keys are always written out whole, so this finds them all. */
function keysUsedInCode(): Map<string, string> {
  const used = new Map<string, string>();
  for (const file of sourceFiles(SRC)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bt\(\s*['"]([A-Za-z0-9_.-]+)['"]/g)) used.set(match[1]!, path.relative(SRC, file));
  }
  return used;
}

describe('the language catalogues', () => {
  const catalogues = readCatalogues();
  const source = flatten(catalogues.get(SOURCE_LANGUAGE)!);

  it('English, French, German and Spanish are there, and every language names itself', () => {
    const names = Object.fromEntries([...catalogues].map(([code, catalogue]) => [code, flatten(catalogue).get('language.name')]));
    assert.deepEqual({ en: names.en, fr: names.fr, de: names.de, es: names.es }, { en: 'English', fr: 'Français', de: 'Deutsch', es: 'Español' });
    for (const [code, name] of Object.entries(names)) assert.ok(name && name !== code, `${code} names itself in language.name`);
  });

  for (const [code, catalogue] of catalogues) {
    if (code === SOURCE_LANGUAGE) continue;
    it(`${code} has every key of English and no other, with the same placeholders`, () => {
      const keys = flatten(catalogue);
      const missing = [...source.keys()].filter((key) => !keys.has(key));
      const extra = [...keys.keys()].filter((key) => !source.has(key));
      assert.deepEqual(missing, [], `${code}: keys missing`);
      assert.deepEqual(extra, [], `${code}: keys English does not have`);
      const differing = [...source].filter(([key, text]) => keys.has(key) && placeholdersOf(text).join() !== placeholdersOf(keys.get(key)!).join());
      assert.deepEqual(differing.map(([key]) => key), [], `${code}: placeholders differ from English`);
    });
  }

  it('every text parses as an ICU message', () => {
    for (const [code, catalogue] of catalogues) {
      for (const [key, text] of flatten(catalogue)) assert.doesNotThrow(() => placeholdersOf(text), `${code}: ${key}`);
    }
  });

  it('every key is used by the code, and every key the code uses exists', () => {
    const used = keysUsedInCode();
    const unused = [...source.keys()].filter((key) => !DESCRIPTIVE.test(key) && !used.has(key));
    const unknown = [...used].filter(([key]) => !source.has(key)).map(([key, file]) => `${key} (${file})`);
    assert.deepEqual(unused, [], 'keys no code uses');
    assert.deepEqual(unknown, [], 'keys the code uses that English lacks');
  });
});
