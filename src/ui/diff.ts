/** Text diffs for people: canonical JSON (stable key order) and a unified diff as `diff -u` prints it. */

/** JSON with object keys sorted, so the same config always prints the same lines. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}

/**
 * A unified diff of two texts (line-based, 3 lines of context), as `diff -u` prints it. Common
 * prefix and suffix are trimmed first, so the LCS table covers only the changed middle.
 */
export function unifiedDiff(a: string, b: string, labels: { from: string; to: string }, context = 3): string {
  const x = a.split('\n');
  const y = b.split('\n');
  let pre = 0;
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
  let suf = 0;
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
  const xm = x.slice(pre, x.length - suf);
  const ym = y.slice(pre, y.length - suf);
  const ops: { op: ' ' | '-' | '+'; line: string }[] = x.slice(0, pre).map((line) => ({ op: ' ' as const, line }));
  if (xm.length * ym.length > 4_000_000) {
    // Too large to align line by line: show the changed middle as removed, then added.
    for (const line of xm) ops.push({ op: '-', line });
    for (const line of ym) ops.push({ op: '+', line });
  } else {
    const n = xm.length;
    const m = ym.length;
    const lcs = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * (m + 1) + j] =
          xm[i] === ym[j]
            ? lcs[(i + 1) * (m + 1) + j + 1]! + 1
            : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xm[i] === ym[j]) {
        ops.push({ op: ' ', line: xm[i]! });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[(i + 1) * (m + 1) + j]! >= lcs[i * (m + 1) + j + 1]!))
        ops.push({ op: '-', line: xm[i++]! });
      else ops.push({ op: '+', line: ym[j++]! });
    }
  }
  for (const line of x.slice(x.length - suf)) ops.push({ op: ' ', line });
  // Group changes into hunks with `context` lines around them.
  const out = [`--- ${labels.from}`, `+++ ${labels.to}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]!.op === ' ') {
      k++;
      continue;
    }
    let start = Math.max(0, k - context);
    let end = k;
    for (;;) {
      while (end < ops.length && ops[end]!.op !== ' ') end++;
      let next = end;
      while (next < ops.length && ops[next]!.op === ' ') next++;
      if (next < ops.length && next - end <= 2 * context) end = next;
      else break;
    }
    end = Math.min(ops.length, end + context);
    let aLine = 1;
    let bLine = 1;
    for (let q = 0; q < start; q++) {
      if (ops[q]!.op !== '+') aLine++;
      if (ops[q]!.op !== '-') bLine++;
    }
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((o) => o.op !== '+').length;
    const bCount = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aLine},${aCount} +${bLine},${bCount} @@`, ...hunk.map((o) => `${o.op}${o.line}`));
    k = end;
    start = end;
  }
  return out.join('\n') + '\n';
}
