/**
 * The Kubernetes control plane's --log-level (reliability.test.ts checks `warn` on a running
 * cluster): which lines each level writes, including the plain lines of the modules shared with the
 * local platform, which say no level of their own.
 */
import { describe, expect, it } from 'vitest';
import { leveledLog, levelOfLine, type ControlPlaneLogLevel } from '../../src/control-plane/kubernetes/leveled-log.js';

/** What the daemon's modules write in a typical minute, as they write it. */
function writeTypicalLines(level: ControlPlaneLogLevel): string[] {
  const out: string[] = [];
  const log = leveledLog(level, (l) => out.push(l));
  log.line('push 7: full (endpointslice demo/reviews-x modified) -> 3 response(s)');
  log.line('proxy client-1.demo connected as spiffe://cluster.local/ns/demo/sa/client');
  log.line(
    'certificate request from ipv4:198.18.64.1:40000 refused: credential rejected: the API server does not accept the token for audience "meshctl"',
  );
  log.line('Pod: 403 Forbidden; retrying with backoff');
  log.info('leader election: cp-1 is now the leader (lease mesh-system/meshctl-control-plane-leader)');
  log.error('the CA Secret cannot be read');
  return out;
}

describe('control plane --log-level', () => {
  it('debug writes every line, each with its level', () => {
    const lines = writeTypicalLines('debug');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['debug', 'info', 'warn', 'warn', 'info', 'error']);
  });

  it('info (the default) drops the per-push records only', () => {
    const lines = writeTypicalLines('info');
    expect(lines).toHaveLength(5);
    expect(lines.some((l) => l.includes('push 7'))).toBe(false);
  });

  it('warn keeps refusals, failures and errors; error keeps errors only', () => {
    expect(writeTypicalLines('warn')).toEqual([
      'warn certificate request from ipv4:198.18.64.1:40000 refused: credential rejected: the API server does not accept the token for audience "meshctl"',
      'warn Pod: 403 Forbidden; retrying with backoff',
      'error the CA Secret cannot be read',
    ]);
    expect(writeTypicalLines('error')).toEqual(['error the CA Secret cannot be read']);
  });

  it('reads a level off plain lines: refusals and failures warn, push records are debug, the rest info', () => {
    expect(levelOfLine('publishing demo/meshctl-ca-root failed: namespace is being terminated')).toBe('warn');
    expect(levelOfLine('proxy reviews-v1-abc.demo rejected type.googleapis.com/x (nonce 3): bad route')).toBe('warn');
    expect(levelOfLine('push 12: 1 config(s), registry [] (virtualservice) -> 2 response(s)')).toBe('debug');
    expect(levelOfLine('published configmap demo/meshctl-ca-root')).toBe('info');
  });
});
