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

const read = (page: string) => readFileSync(join(ROOT, page), 'utf8');
const withoutCode = (text: string) => text.replace(/```[\s\S]*?```/g, '');

/** The anchors of a page's headings, outside code blocks. */
function anchors(text: string): Set<string> {
  return new Set(
    [...withoutCode(text).matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      (m[1] as string)
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replaceAll(' ', '-'),
    ),
  );
}

/** Every `[text](target)` outside code blocks that is not a URL. */
function relativeLinks(text: string): string[] {
  return [...withoutCode(text).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] as string)
    .filter((target) => !/^[a-z]+:/.test(target));
}

/** The links of `text`, the page at `page` (a path from the repository root), that lead nowhere. */
function brokenLinks(page: string, text: string): string[] {
  const broken: string[] = [];
  for (const link of relativeLinks(text)) {
    const [path, anchor] = link.split('#') as [string, string | undefined];
    const target = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path));
    if (path !== '' && !existsSync(join(ROOT, target)))
      broken.push(`${page}: ${link} (no ${target})`);
    else if (anchor && target.endsWith('.md')) {
      const headings = anchors(path === '' ? text : read(target));
      if (!headings.has(anchor))
        broken.push(`${page}: ${link} (no heading #${anchor} in ${target})`);
    }
  }
  return broken;
}

describe('documentation links', () => {
  it('lead to files that exist and to headings those pages have', () => {
    assert.deepEqual(
      PAGES.flatMap((page) => brokenLinks(page, read(page))),
      [],
    );
  });

  it('would notice a missing page and a missing heading, and accept links that resolve', () => {
    const page = [
      '# A page',
      '## Its own heading',
      'See [gone](no-such-page.md), [nowhere](../README.md#no-such-heading),',
      '[the README](../README.md#pull-requests-and-trusted-sources),',
      '[infra](../infra/README.md#pull-requests-trusted-sources) and [here](#its-own-heading).',
      '```',
      '[in a code block](not-a-link.md)',
      '```',
    ].join('\n');
    assert.deepEqual(brokenLinks('docs/in-memory.md', page), [
      'docs/in-memory.md: no-such-page.md (no docs/no-such-page.md)',
      'docs/in-memory.md: ../README.md#no-such-heading (no heading #no-such-heading in README.md)',
    ]);
  });
});
