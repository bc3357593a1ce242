/** How a deny message, a warning or a log line names the workload being admitted. Pure. */
import { isRecord, own } from './extract.js';

export interface WorkloadRef {
  readonly kind: string;
  readonly namespace?: string;
  /** `metadata.name`, or for an object created by a controller with only `generateName`, that prefix. */
  readonly name: string;
}

export interface WorkloadSource {
  readonly kind: string;
  readonly namespace?: string;
  /** `request.name`; empty on CREATE when the name is generated. */
  readonly name?: string;
  readonly object?: unknown;
}

const UNNAMED = '<unnamed>';

export function describeWorkload(source: WorkloadSource): WorkloadRef {
  const metadata = isRecord(source.object) ? own(source.object, 'metadata') : undefined;
  const meta = isRecord(metadata) ? metadata : {};
  const name =
    nonEmpty(source.name) ?? nonEmpty(own(meta, 'name')) ?? nonEmpty(own(meta, 'generateName')) ?? UNNAMED;
  const namespace = nonEmpty(source.namespace) ?? nonEmpty(own(meta, 'namespace'));
  return namespace === undefined ? { kind: source.kind, name } : { kind: source.kind, namespace, name };
}

/** `Pod default/web`, or `Pod web` when there is no namespace. */
export function formatWorkload(ref: WorkloadRef): string {
  return ref.namespace === undefined ? `${ref.kind} ${ref.name}` : `${ref.kind} ${ref.namespace}/${ref.name}`;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
