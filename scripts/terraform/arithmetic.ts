// The arithmetic subset of Terraform's expression language, enough to read
// the numbers infra/ computes (the target quota's per-instance rates) and the
// cost formulas infra/README.md states: numbers, names (`var.x`, `local.x`,
// `local.map.key`, or bare names a caller binds), `+ - * /`, parentheses, and
// the functions floor, ceil, min, max, sum and values
// (https://developer.hashicorp.com/terraform/language/functions). Anything
// else is an error naming what it could not read, never a guess.

export type Value = number | readonly number[] | Readonly<Record<string, unknown>>;

/** Resolves a name (`var.copy_max_instances`, `local.max_instances`) to its value. */
export type Lookup = (name: string) => unknown;

export class ArithmeticError extends Error {}

const FUNCTIONS: Readonly<Record<string, (args: Value[]) => Value>> = {
  floor: ([x]) => Math.floor(num(x)),
  ceil: ([x]) => Math.ceil(num(x)),
  min: (args) => Math.min(...args.map(num)),
  max: (args) => Math.max(...args.map(num)),
  sum: ([list]) => list_(list).reduce((a, b) => a + b, 0),
  values: ([map]) => Object.values(map_(map)).map((v) => num(v as Value)),
};

function num(value: Value | undefined): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new ArithmeticError(`expected a number, got ${JSON.stringify(value)}`);
  return value;
}

function list_(value: Value | undefined): readonly number[] {
  if (!Array.isArray(value))
    throw new ArithmeticError(`expected a list, got ${JSON.stringify(value)}`);
  return value.map((v) => num(v));
}

function map_(value: Value | undefined): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ArithmeticError(`expected a map, got ${JSON.stringify(value)}`);
  return value as Readonly<Record<string, unknown>>;
}

const TOKEN = /\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][\w.]*)|([-+*/(),]))/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const match = TOKEN.exec(text);
    if (!match)
      throw new ArithmeticError(`cannot read "${text.slice(TOKEN.lastIndex)}" in ${text}`);
    tokens.push((match[1] ?? match[2] ?? match[3]) as string);
  }
  return tokens;
}

/**
 * Evaluates `text` (a `${…}` wrapper is taken off). `lookup` gives each name's
 * value: a number, a list, a map, or a string holding a Terraform expression
 * of its own (a local), which is evaluated in turn.
 */
export function evaluate(text: string, lookup: Lookup): Value {
  const source = /^\$\{([\s\S]*)\}$/.exec(text.trim())?.[1] ?? text;
  const tokens = tokenize(source);
  let at = 0;
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const token = tokens[at++];
    if (token === undefined || (expected !== undefined && token !== expected))
      throw new ArithmeticError(`expected ${expected ?? 'more'} in ${source}`);
    return token;
  };
  const materialize = (value: unknown, name: string): Value => {
    if (typeof value === 'number') return value;
    if (typeof value === 'string') {
      const number = Number(value);
      return value.trim() !== '' && Number.isFinite(number) ? number : evaluate(value, lookup);
    }
    if (Array.isArray(value)) return value.map((v, i) => num(materialize(v, `${name}[${i}]`)));
    if (typeof value === 'object' && value !== null)
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, materialize(v, `${name}.${k}`)]),
      );
    throw new ArithmeticError(`${name} has no value`);
  };
  /** A name's value; `local.map.key` is the key of the map `local.map`. */
  const resolve = (name: string): Value => {
    const direct = lookup(name);
    if (direct !== undefined && direct !== null) return materialize(direct, name);
    const dot = name.lastIndexOf('.');
    if (dot > name.indexOf('.')) {
      const map = map_(resolve(name.slice(0, dot)));
      return materialize(map[name.slice(dot + 1)], name);
    }
    throw new ArithmeticError(`${name} has no value`);
  };
  const primary = (): Value => {
    const token = take();
    if (token === '(') {
      const value = sum();
      take(')');
      return value;
    }
    if (token === '-') return -num(primary());
    if (/^\d/.test(token)) return Number(token);
    if (peek() === '(') {
      const fn = FUNCTIONS[token];
      if (!fn) throw new ArithmeticError(`unknown function ${token} in ${source}`);
      take('(');
      const args: Value[] = [];
      while (peek() !== ')') {
        args.push(sum());
        if (peek() === ',') take(',');
      }
      take(')');
      return fn(args);
    }
    return resolve(token);
  };
  const product = (): Value => {
    let value = primary();
    while (peek() === '*' || peek() === '/') {
      const op = take();
      const right = num(primary());
      value = op === '*' ? num(value) * right : num(value) / right;
    }
    return value;
  };
  const sum = (): Value => {
    let value = product();
    while (peek() === '+' || peek() === '-') {
      const op = take();
      const right = num(product());
      value = op === '+' ? num(value) + right : num(value) - right;
    }
    return value;
  };
  const value = sum();
  if (at !== tokens.length)
    throw new ArithmeticError(`cannot read "${tokens.slice(at).join(' ')}" in ${source}`);
  return value;
}

/** A number, or an ArithmeticError. */
export function evaluateNumber(text: string, lookup: Lookup): number {
  return num(evaluate(text, lookup));
}
