/**
 * Access log filters: the subset of CEL that Istio's `accessLogging[].filter.expression` is written
 * in for the common cases (`response.code >= 400`, `request.method == "POST" && request.path != "/healthz"`,
 * `request.headers['x-debug'] == "1"`), compiled once into a predicate. Shared by the Telemetry
 * kind's validation (an expression outside the subset is refused at apply, naming what is not
 * supported) and the proxy (which evaluates it per request: no allocation beyond the attribute reads).
 */

/** The request facts a filter reads. */
export interface LogFilterInput {
  responseCode: number;
  method: string;
  path: string;
  host: string;
  protocol: string;
  header(name: string): string | undefined;
}

type Value = number | string | boolean | undefined;
type Eval = (r: LogFilterInput) => Value;

const ATTRIBUTES: Record<string, Eval> = {
  'response.code': (r) => r.responseCode,
  'request.method': (r) => r.method,
  'request.path': (r) => r.path,
  'request.url_path': (r) => {
    const q = r.path.indexOf('?');
    return q < 0 ? r.path : r.path.slice(0, q);
  },
  'request.host': (r) => r.host,
  'request.protocol': (r) => r.protocol,
};

const TOKEN =
  /\s*(?:(\d+(?:\.\d+)?)|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(&&|\|\||==|!=|>=|<=|[<>!()[\]])|([A-Za-z_][A-Za-z0-9_.]*))/y;

interface Tok {
  kind: 'num' | 'str' | 'op' | 'id';
  text: string;
}

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < src.length) {
    if (/^\s*$/.test(src.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(src);
    if (!m) throw new Error(`cannot read the filter at "${src.slice(at, at + 20)}"`);
    at = TOKEN.lastIndex;
    if (m[1] !== undefined) out.push({ kind: 'num', text: m[1] });
    else if (m[2] !== undefined || m[3] !== undefined)
      out.push({ kind: 'str', text: (m[2] ?? m[3]!).replace(/\\(.)/g, '$1') });
    else if (m[4] !== undefined) out.push({ kind: 'op', text: m[4] });
    else out.push({ kind: 'id', text: m[5]! });
  }
  return out;
}

/** Compiles `expression`; throws an Error saying what is not supported. Bounded: at most 4096 characters. */
export function compileLogFilter(expression: string): (r: LogFilterInput) => boolean {
  if (expression.length > 4096) throw new Error('the filter is longer than 4096 characters');
  const toks = tokenize(expression);
  let i = 0;
  let depth = 0;
  const peek = () => toks[i];
  const take = (text?: string): Tok => {
    const t = toks[i];
    if (!t || (text !== undefined && t.text !== text))
      throw new Error(`expected ${text ?? 'more'} ${t ? `at "${t.text}"` : 'at the end'}`);
    i++;
    return t;
  };
  const operand = (): Eval => {
    const t = take();
    if (t.kind === 'num') {
      const n = Number(t.text);
      return () => n;
    }
    if (t.kind === 'str') return () => t.text;
    if (t.kind === 'id') {
      if (t.text === 'true' || t.text === 'false') {
        const b = t.text === 'true';
        return () => b;
      }
      if (t.text === 'request.headers') {
        take('[');
        const name = take();
        if (name.kind !== 'str') throw new Error('request.headers takes a quoted header name');
        take(']');
        const lower = name.text.toLowerCase();
        return (r) => r.header(lower);
      }
      const attr = ATTRIBUTES[t.text];
      if (!attr)
        throw new Error(
          `"${t.text}" is not supported; use ${[...Object.keys(ATTRIBUTES), "request.headers['name']"].join(', ')}`,
        );
      return attr;
    }
    throw new Error(`unexpected "${t.text}"`);
  };
  const comparison = (): Eval => {
    const t = peek();
    if (t?.text === '!') {
      take();
      const inner = comparison();
      return (r) => !inner(r);
    }
    if (t?.text === '(') {
      if (++depth > 32) throw new Error('the filter nests too deeply');
      take();
      const inner = or();
      take(')');
      depth--;
      return inner;
    }
    const left = operand();
    const op = peek();
    if (!op || !['==', '!=', '>=', '<=', '>', '<'].includes(op.text)) return left;
    take();
    const right = operand();
    switch (op.text) {
      case '==':
        return (r) => left(r) === right(r);
      case '!=':
        return (r) => left(r) !== right(r);
      case '>=':
        return (r) => Number(left(r)) >= Number(right(r));
      case '<=':
        return (r) => Number(left(r)) <= Number(right(r));
      case '>':
        return (r) => Number(left(r)) > Number(right(r));
      default:
        return (r) => Number(left(r)) < Number(right(r));
    }
  };
  const and = (): Eval => {
    let e = comparison();
    while (peek()?.text === '&&') {
      take();
      const [a, b] = [e, comparison()];
      e = (r) => Boolean(a(r)) && Boolean(b(r));
    }
    return e;
  };
  const or = (): Eval => {
    let e = and();
    while (peek()?.text === '||') {
      take();
      const [a, b] = [e, and()];
      e = (r) => Boolean(a(r)) || Boolean(b(r));
    }
    return e;
  };
  if (toks.length === 0) throw new Error('the filter is empty');
  const root = or();
  if (i < toks.length) throw new Error(`unexpected "${toks[i]!.text}"`);
  return (r) => Boolean(root(r));
}
