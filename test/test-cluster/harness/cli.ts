/**
 * `npm run cluster:up` / `cluster:down` / `cluster:status`: the test cluster for people. `up` starts one in
 * the background and prints how to point kubectl at it; `down` stops it and removes what it made.
 * Run: node test/test-cluster/run-ts.mjs test/test-cluster/harness/cli.ts up|down|status
 */
import { existsSync, mkdirSync, rmSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { binariesPresent, binaryDir, binaryPath } from './binaries.js';
import { clusterAlive, readState, startCluster, stopCluster } from './cluster.js';

const home = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'meshctl', 'test-cluster');
const out = (s: string): void => void process.stdout.write(s + '\n');

function current(): string | undefined {
  if (!existsSync(home)) return undefined;
  const dir = readdirSync(home).find((d) => existsSync(join(home, d, 'state.json')));
  return dir && join(home, dir, 'state.json');
}

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up': {
      if (process.getuid?.() !== 0) {
        process.stderr.write(
          'error: the test cluster needs root (network namespaces, bridges, mounts); run it with sudo\n',
        );
        return 1;
      }
      if (!binariesPresent()) {
        process.stderr.write(
          `error: the Kubernetes binaries are not built in ${binaryDir()}; run \`npm run cluster:build\` first\n`,
        );
        return 1;
      }
      const existing = current();
      if (existing && clusterAlive(readState(existing))) {
        out(`a test cluster is already running (${existing})`);
      } else {
        if (existing) await stopCluster(readState(existing));
        mkdirSync(home, { recursive: true });
        await startCluster(home, (m) => out(`  ${m}`));
      }
      const state = readState(current() ?? '');
      out(
        `\nkubernetes ${state.kubernetesVersion} at ${state.apiServerUrl} (node ${state.nodeName}, pods on ${state.network.subnet})`,
      );
      out(`  export KUBECONFIG=${state.kubeconfig}`);
      out(`  export PATH=${binaryDir()}:$PATH   # kubectl ${state.kubernetesVersion}: ${binaryPath('kubectl')}`);
      out(
        `  export MESHCTL_TEST_CLUSTER_STATE=${join(state.dir, 'state.json')}   # tests reuse it instead of starting their own`,
      );
      out(`logs: ${join(state.dir, 'logs')}; stop with \`npm run cluster:down\``);
      return 0;
    }
    case 'down': {
      const existing = current();
      if (!existing) {
        out('no test cluster is running');
        return 0;
      }
      await stopCluster(readState(existing));
      rmSync(home, { recursive: true, force: true });
      out('test cluster stopped; its processes, network namespaces, bridge and files are gone');
      return 0;
    }
    case 'status': {
      const existing = current();
      if (!existing) {
        out('no test cluster');
        return 1;
      }
      const state = readState(existing);
      out(
        `${clusterAlive(state) ? 'running' : 'BROKEN (a process died)'}: ${state.apiServerUrl}, KUBECONFIG=${state.kubeconfig}`,
      );
      for (const p of state.processes) out(`  ${p.name} pid ${p.pid} log ${p.log}`);
      return 0;
    }
    default:
      process.stderr.write('usage: cluster:up | cluster:down | cluster:status\n');
      return 64;
  }
}

process.exitCode = await main(process.argv[2]);
