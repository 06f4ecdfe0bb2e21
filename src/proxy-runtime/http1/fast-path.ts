/**
 * The switch of the HTTP/1.1 fast path (on unless MESHCTL_HTTP1_FAST_PATH=0): downstream HTTP/1.1
 * connections served by http1/server-connection instead of node:http, upstream HTTP/1.1 requests
 * sent over http1/upstream-pool instead of undici. Kept for comparison (bench) and diagnosis.
 */
export const HTTP1_FAST_PATH = process.env.MESHCTL_HTTP1_FAST_PATH !== '0';
