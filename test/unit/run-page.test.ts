// The run page's pure parts: content negotiation and escaping. The page as a
// person sees it is tested in Chromium (test/integration/operations.test.ts).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CONTENT_SECURITY_POLICY,
  escapeHtml,
  prefersHtml,
  runPage,
} from '../../functions/views/run-page.ts';

describe('run page', () => {
  it('answers HTML only when the Accept header ranks text/html above JSON', () => {
    const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    assert.equal(prefersHtml(browser), true);
    for (const accept of [
      undefined,
      '',
      '*/*',
      'application/json',
      'application/json, text/html;q=0.5',
      'text/html;q=0',
      'text/*;q=0.5, application/json',
    ]) {
      assert.equal(prefersHtml(accept), false, String(accept));
    }
    assert.equal(prefersHtml('text/*, application/json;q=0.4'), true);
  });

  it('escapes every value and admits only its own style by hash', () => {
    assert.equal(
      escapeHtml(`<a href="x">'&'</a>`),
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
    const html = runPage({
      runId: 'r1',
      state: 'published',
      dryRun: false,
      phase: 'running',
      done: false,
      counts: { pending: 1 },
      images: [{ source: '"><script>x()</script>', target: 't', status: 'pending' }],
    });
    assert.doesNotMatch(html, /<script/);
    assert.match(html, /&quot;&gt;&lt;script&gt;x\(\)&lt;\/script&gt;/);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] as string;
    const hash = createHash('sha256').update(style).digest('base64');
    assert.ok(CONTENT_SECURITY_POLICY.includes(`style-src 'sha256-${hash}'`));
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /script-src|unsafe/);
  });
});
