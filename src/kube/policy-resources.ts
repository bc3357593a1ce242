import { API_GROUP, API_VERSION } from '../policy/types.js';

/** The custom resources Provenant watches, all in group provenant.dev, version v1alpha1. */
export type PolicyResourceKind = 'ClusterImagePolicy' | 'ImagePolicy' | 'TrustRoot';

export interface PolicyResource {
  readonly kind: PolicyResourceKind;
  readonly group: typeof API_GROUP;
  readonly version: string;
  readonly apiVersion: typeof API_VERSION;
  readonly plural: string;
  readonly namespaced: boolean;
}

const VERSION = API_VERSION.slice(API_GROUP.length + 1);

function resource(kind: PolicyResourceKind, plural: string, namespaced: boolean): PolicyResource {
  return { kind, group: API_GROUP, version: VERSION, apiVersion: API_VERSION, plural, namespaced };
}

export const POLICY_RESOURCES: Readonly<Record<PolicyResourceKind, PolicyResource>> = {
  ClusterImagePolicy: resource('ClusterImagePolicy', 'clusterimagepolicies', false),
  ImagePolicy: resource('ImagePolicy', 'imagepolicies', true),
  TrustRoot: resource('TrustRoot', 'trustroots', false),
};

/** An object as the API server sends it; every field is checked before use. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly generation?: number;
  };
  readonly spec?: unknown;
  readonly status?: unknown;
}

/** Which object a status write or a log line is about. */
export interface ObjectRef {
  readonly resource: PolicyResource;
  readonly name: string;
  readonly namespace?: string;
}

export function describeRef(ref: ObjectRef): string {
  return ref.namespace === undefined
    ? `${ref.resource.kind}/${ref.name}`
    : `${ref.resource.kind}/${ref.namespace}/${ref.name}`;
}
