/**
 * Istio's MeshConfig as JSON text that a running control plane follows (the local platform's file, the cluster's
 * ConfigMap): the last good object, kept when new text does not parse, so an edit reaches proxies without a restart
 * and a broken edit changes nothing.
 */

/** The last good MeshConfig of one source. */
export class MeshConfigText {
  private text = '';
  private current: Record<string, unknown> | undefined;

  constructor(private readonly log: (line: string) => void) {}

  /** The MeshConfig (undefined when there is none). */
  get object(): Record<string, unknown> | undefined {
    return this.current;
  }

  /**
   * Takes the source's text as read now (empty: no MeshConfig); true when the MeshConfig changed. `where` names the
   * source in the log: a file, or "ConfigMap mesh/meshctl-config".
   */
  take(text: string, where: string): boolean {
    if (text === this.text) return false;
    if (text === '') {
      this.text = '';
      this.current = undefined;
      return true;
    }
    try {
      const spec = JSON.parse(text) as unknown;
      if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new Error('not a JSON object');
      this.text = text;
      this.current = spec as Record<string, unknown>;
      this.log(`mesh config loaded from ${where}`);
      return true;
    } catch (err) {
      this.log(`mesh config from ${where} ignored, keeping the last good one: ${(err as Error).message}`);
      return false;
    }
  }
}
