/**
 * Capture settings from pod annotations: meshctl's `traffic.meshctl.dev/*` names and Istio's
 * `traffic.sidecar.istio.io/*` names, so pods annotated for Istio keep their exclusions. The
 * annotations arrive either as flags (the injector copies them) or as a downward API file
 * (`--annotations-file /etc/podinfo/annotations`).
 */
import { CaptureAnnotations } from '../protocol/well-known.js';
import { InputParseError, UsageError } from '../errors.js';
import type { RawCaptureSettings } from './options.js';

/** Every annotation that sets a capture option: meshctl's name first (it wins), then Istio's. */
export const CAPTURE_ANNOTATIONS: Readonly<Partial<Record<keyof RawCaptureSettings, readonly string[]>>> = {
  excludeInboundPorts: CaptureAnnotations.excludeInboundPorts,
  includeInboundPorts: CaptureAnnotations.includeInboundPorts,
  excludeOutboundPorts: CaptureAnnotations.excludeOutboundPorts,
  includeOutboundPorts: ['traffic.meshctl.dev/include-outbound-ports', 'traffic.sidecar.istio.io/includeOutboundPorts'],
  excludeOutboundIpRanges: CaptureAnnotations.excludeOutboundIpRanges,
  includeOutboundIpRanges: CaptureAnnotations.includeOutboundIpRanges,
  excludeInterfaces: ['traffic.meshctl.dev/exclude-interfaces', 'traffic.sidecar.istio.io/excludeInterfaces'],
};

/** Istio annotations that only make sense for Istio's own data plane: reported, then ignored. */
const ISTIO_IGNORED: Readonly<Record<string, string>> = {
  'sidecar.istio.io/interceptionMode': 'meshctl captures inbound traffic with REDIRECT only',
  'traffic.sidecar.istio.io/kubevirtInterfaces': 'KubeVirt interfaces are not supported',
};

/** The capture settings an annotation map sets, the annotation behind each, and warnings. */
export interface AnnotationSettings {
  settings: RawCaptureSettings;
  /** For each setting taken from an annotation: that annotation's name (for error messages). */
  origin: Partial<Record<keyof RawCaptureSettings, string>>;
  warnings: string[];
}

/** Picks the capture settings out of a pod's annotations. Unknown `traffic.meshctl.dev/*` names are typos: refused. */
export function settingsFromAnnotations(
  annotations: Readonly<Record<string, string>>,
  file?: string,
): AnnotationSettings {
  const settings: RawCaptureSettings = {};
  const origin: AnnotationSettings['origin'] = {};
  const warnings: string[] = [];
  const known = new Set(Object.values(CAPTURE_ANNOTATIONS).flat());
  for (const name of Object.keys(annotations)) {
    if (name.startsWith('traffic.meshctl.dev/') && !known.has(name)) {
      const names = [...known].filter((k) => k.startsWith('traffic.meshctl.dev/')).join(', ');
      throw new UsageError(`${file ? file + ': ' : ''}unknown annotation ${name}`, `capture annotations are: ${names}`);
    }
    const why = ISTIO_IGNORED[name];
    if (why) warnings.push(`annotation ${name} is ignored: ${why}`);
  }
  for (const [key, names] of Object.entries(CAPTURE_ANNOTATIONS) as [keyof RawCaptureSettings, readonly string[]][]) {
    const name = names.find((n) => annotations[n] !== undefined);
    if (name === undefined) continue;
    settings[key] = annotations[name]!;
    origin[key] = `annotation ${name}${file ? ` (${file})` : ''}`;
  }
  return { settings, origin, warnings };
}

/**
 * Parses the Kubernetes downward API annotations file: one `key="value"` per line, the value
 * quoted with Go's strconv.Quote (JSON-compatible for the escapes Kubernetes writes).
 */
export function parseDownwardApiAnnotations(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    const quoted = eq < 0 ? '' : line.slice(eq + 1).trim();
    const fail = (reason: string) =>
      new InputParseError(
        { file, line: i + 1, column: 1 },
        `${reason}; expected key="value" as the downward API writes it`,
      );
    if (key === '' || !quoted.startsWith('"') || !quoted.endsWith('"') || quoted.length < 2)
      throw fail('not an annotation line');
    try {
      out[key] = JSON.parse(quoted.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')) as string;
    } catch {
      throw fail('the value is not a quoted string');
    }
  }
  return out;
}
