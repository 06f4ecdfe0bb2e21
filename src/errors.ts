/**
 * The error catalogue: every failure a user can see has a class here with a stable code
 * (`MESH_ERR_*`) and an exit code. Codes are never reused or renumbered: scripts match on them.
 *
 * Exit codes follow the CLI contract: 0 ok, 1 failure, 64 usage (sysexits EX_USAGE),
 * 79 analyze findings (istioctl's value, so existing pipelines keep working).
 */

/** Process exit codes of the CLI contract. */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 64,
  AnalyzeFindings: 79,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Stable error codes. Append only; never reuse a retired code. */
export const ErrorCode = {
  Internal: 'MESH_ERR_INTERNAL',
  Usage: 'MESH_ERR_USAGE',
  InputNotFound: 'MESH_ERR_INPUT_NOT_FOUND',
  InputScheme: 'MESH_ERR_INPUT_SCHEME',
  InputFetch: 'MESH_ERR_INPUT_FETCH',
  InputParse: 'MESH_ERR_INPUT_PARSE',
  InjectRefused: 'MESH_ERR_INJECT_REFUSED',
  ConfigInvalid: 'MESH_ERR_CONFIG_INVALID',
  AnalyzeFindings: 'MESH_ERR_ANALYZE_FINDINGS',
  PlatformUnavailable: 'MESH_ERR_PLATFORM_UNAVAILABLE',
  NotFound: 'MESH_ERR_NOT_FOUND',
  Timeout: 'MESH_ERR_TIMEOUT',
  CheckFailed: 'MESH_ERR_CHECK_FAILED',
  Capture: 'MESH_ERR_CAPTURE',
  NativeBinding: 'MESH_ERR_NATIVE_BINDING',
  CredentialRejected: 'MESH_ERR_CREDENTIAL_REJECTED',
  CertificateRequestInvalid: 'MESH_ERR_CSR_INVALID',
  CaMaterialInvalid: 'MESH_ERR_CA_INVALID',
  KubernetesApi: 'MESH_ERR_KUBERNETES_API',
  UninstallRefused: 'MESH_ERR_UNINSTALL_REFUSED',
  /** Config stored, but a proxy refused it (NACK) and keeps its last good config. */
  ConfigRefusedByProxy: 'MESH_ERR_CONFIG_REFUSED_BY_PROXY',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base of every error meant for a user: a message that says what and where, and a hint with the fix. */
export class MeshError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { exitCode?: ExitCode; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? ExitCode.Failure;
    this.hint = opts.hint;
  }
}

/** Bad flags, arguments or flag combinations: detected before any I/O. */
export class UsageError extends MeshError {
  constructor(message: string, hint?: string) {
    super(ErrorCode.Usage, message, { exitCode: ExitCode.Usage, hint: hint ?? 'run with --help to see the usage' });
  }
}

/** A file, directory or URL named on the command line does not exist or cannot be read. */
export class InputNotFoundError extends MeshError {
  constructor(source: string, reason: string) {
    super(ErrorCode.InputNotFound, `${source}: ${reason}`, { hint: 'check the path given to -f' });
  }
}

/** An input URL with a scheme other than https. */
export class InputSchemeError extends MeshError {
  constructor(source: string) {
    super(ErrorCode.InputScheme, `${source}: only https:// URLs are accepted`, {
      exitCode: ExitCode.Usage,
      hint: 'download the file and pass its path, or use an https:// URL',
    });
  }
}

/** Fetching an https input failed. */
export class InputFetchError extends MeshError {
  constructor(source: string, reason: string) {
    super(ErrorCode.InputFetch, `${source}: ${reason}`);
  }
}

/** A position in an input file, 1-based, as editors show it. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** Formats a position as `file:line:column`. */
export function formatPosition(pos: SourcePosition): string {
  return `${pos.file}:${pos.line}:${pos.column}`;
}

/** YAML or JSON that does not parse: carries the position of the problem. */
export class InputParseError extends MeshError {
  readonly position: SourcePosition;
  constructor(position: SourcePosition, reason: string) {
    super(ErrorCode.InputParse, `${formatPosition(position)}: ${reason}`, { hint: 'fix the syntax at that position' });
    this.position = position;
  }
}

/** Injection refused for an object (hostNetwork, another mesh's sidecar): names the object and the fix. */
export class InjectRefusedError extends MeshError {
  constructor(message: string, hint: string) {
    super(ErrorCode.InjectRefused, message, { hint });
  }
}

