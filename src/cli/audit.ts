import type { WorkloadCredentials } from '../admission/decide.js';
import { formatWorkload } from '../kube/workload.js';
import { auditSubjects, workloadKey } from '../kube/workload-inventory.js';
import { createLogger } from '../observability/logger.js';
import { judgeSubjects, type Judgement } from '../reports/judge.js';
import { violatingWorkloads } from '../reports/policy-report.js';
import { parseFlags, VERIFY_FLAGS, VERIFY_FLAGS_HELP, verifyFlags } from './flags.js';
import { EXIT, type CommandIo } from './io.js';
import {
  createKubeServiceRuntime,
  createRuntime,
  createWorkloadCredentials,
  loadKubeConfigFlag,
  ONE_SHOT_CACHE,
  type Runtime,
} from './runtime.js';
import { UsageError } from './usage-error.js';

export const AUDIT_USAGE = `Usage: provenant audit [--policy PATH] [-n NAMESPACE] [flags]

Reads the Pods and pod controllers of a cluster and decides each exactly as the webhook would if it were
created now, with the workload's own pull secrets. A Pod is decided by the images it runs: where the kubelet
reported a digest (status.containerStatuses[].imageID), by that digest, so a tag moved since the Pod started
cannot hide what runs. A controller is decided by its pod template. A ReplicaSet of a Deployment and a Job of
a CronJob are covered by their owner; each Pod names its owner. Nothing in the cluster is changed.

Without --policy, the cluster's ClusterImagePolicy, ImagePolicy and TrustRoot objects are used; with
--policy, these files instead: the dry run before applying a policy or switching it to Enforce.
Exit status: 0 nothing would be denied, 1 something would be denied, 2 invalid input.

Flags:
  -n, --namespace NS         only this namespace (default: all namespaces)
  --kubeconfig FILE          the cluster (default $KUBECONFIG, ~/.kube/config, or the in-cluster service account)
  --exclude-namespace NS     namespace to leave out, as the webhook does (repeatable; default kube-system;
                             --exclude-namespace= excludes none)
  --concurrency N            objects decided at once (default 4)
${VERIFY_FLAGS_HELP.replace(
  '(repeatable, required)',
  '(repeatable; default: the policies in the cluster)',
).replace(
  'deadline for the whole verification, e.g. 30s (default 30s)',
  'budget for each object, like the webhook (default 30s)',
)}`;

const AUDIT_FLAGS = {
  ...VERIFY_FLAGS,
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  'exclude-namespace': { type: 'string', multiple: true, default: ['kube-system'] as string[] },
  concurrency: { type: 'string', default: '4' },
} as const;

export async function auditCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, AUDIT_FLAGS);
  if (values.help) {
    io.stdout(AUDIT_USAGE);
    return EXIT.allowed;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const fromCluster = values.policy === undefined;
  const flags = verifyFlags({ ...values, ...(fromCluster ? { policy: ['(the cluster)'] } : {}) });
  const concurrency = Number(values.concurrency);
  if (!/^\d+$/.test(values.concurrency) || concurrency < 1 || concurrency > 64) {
    throw new UsageError(`--concurrency must be a whole number from 1 to 64 (got "${values.concurrency}")`);
  }
  const excluded = new Set(values['exclude-namespace'].filter((ns) => ns !== ''));
  // Warnings (an unreadable pull secret, a policy object that does not compile) go to stderr as JSON lines.
  const logger = createLogger({ level: 'warn', destination: { write: (line) => io.stderr(line) } });
  const kubeConfig = await loadKubeConfigFlag(values.kubeconfig);

  let runtime: Runtime;
  let credentials: WorkloadCredentials;
  if (fromCluster) {
    const kube = await createKubeServiceRuntime(flags, {
      cache: ONE_SHOT_CACHE,
      logger,
      readOnly: true,
      ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
    });
    runtime = kube;
    credentials = kube.workloadCredentials;
    try {
      await kube.synced;
    } catch (err) {
      await kube.close();
      throw err;
    }
  } else {
    const files = await createRuntime(flags);
    runtime = files;
    credentials = await createWorkloadCredentials(kubeConfig, () => files.policySet, logger);
  }

  let judgements: Judgement[];
  try {
    const { createWorkloadLister } = await import('../kube/background-client.js');
    const listed = await createWorkloadLister(kubeConfig).list(values.namespace);
    const subjects = auditSubjects(listed).filter((s) => !excluded.has(s.ref.namespace));
    judgements = await judgeSubjects(subjects, {
      decide: { verifier: runtime.verifier, timeoutMs: flags.timeoutMs, workloadCredentials: credentials },
      concurrency,
    });
  } finally {
    await runtime.close();
  }

  io.stdout(flags.output === 'json' ? toAuditJson(judgements) : toAuditText(judgements));
  return judgements.every((j) => j.allowed) ? EXIT.allowed : EXIT.denied;
}

