/**
 * The invocation's platform, narrowed to the backend a command branch needs (install, uninstall and
 * upgrade have a Kubernetes and a local branch). Through the platform interface, so commands import no
 * backend; the connection is the context's (same kubeconfig flags), made once per invocation.
 */
import type { CliContext } from '../context.js';
import {
  isKubernetesPlatform,
  isLocalPlatform,
  type KubernetesPlatform,
  type LocalPlatform,
} from '../cluster/index.js';
import { ErrorCode, MeshError } from '../errors.js';

/** The Kubernetes platform of a command that runs only on Kubernetes (after it checked `platformKind()`). */
export async function kubernetesPlatformOf(ctx: CliContext): Promise<KubernetesPlatform> {
  const platform = await ctx.platform();
  if (!isKubernetesPlatform(platform))
    throw new MeshError(ErrorCode.Internal, `expected the Kubernetes platform, got the ${platform.kind} one`);
  return platform;
}

/** The local platform of `ctx.meshHome()` (install --local starts it, so it needs no running daemon). */
export async function localPlatformOf(ctx: CliContext): Promise<LocalPlatform> {
  const platform = await ctx.platform();
  if (!isLocalPlatform(platform))
    throw new MeshError(ErrorCode.Internal, `expected the local platform, got the ${platform.kind} one`);
  return platform;
}
