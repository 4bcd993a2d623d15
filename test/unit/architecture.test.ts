// The layers of functions/ (DESIGN.md, "Layers, inside out"), read from the
// import statements themselves: dependencies point inward only, the core
// knows nothing of Google Cloud, the views decide nothing the pipeline needs,
// and no module imports itself through others.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('../../functions/', import.meta.url).pathname;

function sources(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [relative(ROOT, join(dir, entry.name))]
        : [],
  );
}

/** Every module a file imports (static and dynamic, type-only included): project files relative to functions/, packages by name. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ].map((m) => m[1] as string);
  return specifiers.map((s) => (s.startsWith('.') ? normalize(join(dirname(file), s)) : s));
}

const FILES = sources();
const GRAPH = new Map(FILES.map((file) => [file, importsOf(file)]));
const folder = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

/** Folders each folder may import from (besides itself and the top-level errors.ts/failures.ts). */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  util: [],
  // References and media types are one layer: pure, no I/O.
  reference: ['oci'],
  oci: ['reference'],
  settings: ['oci', 'reference', 'registry', 'engine'],
  registry: ['reference', 'oci', 'util'],
  engine: ['reference', 'oci', 'registry', 'util'],
  'images-file': ['reference', 'oci', 'engine'],
  pipeline: ['reference', 'oci', 'registry', 'engine', 'images-file', 'util'],
  views: ['reference', 'oci', 'engine', 'images-file', 'pipeline', 'util'],
  cli: ['*'],
  gcp: ['*'],
  '.': [],
};

describe('architecture of functions/', () => {
  it('imports point inward: no folder imports one outside its layer', () => {
    const wrong: string[] = [];
    for (const [file, imports] of GRAPH) {
      const allowed = MAY_IMPORT[folder(file)];
      assert.ok(allowed, `${file}: a folder the layers do not name`);
      for (const target of imports.filter((i) => FILES.includes(i))) {
        const to = folder(target);
        if (to === folder(file) || to === '.' || allowed.includes('*') || allowed.includes(to))
          continue;
        wrong.push(`${file} → ${target}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  // (google-auth-library is a registry credential source: Application Default
  // Credentials for Artifact Registry and GCR, registry/credentials.ts.)
  it('the core never loads a Google Cloud client or the Functions Framework', () => {
    const google = [...GRAPH]
      .filter(([file]) => !['gcp', 'cli'].includes(folder(file)))
      .flatMap(([file, imports]) =>
        imports.filter((i) => i.startsWith('@google-cloud/')).map((i) => `${file} → ${i}`),
      );
    assert.deepEqual(google, []);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const next of GRAPH.get(file) ?? []) if (GRAPH.has(next)) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of FILES) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it('reads the imports it judges: a file the graph knows imports what its text says', () => {
    // The test's own reader must see multi-line imports and type-only ones.
    assert.ok(GRAPH.get('pipeline/run-store.ts')?.includes('pipeline/records.ts'));
    assert.ok(GRAPH.get('gcp/runtime.ts')?.includes('gcp/gcs-object-store.ts'), 'a dynamic import');
  });
});