/** Mesh or proxy configuration that fails validation: message lists every problem with its path. */
export class ConfigInvalidError extends MeshError {
  readonly problems: readonly string[];
  constructor(subject: string, problems: readonly string[], hint?: string) {
    super(ErrorCode.ConfigInvalid, `${subject} is invalid:\n  ${problems.join('\n  ')}`, {
      hint: hint ?? 'fix the fields named above',
    });
    this.problems = problems;
  }
}

/** `analyze` found issues at or above the failure threshold. */
export class AnalyzeFindingsError extends MeshError {
  constructor(count: number) {
    super(ErrorCode.AnalyzeFindings, `analysis found ${count} issue(s) at or above the failure threshold`, {
      exitCode: ExitCode.AnalyzeFindings,
    });
  }
}

/** The selected platform (cluster, local daemon) cannot be reached. */
export class PlatformUnavailableError extends MeshError {
  constructor(message: string, hint: string) {
    super(ErrorCode.PlatformUnavailable, message, { hint });
  }
}

/** A named resource does not exist. */
export class NotFoundError extends MeshError {
  constructor(what: string, hint?: string) {
    super(ErrorCode.NotFound, `${what} not found`, { hint });
  }
}

/** A wait ran past its deadline. */
export class TimeoutError extends MeshError {
  constructor(what: string, hint?: string) {
    super(ErrorCode.Timeout, `timed out ${what}`, { hint });
  }
}

/** A native capability (iptables, SO_ORIGINAL_DST) is missing or failed. */
export class CaptureError extends MeshError {
  constructor(message: string, hint?: string) {
    super(ErrorCode.Capture, message, { hint });
  }
}

/** The native binding for SO_ORIGINAL_DST could not be loaded. */
export class NativeBindingError extends MeshError {
  constructor(message: string, hint?: string) {
    super(ErrorCode.NativeBinding, message, { hint });
  }
}

/** Turns anything thrown into the one-line message and exit code the user sees. */
export function describeError(err: unknown): { message: string; hint?: string; exitCode: ExitCode; code: ErrorCode } {
  if (err instanceof MeshError) {
    return { message: err.message, hint: err.hint, exitCode: err.exitCode, code: err.code };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    message: `unexpected error: ${message}`,
    hint: 'run again with --verbose for details, and report it if it persists',
    exitCode: ExitCode.Failure,
    code: ErrorCode.Internal,
  };
}

/** A workload credential (token) the CA does not accept: unknown, expired or revoked. */
export class CredentialRejectedError extends MeshError {
  constructor(
    reason: string,
    hint = 'register the workload again (meshctl run issues a fresh token) or check its token file',
  ) {
    super(ErrorCode.CredentialRejected, `credential rejected: ${reason}`, { hint });
  }
}

/** A certificate signing request the CA refuses: malformed, bad signature, or an unsupported key. */
export class CertificateRequestInvalidError extends MeshError {
  constructor(reason: string) {
    super(ErrorCode.CertificateRequestInvalid, `certificate signing request refused: ${reason}`, {
      hint: 'send a PKCS#10 CSR signed with an ECDSA P-256 or RSA (2048+) key',
    });
  }
}

/** The root CA material (supplied or stored) is unusable: names the file and what is wrong. */
export class CaMaterialInvalidError extends MeshError {
  constructor(subject: string, reason: string, hint: string) {
    super(ErrorCode.CaMaterialInvalid, `${subject}: ${reason}`, { hint });
  }
}

/** The Kubernetes API server refused a request: says which object, the server's reason, and the fix. */
export class KubernetesApiError extends MeshError {
  /** HTTP status of the API server's answer (0: no answer). */
  readonly status: number;
  /** The Status reason (NotFound, Forbidden, Conflict, Invalid, ...). */
  readonly reason: string;
  constructor(what: string, status: number, reason: string, message: string, hint?: string) {
    super(ErrorCode.KubernetesApi, `${what}: ${message}${reason ? ` (${reason})` : ''}`, { hint });
    this.status = status;
    this.reason = reason;
  }
}

/** `uninstall` refused because workloads still run the mesh's sidecar; lists them. */
export class UninstallRefusedError extends MeshError {
  constructor(message: string, hint: string) {
    super(ErrorCode.UninstallRefused, message, { hint });
  }
}
