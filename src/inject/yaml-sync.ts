/**
 * Writes a changed JS value back into a parsed YAML document, reusing every existing node whose
 * value did not change. That is what keeps comments, quoting and key order of the parts inject did
 * not touch: the document is edited, not re-serialised from scratch.
 */
import { isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';
import { isObject } from './workloads.js';

function keyOf(pair: Pair): unknown {
  return isScalar(pair.key) ? pair.key.value : pair.key;
}

function nameOf(v: unknown): string | undefined {
  if (isObject(v) && typeof v.name === 'string') return v.name;
  if (isMap(v)) {
    const n = v.get('name');
    return typeof n === 'string' ? n : undefined;
  }
  return undefined;
}

/** Returns a node for `value`, reusing `node` (and its descendants) wherever they still fit. */
export function syncNode(doc: Document, node: unknown, value: unknown): Node {
  if (isObject(value) && isMap(node)) {
    const pairs = node.items as Pair[];
    const next: Pair[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const pair = pairs.find((p) => keyOf(p) === k);
      if (pair) {
        pair.value = syncNode(doc, pair.value, v);
        next.push(pair);
      } else next.push(doc.createPair(k, v) as Pair);
    }
    node.items = next;
    return node;
  }
  if (Array.isArray(value) && isSeq(node)) {
    // Items with a name (containers, volumes, env) are matched by name, so inserting the proxy
    // first does not shift the comments of the app container onto it.
    const named = new Map<string, unknown>();
    for (const item of node.items) {
      const n = nameOf(item);
      if (n !== undefined) named.set(n, item);
    }
    const allNamed = named.size === node.items.length && node.items.length > 0;
    node.items = value.map((v, i) => {
      const n = nameOf(v);
      const existing = allNamed ? (n === undefined ? undefined : named.get(n)) : node.items[i];
      return existing === undefined ? doc.createNode(v) : syncNode(doc, existing, v);
    });
    return node;
  }
  if (isScalar(node) && node.value === value) return node;
  return doc.createNode(value) as Node;
}
