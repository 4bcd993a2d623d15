// Parsers for settings' text. Each throws a plain message; the reader
// (setting.ts) prefixes the flag or variable the text came from.

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off', ''];

function booleanOf(text: string): boolean | undefined {
  const lower = text.trim().toLowerCase();
  if (TRUE.includes(lower)) return true;
  if (FALSE.includes(lower)) return false;
  return undefined;
}

export function bool(text: string): boolean {
  const value = booleanOf(text);
  if (value === undefined) throw new Error(`expected true or false, got "${text}"`);
  return value;
}

/** True, false, or (any other text) a comma list. */
export function boolOrList(text: string): boolean | readonly string[] {
  return booleanOf(text) ?? items(text);
}

/** The text, or undefined when empty (not given). */
export function optionalText(text: string): string | undefined {
  return text === '' ? undefined : text;
}

/** A comma list, items trimmed, empty items dropped. */
export function items(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A comma list whose items are parsed one by one. */
export function listOf<T>(parseItem: (item: string) => T): (text: string) => T[] {
  return (text) => items(text).map(parseItem);
}

export function wholeNumber(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new Error(`expected a whole number from ${min} to ${max}, got "${text}"`);
    return n;
  };
}

/** A number of seconds, fractions allowed: at least 0, or above 0 when `positive`. */
export function seconds(positive: boolean): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < 0 || (positive && n === 0))
      throw new Error(`expected a number of seconds, got "${text}"`);
    return n;
  };
}

/** A rate a second, fractions allowed; 0 means unlimited. */
export function perSecond(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new Error(`expected a number a second (0: unlimited), got "${text}"`);
  return n;
}
