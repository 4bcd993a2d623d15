// The documentation's relative links: every file a README or docs/ page links
// to exists, and every #anchor names a heading of its page (GitHub's anchor
// rule: lower case, punctuation other than - and _ dropped, spaces as -).

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '../..');

const PAGES = [
  'README.md',
  'infra/README.md',
  'functions/README.md',
  'test/README.md',
  'bench/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

function anchors(page: string): Set<string> {
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set(
    [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      (m[1] as string)
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replaceAll(' ', '-'),
    ),
  );
}

/** Every `[text](target)` outside code blocks that is not a URL. */
function relativeLinks(page: string): string[] {
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] as string)
    .filter((target) => !/^[a-z]+:/.test(target));
}

describe('documentation links', () => {
  it('lead to files that exist and to headings those pages have', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const link of relativeLinks(page)) {
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path));
        if (!existsSync(join(ROOT, target))) broken.push(`${page}: ${link} (no ${target})`);
        else if (anchor && target.endsWith('.md') && !anchors(target).has(anchor))
          broken.push(`${page}: ${link} (no heading #${anchor} in ${target})`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('would notice a missing page and a missing heading', () => {
    assert.ok(!anchors('README.md').has('no-such-heading'));
    assert.ok(anchors('README.md').has('pull-requests-and-trusted-sources'));
    assert.ok(anchors('infra/README.md').has('pull-requests-trusted-sources'));
  });
});
