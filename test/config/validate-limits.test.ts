/**
 * What used to pass validation and break traffic: a config object above the mesh's size limit
 * (1 MiB), header names with spaces, CRLF in header values. Each is refused at parse time, naming
 * the object, the field, the line and the limit.
 */
import { describe, expect, it } from 'vitest';
import { formatIssue, manifestObjects, parseDocuments, validateResource } from '../../src/config/index.js';
import { MAX_CONFIG_OBJECT_BYTES } from '../../src/config/limits.js';

const validate = (text: string) =>
  manifestObjects(parseDocuments(text, 'vs.yaml')).map((o) => validateResource(o, { defaultNamespace: 'default' }));

describe('config object size', () => {
  it('refuses a VirtualService above 1 MiB, naming it and the limit', () => {
    const routes = Array.from(
      { length: 12_000 },
      (_, i) => `  - match: [{uri: {exact: /route-number-${i}}}]\n    route: [{destination: {host: reviews}}]`,
    ).join('\n');
    const text = `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: huge}\nspec:\n  hosts: [reviews]\n  http:\n${routes}\n`;
    expect(text.length).toBeGreaterThan(MAX_CONFIG_OBJECT_BYTES);
    const [r] = validate(text);
    expect(r!.resource).toBeUndefined();
    expect(r!.errors.map(formatIssue).join('\n')).toMatch(
      /VirtualService huge\.default is 1\.\d MiB \(\d+ bytes as JSON\); the largest config object the mesh accepts is 1 MiB: split it/,
    );
  });

  it('accepts one just under the limit', () => {
    const routes = Array.from(
      { length: 200 },
      (_, i) => `  - match: [{uri: {exact: /r${i}}}]\n    route: [{destination: {host: reviews}}]`,
    ).join('\n');
    const [r] = validate(
      `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: fine}\nspec:\n  hosts: [reviews]\n  http:\n${routes}\n`,
    );
    expect(r!.errors).toEqual([]);
  });
});

describe('header names and values', () => {
  const vs = (headers: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
${headers}`;

  it('refuses a header name with a space in headers.request.set', () => {
    const [r] = validate(vs(`    headers:\n      request:\n        set:\n          "x bad": "1"\n`));
    expect(r!.errors.map(formatIssue)).toEqual([
      expect.stringMatching(
        /^vs\.yaml:12:\d+: spec\.http\[0\]\.headers\.request\.set\.x bad: "x bad" is not a valid header name/,
      ),
    ]);
  });

  it('refuses a CRLF in a header value, and a bad name in remove or in a destination', () => {
    const [r] = validate(
      vs(
        `      headers:\n        response:\n          add:\n            x-ok: "a\\r\\nInjected: yes"\n    headers:\n      request:\n        remove: ["has space"]\n`,
      ),
    );
    const errs = r!.errors.map(formatIssue);
    expect(errs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /spec\.http\[0\]\.route\[0\]\.headers\.response\.add\.x-ok: the value of x-ok contains a control character/,
        ),
        expect.stringMatching(/spec\.http\[0\]\.headers\.request\.remove\[0\]: "has space" is not a valid header name/),
      ]),
    );
    expect(errs).toHaveLength(2);
  });

  it('refuses a match on a header name with a colon, accepts ordinary ones', () => {
    const [bad] = validate(
      vs(`    match:\n    - headers:\n        "end-user:": {exact: jason}\n`).replace(
        '  - route:\n    - destination: {host: reviews}\n    match',
        '  - route:\n    - destination: {host: reviews}\n    match',
      ),
    );
    expect(bad!.errors.map(formatIssue).join('\n')).toContain('"end-user:" is not a valid header name');
    const [ok] = validate(vs(`    headers:\n      request:\n        set: {x-version: "v2", X-Trace_ID: "a b\\tc"}\n`));
    expect(ok!.errors).toEqual([]);
  });
});
