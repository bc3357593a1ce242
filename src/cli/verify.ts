import { parseReference } from '../oci/reference.js';
import { parseFlags, VERIFY_FLAGS, VERIFY_FLAGS_HELP, verifyFlags } from './flags.js';
import { EXIT, type CommandIo } from './io.js';
import { toJson, toText } from './output.js';
import { createRuntime } from './runtime.js';
import { UsageError } from './usage-error.js';

export const VERIFY_USAGE = `Usage: provenant verify IMAGE... --policy PATH [flags]

Checks each image against the policies that match it and prints the verdict.
Exit status: 0 every image admitted, 1 any image denied, 2 invalid input.

Flags:
${VERIFY_FLAGS_HELP}`;

export async function verifyCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, VERIFY_FLAGS);
  if (values.help) {
    io.stdout(VERIFY_USAGE);
    return EXIT.allowed;
  }
  const flags = verifyFlags(values);
  if (positionals.length === 0) throw new UsageError('name at least one IMAGE to verify');
  // A reference that cannot be parsed is invalid input (exit 2), not a denial.
  for (const image of positionals) parseReference(image);

  const runtime = await createRuntime(flags);
  try {
    const verdicts = await runtime.verifier.verifyImages(positionals, {
      signal: AbortSignal.timeout(flags.timeoutMs),
    });
    io.stdout(flags.output === 'json' ? toJson(verdicts) : toText(verdicts));
    return verdicts.every((v) => v.allowed) ? EXIT.allowed : EXIT.denied;
  } finally {
    await runtime.close();
  }
}
