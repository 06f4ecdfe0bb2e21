/**
 * The subset of CEL that Istio's Telemetry is written in for the common cases, compiled once:
 * access log filters (`accessLogging[].filter.expression`: `response.code >= 400`,
 * `request.method == "POST" && request.path != "/healthz"`, `request.headers['x-debug'] == "1"`)
 * and metric tag values (`metrics[].overrides[].tagOverrides.<tag>.value`: `request.method`,
 * `request.headers['user-agent']`, `"literal"`, `string(response.code)`, `a + "/" + b`,
 * `response.code >= 500 ? "error" : "ok"`). Shared by the Telemetry kind's validation (an expression
 * outside the subset is refused at apply, naming what is not supported) and the proxy (which
 * evaluates it per request: no allocation beyond the attribute reads and string concatenation).
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

/** What a metric tag value may also read: the connection, and the proxy's own node metadata. */
export interface TagValueInput extends LogFilterInput {
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
  mtls: boolean;
  /** the proxy's node metadata (`node.metadata['NAMESPACE']`), undefined when it has no such key */
  nodeMetadata(name: string): string | undefined;
}

type Value = number | string | boolean | undefined;
type Eval = (r: TagValueInput) => Value;

/** Attributes of a finished request (a TCP connection has none of these: they read as absent). */
const ATTRIBUTES: Record<string, Eval> = {
  'response.code': (r) => r.responseCode,
  'request.method': (r) => r.method,
  'request.path': (r) => r.path,
  'request.url_path': (r) => {
    if (r.path === undefined) return undefined;
    const q = r.path.indexOf('?');
    return q < 0 ? r.path : r.path.slice(0, q);
  },
  'request.host': (r) => r.host,
  'request.protocol': (r) => r.protocol,
};

/** Connection attributes: metric tag values only (an access log filter refuses them). */
const CONNECTION_ATTRIBUTES: Record<string, Eval> = {
  'source.address': (r) => r.sourceAddress,
  'source.port': (r) => r.sourcePort,
  'destination.address': (r) => r.destinationAddress,
  'destination.port': (r) => r.destinationPort,
  'connection.mtls': (r) => r.mtls,
};

const TOKEN =
  /\s*(?:(\d+(?:\.\d+)?)|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(&&|\|\||==|!=|>=|<=|[<>!()[\]?:+])|(\.?[A-Za-z_][A-Za-z0-9_.]*))/y;

interface Tok {
  kind: 'num' | 'str' | 'op' | 'id';
  text: string;
}

function tokenize(src: string, what: string): Tok[] {
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < src.length) {
    if (/^\s*$/.test(src.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(src);
    if (!m) throw new Error(`cannot read the ${what} at "${src.slice(at, at + 20)}"`);
    at = TOKEN.lastIndex;
    if (m[1] !== undefined) out.push({ kind: 'num', text: m[1] });
    else if (m[2] !== undefined || m[3] !== undefined)
      out.push({ kind: 'str', text: (m[2] ?? m[3]!).replace(/\\(.)/g, '$1') });
    else if (m[4] !== undefined) out.push({ kind: 'op', text: m[4] });
    else out.push({ kind: 'id', text: m[5]! });
  }
  return out;
}

/** What an expression may read, and how its source is named in errors. */
interface Dialect {
  what: string;
  attributes: Record<string, Eval>;
  nodeMetadata: boolean;
}

/** Parses `expression` into an evaluator; throws an Error saying what is not supported. */
function compile(expression: string, d: Dialect): Eval {
  if (expression.length > 4096) throw new Error(`the ${d.what} is longer than 4096 characters`);
  const toks = tokenize(expression, d.what);
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
  const quotedKey = (what: string): string => {
    take('[');
    const name = take();
    if (name.kind !== 'str') throw new Error(`${what} takes a quoted name`);
    take(']');
    return name.text;
  };
  const nested = (): Eval => {
    if (++depth > 32) throw new Error(`the ${d.what} nests too deeply`);
    const inner = conditional();
    depth--;
    return inner;
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
        const lower = quotedKey('request.headers').toLowerCase();
        return (r) => r.header(lower);
      }
      if (t.text === 'node.metadata' && d.nodeMetadata) {
        const key = quotedKey('node.metadata');
        return (r) => r.nodeMetadata(key);
      }
      if (t.text === 'string' && d.nodeMetadata && peek()?.text === '(') {
        take('(');
        const inner = nested();
        take(')');
        return (r) => {
          const v = inner(r);
          return v === undefined ? undefined : String(v);
        };
      }
      const attr = d.attributes[t.text];
      if (!attr) {
        const extra = d.nodeMetadata ? ["node.metadata['NAME']", 'string(x)'] : [];
        throw new Error(
          `"${t.text}" is not supported; use ${[...Object.keys(d.attributes), "request.headers['name']", ...extra].join(', ')}`,
        );
      }
      return attr;
    }
    throw new Error(`unexpected "${t.text}"`);
  };
  const unary = (): Eval => {
    const t = peek();
    if (t?.text === '!') {
      take();
      const inner = unary();
      return (r) => !inner(r);
    }
    if (t?.text === '(') {
      take();
      const inner = nested();
      take(')');
      return inner;
    }
    return operand();
  };
  // CEL's `+`: numbers add, strings concatenate; anything else (or an absent attribute) is an error, read as absent.
  const sum = (): Eval => {
    let e = unary();
    while (peek()?.text === '+') {
      take();
      const [a, b] = [e, unary()];
      e = (r) => {
        const x = a(r);
        const y = b(r);
        if (typeof x === 'number' && typeof y === 'number') return x + y;
        if (typeof x === 'string' && typeof y === 'string') return x + y;
        return undefined;
      };
    }
    return e;
  };
  const comparison = (): Eval => {
    const left = sum();
    const op = peek();
    if (!op || !['==', '!=', '>=', '<=', '>', '<'].includes(op.text)) return left;
    take();
    const right = sum();
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
  const conditional = (): Eval => {
    const test = or();
    if (peek()?.text !== '?') return test;
    take('?');
    const yes = nested();
    take(':');
    const no = nested();
    return (r) => (test(r) ? yes(r) : no(r));
  };
  if (toks.length === 0) throw new Error(`the ${d.what} is empty`);
  const root = conditional();
  if (i < toks.length) throw new Error(`unexpected "${toks[i]!.text}"`);
  return root;
}

const FILTER: Dialect = { what: 'filter', attributes: ATTRIBUTES, nodeMetadata: false };
const TAG_VALUE: Dialect = {
  what: 'tag value',
  attributes: { ...ATTRIBUTES, ...CONNECTION_ATTRIBUTES },
  nodeMetadata: true,
};

/** Compiles an access log filter; throws an Error saying what is not supported. Bounded: at most 4096 characters. */
export function compileLogFilter(expression: string): (r: LogFilterInput) => boolean {
  const root = compile(expression, FILTER);
  // the filter dialect reads no connection attribute nor node metadata: a LogFilterInput is enough
  return (r) => Boolean(root(r as TagValueInput));
}

/**
 * Compiles a metric tag value (Istio's `tagOverrides.<tag>.value`); its result is the label's
 * value, or undefined where Istio's stats plugin writes `unknown` (an attribute the traffic does
 * not have, like a request header on a TCP connection, or a type error).
 */
export function compileTagValue(expression: string): (r: TagValueInput) => string | undefined {
  const root = compile(expression, TAG_VALUE);
  return (r) => {
    const v = root(r);
    return v === undefined ? undefined : String(v);
  };
}
