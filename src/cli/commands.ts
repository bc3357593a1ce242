import { toProvenantError } from '../errors.js';
import { escapingIo, EXIT, type CommandIo } from './io.js';
import { isInputError, UsageError } from './usage-error.js';

const USAGE = `Usage: provenant COMMAND [flags]

Commands:
  verify IMAGE...      verify images against policies (exit 0 admitted, 1 denied, 2 invalid input)
  check -f FILE...     decide Kubernetes manifests as the webhook would (exit 0 admitted, 1 denied, 2 invalid input)
  audit                decide a cluster's running workloads as the webhook would (exit 1 if any would be denied)
  serve                run the admission webhook over HTTPS
  verify-bundle        verify one sigstore bundle (sigstore-conformance CLI protocol)
  convert -f FILE...   convert policy-controller ClusterImagePolicies to Provenant policies
  help                 show this help

Run "provenant COMMAND --help" for a command's flags.`;

type Command = (argv: string[], io: CommandIo) => Promise<number>;

interface LoadedCommand {
  readonly run: Command;
  readonly usage: string;
  /**
   * Standard output is a document to apply (convert's policies), written exactly: escaping a bidi character
   * in a plain YAML scalar would change the value. Its input is the operator's own policies.
   */
  readonly exactStdout?: boolean;
}

// Each command's module is imported only when that command runs: a CI job calling `verify` once per image
// pays for neither the webhook (prom-client, pino), the Kubernetes client, nor anything else it does not use.
const COMMANDS: Record<string, () => Promise<LoadedCommand>> = {
  verify: async () => {
    const { verifyCommand, VERIFY_USAGE } = await import('./verify.js');
    return { run: verifyCommand, usage: VERIFY_USAGE };
  },
  check: async () => {
    const { checkCommand, CHECK_USAGE } = await import('./check.js');
    return { run: checkCommand, usage: CHECK_USAGE };
  },
  audit: async () => {
    const { auditCommand, AUDIT_USAGE } = await import('./audit.js');
    return { run: auditCommand, usage: AUDIT_USAGE };
  },
  convert: async () => {
    const { convertCommand, CONVERT_USAGE } = await import('./convert.js');
    return { run: convertCommand, usage: CONVERT_USAGE, exactStdout: true };
  },
  serve: async () => {
    const { serveCommand, SERVE_USAGE } = await import('./serve.js');
    return { run: serveCommand, usage: SERVE_USAGE };
  },
  'verify-bundle': async () => {
    const [{ readFile }, { verifyBundleCommand, VERIFY_BUNDLE_USAGE }] = await Promise.all([
      import('node:fs/promises'),
      import('./verify-bundle.js'),
    ]);
    return {
      run: (argv, io) => verifyBundleCommand(argv, { ...io, readFile: (path) => readFile(path) }),
      usage: VERIFY_BUNDLE_USAGE,
    };
  },
};

export async function runCommand(argv: string[], outputs: CommandIo): Promise<number> {
  // Whatever a command prints, no escape sequence, carriage return or bidi override reaches the terminal.
  let io = escapingIo(outputs);
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    io.stdout(USAGE);
    return name ? EXIT.allowed : EXIT.invalidInput;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    io.stderr(`provenant: unknown command "${name}"\n\n${USAGE}`);
    return EXIT.invalidInput;
  }
  const command = await load();
  if (command.exactStdout === true) io = { stdout: outputs.stdout, stderr: io.stderr };
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (isInputError(err)) {
      const error = err instanceof UsageError ? err : toProvenantError(err);
      io.stderr(`provenant ${name}: ${'code' in error ? `${error.code}: ` : ''}${error.message}`);
      if (err instanceof UsageError) io.stderr(command.usage);
      return EXIT.invalidInput;
    }
    // Anything unexpected still ends in a denial-shaped answer, never a stack trace alone.
    const error = toProvenantError(err);
    io.stderr(`provenant ${name}: ${error.code}: ${error.message}`);
    return EXIT.denied;
  }
}