function subjectLine(judgement: Judgement): string {
  const { subject } = judgement;
  const who = formatWorkload({
    kind: subject.ref.kind,
    namespace: subject.ref.namespace,
    name: subject.ref.name,
  });
  const owner = subject.owner === undefined ? '' : ` (${subject.owner.kind} ${subject.owner.name})`;
  return `${judgement.allowed ? 'allowed' : 'denied '} ${who}${owner}`;
}

function toAuditText(judgements: readonly Judgement[]): string {
  const lines: string[] = [];
  for (const judgement of judgements) {
    lines.push(subjectLine(judgement));
    for (const running of judgement.subject.running) {
      lines.push(`  container "${running.container}" runs ${running.running}`);
    }
    for (const result of judgement.policies) {
      const mode = result.mode === undefined ? '' : ` (${result.mode})`;
      lines.push(`  ${result.result.padEnd(5)} policy ${result.policy}${mode}: ${result.message}`);
    }
    if (judgement.policies.length === 0 && !judgement.allowed) {
      lines.push(`  ${judgement.decision.response.status?.message ?? judgement.decision.codes.join(', ')}`);
    }
  }
  lines.push(summaryLine(judgements));
  return lines.join('\n');
}

function summaryLine(judgements: readonly Judgement[]): string {
  const workloads = new Set(judgements.map((j) => workloadKey(j.subject))).size;
  const denied = judgements.filter((j) => !j.allowed).length;
  const violating = new Set([...violatingWorkloads(judgements).values()].flatMap((set) => [...set])).size;
  return (
    `${judgements.length} ${judgements.length === 1 ? 'object' : 'objects'} in ${workloads} ` +
    `${workloads === 1 ? 'workload' : 'workloads'}: ${denied} would be denied; ` +
    `${violating} ${violating === 1 ? 'workload violates' : 'workloads violate'} a policy (any mode)`
  );
}

function toAuditJson(judgements: readonly Judgement[]): string {
  const violating = violatingWorkloads(judgements);
  return JSON.stringify(
    {
      allowed: judgements.every((j) => j.allowed),
      objects: judgements.map(({ subject, decision, allowed, policies }) => ({
        apiVersion: subject.ref.apiVersion,
        kind: subject.ref.kind,
        namespace: subject.ref.namespace,
        name: subject.ref.name,
        uid: subject.ref.uid ?? null,
        owner: subject.owner === undefined ? null : { kind: subject.owner.kind, name: subject.owner.name },
        workload: workloadKey(subject),
        allowed,
        codes: decision.codes,
        message: decision.response.status?.message ?? null,
        warnings: decision.response.warnings ?? [],
        images: decision.images.map((use) => ({ container: use.container, image: use.image })),
        running: subject.running,
        policies,
      })),
      policies: Object.fromEntries(
        [...violating.entries()].map(([policy, set]) => [policy, { violatingWorkloads: set.size }]),
      ),
    },
    null,
    2,
  );
}
