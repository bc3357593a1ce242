import { readFile } from 'node:fs/promises';
import { toProvenantError } from '../errors.js';
import { auditCommand, AUDIT_USAGE } from './audit.js';
import { checkCommand, CHECK_USAGE } from './check.js';
import { convertCommand, CONVERT_USAGE } from './convert.js';
import { EXIT, type CommandIo } from './io.js';
import { serveCommand, SERVE_USAGE } from './serve.js';
import { UsageError } from './usage-error.js';
import { isInputError, verifyCommand, VERIFY_USAGE } from './verify.js';
import { verifyBundleCommand, VERIFY_BUNDLE_USAGE } from './verify-bundle.js';

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

const COMMANDS: Record<string, { readonly run: Command; readonly usage: string }> = {
  verify: { run: verifyCommand, usage: VERIFY_USAGE },
  check: { run: checkCommand, usage: CHECK_USAGE },
  audit: { run: auditCommand, usage: AUDIT_USAGE },
  serve: { run: serveCommand, usage: SERVE_USAGE },
  convert: { run: convertCommand, usage: CONVERT_USAGE },
  'verify-bundle': {
    run: (argv, io) => verifyBundleCommand(argv, { ...io, readFile: (path) => readFile(path) }),
    usage: VERIFY_BUNDLE_USAGE,
  },
};

export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    io.stdout(USAGE);
    return name ? EXIT.allowed : EXIT.invalidInput;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.stderr(`provenant: unknown command "${name}"\n\n${USAGE}`);
    return EXIT.invalidInput;
  }
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
