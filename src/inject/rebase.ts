/**
 * Carries an edit back onto the file as the user wrote it. inject and uninject edit a parsed YAML
 * document and render it, and the renderer normalises what it does not model (blank-line runs,
 * `---` with nothing after it, a leading `---`, trailing spaces, comments between documents).
 * Rather than print that normalised text, the line diff between the rendering before the edit
 * (`plain`) and after it (`edited`) is replayed onto the original text (a three-way merge with the
 * plain rendering as base): every line the edit did not touch keeps its bytes, so
 * `uninject(inject(x))` gives back `x` byte for byte.
 */
import { diffArrays } from 'diff';

interface Hunk {
  /** The plain lines [start, end) the edit replaces. */
  start: number;
  end: number;
  lines: string[];
}

/** The edit as hunks over `plain`'s lines. */
function hunks(plain: string[], edited: string[]): Hunk[] {
  const out: Hunk[] = [];
  let a = 0;
  let open: Hunk | undefined;
  for (const c of diffArrays(plain, edited)) {
    if (!c.added && !c.removed) {
      open = undefined;
      a += c.count;
      continue;
    }
    if (!open) out.push((open = { start: a, end: a, lines: [] }));
    if (c.removed) {
      a += c.count;
      open.end = a;
    } else open.lines.push(...c.value);
  }
  return out;
}

/** For each plain line, the index of the same line in the source, where the two align. */
function alignment(plain: string[], source: string[]): (number | undefined)[] {
  const map: (number | undefined)[] = new Array<number | undefined>(plain.length).fill(undefined);
  let a = 0;
  let s = 0;
  for (const c of diffArrays(plain, source)) {
    if (c.added) s += c.count;
    else if (c.removed) a += c.count;
    else for (let i = 0; i < c.count; i++) map[a++] = s++;
  }
  return map;
}

/**
 * `source` with the edit `plain -> edited` applied to the lines it touches; undefined when a touched
 * line of `plain` has no exact counterpart in `source` (the caller then prints `edited`).
 */
export function rebaseEdit(source: string, plain: string, edited: string): string | undefined {
  if (plain === edited) return source;
  if (plain === source) return edited;
  const P = plain.split('\n');
  const S = source.split('\n');
  const map = alignment(P, S);
  const out: string[] = [];
  let cursor = 0;
  for (const h of hunks(P, edited.split('\n'))) {
    let from: number | undefined;
    let to: number | undefined;
    if (h.end > h.start) {
      from = map[h.start];
      for (let i = h.start; i < h.end; i++) {
        if (map[i] === undefined || map[i] !== from! + (i - h.start)) return undefined;
      }
      to = from! + (h.end - h.start);
    } else {
      // An insertion goes right after the line it follows in the plain rendering, or, when that line
      // is one the renderer normalised (`resources:\n  {}` rendered `resources: {}`), right before
      // the line it precedes: the normalised line is not touched, so it keeps its bytes either way.
      const after = h.start > 0 ? map[h.start - 1] : -1;
      const before = h.start < P.length ? map[h.start] : S.length;
      if (after !== undefined) from = to = after + 1;
      else if (before !== undefined) from = to = before;
      else return undefined;
    }
    if (from === undefined || from < cursor) return undefined;
    out.push(...S.slice(cursor, from), ...h.lines);
    cursor = to;
  }
  out.push(...S.slice(cursor));
  return out.join('\n');
}
