import { toProvenantError } from '../errors.js';
import { EXIT, type CommandIo } from './io.js';
import { UsageError } from './usage-error.js';
import { isInputError, verifyCommand, VERIFY_USAGE } from './verify.js';

const USAGE = `Usage: provenant COMMAND [flags]

Commands:
  verify IMAGE...      verify images against policies (exit 0 admitted, 1 denied, 2 invalid input)
  verify-bundle        verify one sigstore bundle (sigstore-conformance CLI protocol)
  help                 show this help

Run "provenant COMMAND --help" for a command's flags.`;

type Command = (argv: string[], io: CommandIo) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  verify: verifyCommand,
};

export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    io.stdout(USAGE);
    return name ? EXIT.allowed : EXIT.invalidInput;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`provenant: unknown command "${name}"\n\n${USAGE}`);
    return EXIT.invalidInput;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    if (isInputError(err)) {
      const error = err instanceof UsageError ? err : toProvenantError(err);
      io.stderr(`provenant ${name}: ${'code' in error ? `${error.code}: ` : ''}${error.message}`);
      if (err instanceof UsageError && name === 'verify') io.stderr(VERIFY_USAGE);
      return EXIT.invalidInput;
    }
    // Anything unexpected still ends in a denial-shaped answer, never a stack trace alone.
    const error = toProvenantError(err);
    io.stderr(`provenant ${name}: ${error.code}: ${error.message}`);
    return EXIT.denied;
  }
}
