/**
 * The local platform's MeshConfig: the JSON file `meshctl install --local -f FILE` / `--set
 * meshConfig.KEY=VALUE` writes into the mesh home. The daemon reads it at start and again when it
 * changes (polled: a rename from an atomic write is seen on every filesystem), and hands it to the
 * pipeline as the snapshot's MeshConfig, so running proxies get the change without restart.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { MeshConfigText } from './mesh-config-text.js';

/** The watched file and its last good content. */
export class MeshConfigFile {
  private readonly last: MeshConfigText;

  private constructor(
    private readonly file: string,
    private readonly log: (line: string) => void,
  ) {
    this.last = new MeshConfigText(log);
  }

  /** Reads `file` (absent: no MeshConfig) and calls `onChange` whenever its content changes. */
  static async open(file: string, log: (line: string) => void, onChange: () => void): Promise<MeshConfigFile> {
    const m = new MeshConfigFile(file, log);
    await m.reload();
    watchFile(file, { interval: 500, persistent: false }, () => {
      void m.reload().then((changed) => {
        if (changed) onChange();
      });
    });
    return m;
  }

  /** The MeshConfig (undefined when there is none). */
  object(): Record<string, unknown> | undefined {
    return this.last.object;
  }

  /** Re-reads the file; a file that does not parse keeps the last good config (and says so). */
  private async reload(): Promise<boolean> {
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log(`mesh config ${this.file}: ${(err as Error).message}`);
    }
    return this.last.take(text, this.file);
  }

  close(): void {
    unwatchFile(this.file);
  }
}
