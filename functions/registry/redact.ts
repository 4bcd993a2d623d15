// URLs go into logs and error messages; credentials must not. Registries put
// secrets in URLs in two places: userinfo (`https://user:pass@host`) and query
// strings (upload `_state` tokens, signed storage redirects with
// `X-Goog-Signature`, `X-Amz-Credential`, `sig=`…). Both are dropped wholesale
// rather than guessed at by name.

export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparseable URL>';
  }
  const query = parsed.search ? '?…' : '';
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query}`;
}
