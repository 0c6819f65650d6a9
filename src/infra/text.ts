// Text typed by strangers, shown to people: control and bidirectional-formatting characters are written out as
// their code points, so a typed address cannot reorder what an administrator reads or drive a terminal.

// C0 controls but tab, line feed and carriage return; DEL and C1 controls; the bidi embeddings, overrides,
// isolates and marks. Joiners (U+200C, U+200D) stay: Persian and Indic names need them.
const HIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

export function visibleText(text: string): string {
  return text.replace(HIDDEN, (char) => `<U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`);
}

/** One line for a terminal: line breaks and tabs are written out too. */
export function visibleLine(text: string): string {
  return visibleText(text).replace(/[\t\n\r]/g, (char) => `<U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`);
}
