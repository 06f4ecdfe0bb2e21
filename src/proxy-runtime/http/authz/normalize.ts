/**
 * Path normalization before authorization (Istio's default meshConfig pathNormalization BASE,
 * Envoy's normalize_path): percent-encoded unreserved characters are decoded (`%73` -> `s`),
 * other escapes upper-cased, and `.` / `..` segments removed (RFC 3986 5.2.4). The query is kept
 * as is. A path that is not origin-form (`*`, absolute URLs) is left alone.
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** The normalized origin-form path (with its query), or null for a malformed escape. */
export function normalizePath(pathWithQuery: string): string | null {
  if (!pathWithQuery.startsWith('/')) return pathWithQuery;
  const q = pathWithQuery.indexOf('?');
  const path = q < 0 ? pathWithQuery : pathWithQuery.slice(0, q);
  const query = q < 0 ? '' : pathWithQuery.slice(q);
  // Fast path: nothing to decode and no dot segment.
  if (!path.includes('%') && !path.includes('/.')) return pathWithQuery;
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c !== '%') {
      decoded += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
    const ch = String.fromCharCode(parseInt(hex, 16));
    decoded += UNRESERVED.test(ch) ? ch : '%' + hex.toUpperCase();
    i += 2;
  }
  return removeDotSegments(decoded) + query;
}

function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  return '/' + out.join('/');
}
