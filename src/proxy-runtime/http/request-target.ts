/**
 * The request-target forms of RFC 9112 §3.2 that both HTTP/1.1 ingresses (the fast path and
 * node:http) must read the same way: origin-form (`/path?q`) and asterisk-form stay as they are;
 * absolute-form (`http://reviews:9080/path`, sent by clients that use the proxy as HTTP_PROXY)
 * names the authority and scheme itself.
 */

/** An absolute-form target split up. */
export interface AbsoluteTarget {
  authority: string;
  scheme: string;
  path: string;
}

/**
 * undefined: origin- or asterisk-form (the Host header names the authority); null: an absolute-form
 * target that is not a URL (answer 400); otherwise its authority, scheme and origin-form path.
 */
export function absoluteTarget(target: string): AbsoluteTarget | null | undefined {
  if (target.charCodeAt(0) === 47 /* '/' */ || target === '*') return undefined;
  try {
    const u = new URL(target);
    return { authority: u.host, scheme: u.protocol.slice(0, -1), path: u.pathname + u.search };
  } catch {
    return null;
  }
}
