import { describe, expect, it } from 'vitest';
import { fakeVerifier, type VerdictScript } from '../../test/integration/admission/fake-verifier.js';
import { auditSubjects, type ListedObject } from '../kube/workload-inventory.js';
import type { PolicyOutcome } from '../verdict.js';
import { judgeSubjects, NO_MATCH_POLICY, VERIFICATION_POLICY } from './judge.js';
import {
  buildClusterReport,
  buildPolicyReports,
  failingPoliciesIn,
  MAX_IMAGES_PROPERTY_CHARS,
  violationsByCode,
} from './policy-report.js';

const D1 = `sha256:${'a'.repeat(64)}`;

function pod(name: string, images: string[], extra: Record<string, unknown> = {}): ListedObject {
  return {
    apiVersion: 'v1',
    kind: { group: '', kind: 'Pod' },
    object: {
      metadata: { name, namespace: 'shop', uid: `uid-${name}`, ...extra },
      spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) },
    },
  };
}

const satisfied = (policy: string, mode: PolicyOutcome['mode'] = 'Enforce'): PolicyOutcome => ({
  policy,
  mode,
  satisfied: true,
  verifiedAuthorities: ['key'],
  reasons: [],
});
const unsatisfied = (
  policy: string,
  code: 'NO_SIGNATURE' | 'REGISTRY_UNAVAILABLE',
  mode: PolicyOutcome['mode'] = 'Enforce',
): PolicyOutcome => ({
  policy,
  mode,
  satisfied: false,
  verifiedAuthorities: [],
  reasons: [{ policy, authority: 'key', code, message: `${code} here` }],
});

/** Scripted verdicts per image: what the verifier would have found. */
const SCRIPT: Record<string, VerdictScript> = {
  'acme/signed:v1': { outcomes: [satisfied('release'), satisfied('sbom', 'Audit')] },
  'acme/unsigned:v1': {
    allowed: false,
    outcomes: [unsatisfied('release', 'NO_SIGNATURE'), satisfied('sbom', 'Audit')],
    reasons: [{ policy: 'release', authority: 'key', code: 'NO_SIGNATURE', message: 'NO_SIGNATURE here' }],
  },
  'acme/audit-only:v1': {
    outcomes: [unsatisfied('sbom', 'NO_SIGNATURE', 'Audit')],
    audit: [{ policy: 'sbom', code: 'NO_SIGNATURE', message: 'x' }],
  },
  'acme/offline:v1': {
    allowed: false,
    outcomes: [unsatisfied('release', 'REGISTRY_UNAVAILABLE')],
    reasons: [{ policy: 'release', code: 'REGISTRY_UNAVAILABLE', message: 'down' }],
  },
  'other/thing:v1': {
    allowed: false,
    enforced: false,
    reasons: [{ code: 'NO_MATCHING_POLICY', message: 'no policy matches' }],
  },
};
const verifier = () => fakeVerifier((image) => SCRIPT[image.replace(/@.*$/, '')] ?? {});

async function judge(listed: ListedObject[]) {
  return judgeSubjects(auditSubjects(listed), {
    decide: { verifier: verifier(), timeoutMs: 2000 },
    concurrency: 2,
  });
}

describe('judgeSubjects and policyResults', () => {
  it('decides each object as the webhook would and gives one result per policy', async () => {
    const [signed, unsigned, auditOnly, offline, unmatched] = await judge([
      pod('signed', ['acme/signed:v1']),
      pod('unsigned', ['acme/unsigned:v1', 'acme/signed:v1']),
      pod('audit-only', ['acme/audit-only:v1']),
      pod('offline', ['acme/offline:v1']),
      pod('unmatched', ['other/thing:v1']),
    ]);
    expect(signed!.allowed).toBe(true);
    expect(signed!.policies.map((p) => [p.policy, p.result])).toEqual([
      ['release', 'pass'],
      ['sbom', 'pass'],
    ]);
    expect(unsigned!.allowed).toBe(false);
    expect(unsigned!.decision.codes).toEqual(['NO_SIGNATURE']);
    const release = unsigned!.policies.find((p) => p.policy === 'release')!;
    expect(release).toMatchObject({ result: 'fail', mode: 'Enforce', codes: ['NO_SIGNATURE'] });
    expect(release.images).toEqual(['acme/unsigned:v1', 'acme/signed:v1']);
    expect(release.message).toContain('container "c0" image acme/unsigned:v1: authority key: NO_SIGNATURE');
    // An Audit policy's violation is admitted, and still a fail in the report: that is how it is seen.
    expect(auditOnly!.allowed).toBe(true);
    expect(auditOnly!.policies).toMatchObject([{ policy: 'sbom', mode: 'Audit', result: 'fail' }]);
    expect(offline!.policies).toMatchObject([
      { policy: 'release', result: 'error', codes: ['REGISTRY_UNAVAILABLE'] },
    ]);
    expect(unmatched!.policies).toMatchObject([
      { policy: NO_MATCH_POLICY, result: 'fail', codes: ['NO_MATCHING_POLICY'] },
    ]);
  });

  it('names an image volume as a volume in report messages', async () => {
    const listed = pod('infer', ['acme/signed:v1']);
    const spec = (listed.object as { spec: Record<string, unknown> }).spec;
    spec['volumes'] = [{ name: 'models', image: { reference: 'acme/unsigned:v1' } }];
    const [infer] = await judge([listed]);
    expect(infer!.allowed).toBe(false);
    const release = infer!.policies.find((p) => p.policy === 'release')!;
    expect(release.message).toContain('volume "models" image acme/unsigned:v1: authority key: NO_SIGNATURE');
  });

  it("keeps a reason's text one line of printable characters (PolicyReports, Events, provenant audit)", async () => {
    // What a verifier reports about a signature whose key hint the image's pusher wrote.
    const message = 'not signed by key key; the signature names key id k\n::error::ok\r\u001b[2K\u202Ex';
    const [hinted] = await judgeSubjects(auditSubjects([pod('hinted', ['acme/hinted:v1'])]), {
      decide: {
        verifier: fakeVerifier(() => ({
          allowed: false,
          outcomes: [
            {
              ...unsatisfied('release', 'NO_SIGNATURE'),
              reasons: [{ policy: 'release', code: 'NO_SIGNATURE', message }],
            },
          ],
        })),
        timeoutMs: 2000,
      },
      concurrency: 1,
    });
    const release = hinted!.policies.find((p) => p.policy === 'release')!;
    expect(release.message).toContain('names key id k ::error::ok');
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    expect(release.message).not.toMatch(/[\u0000-\u001F\u007F-\u009F\u202A-\u202E]/);
  });

  it('decides a running Pod by its digest, and passes the workload credentials lookup its namespace', async () => {
    const v = verifier();
    const running: ListedObject = {
      ...pod('run', ['acme/signed:v1']),
      object: {
        ...(pod('run', ['acme/signed:v1']).object as object),
        status: { containerStatuses: [{ name: 'c0', imageID: `docker.io/acme/signed@${D1}` }] },
      },
    };
    const seen: string[] = [];
    await judgeSubjects(auditSubjects([running]), {
      decide: {
        verifier: v,
        timeoutMs: 2000,
        workloadCredentials: {
          forWorkload: (w) => {
            seen.push(`${w.kind.kind} ${w.namespace}`);
            return Promise.resolve(undefined);
          },
        },
      },
      concurrency: 1,
    });
    expect(v.calls).toEqual([[`acme/signed:v1@${D1}`]]);
    expect(seen).toEqual(['Pod shop']);
  });

  it('reports an object the webhook could not read as a verification error', async () => {
    const broken: ListedObject = {
      apiVersion: 'v1',
      kind: { group: '', kind: 'Pod' },
      object: { metadata: { name: 'bad', namespace: 'shop' }, spec: { containers: 'nope' } },
    };
    const [judgement] = await judge([broken]);
    expect(judgement!.allowed).toBe(false);
    expect(judgement!.policies).toMatchObject([
      { policy: VERIFICATION_POLICY, result: 'fail', codes: ['INVALID_REQUEST'] },
    ]);
  });

  it('takes tokens from the rate limiter per distinct image before deciding', async () => {
    const taken: number[] = [];
    await judgeSubjects(
      auditSubjects([pod('two', ['acme/signed:v1', 'acme/signed:v1', 'acme/unsigned:v1'])]),
      {
        decide: { verifier: verifier(), timeoutMs: 2000 },
        concurrency: 1,
        limiter: { acquire: (n) => (taken.push(n), Promise.resolve()) },
      },
    );
    expect(taken).toEqual([2]);
  });
});

describe('PolicyReports', () => {
  it(`cuts a result's images property at ${MAX_IMAGES_PROPERTY_CHARS} characters, saying how many more`, async () => {
    const images = Array.from({ length: 300 }, (_, i) => `acme/unsigned-${i}:${'v'.repeat(40)}`);
    const judgements = await judgeSubjects(auditSubjects([pod('many', images)]), {
      decide: { verifier: fakeVerifier(() => ({ outcomes: [satisfied('release')] })), timeoutMs: 2000 },
      concurrency: 1,
    });
    const report = buildPolicyReports(judgements).get('shop')!;
    const listed = report.results[0]!.properties['images']!;
    expect(listed.length).toBeLessThanOrEqual(MAX_IMAGES_PROPERTY_CHARS + 20);
    const shown = listed.split(', ').filter((i) => i.startsWith('acme/')).length;
    expect(listed).toMatch(new RegExp(`, … \\(${300 - shown} more\\)$`));
    expect(listed.startsWith(`${images[0]}, ${images[1]}`)).toBe(true);
  });

  it('lists one result per object and policy, failures first, and counts workloads once', async () => {
    const owner = {
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd', controller: true },
      ],
    };
    const judgements = await judge([
      pod('signed', ['acme/signed:v1']),
      pod('web-1', ['acme/unsigned:v1'], owner),
      pod('web-2', ['acme/unsigned:v1'], owner),
    ]);
    const reports = buildPolicyReports(judgements);
    expect([...reports.keys()]).toEqual(['shop']);
    const report = reports.get('shop')!;
    expect(report).toMatchObject({
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'PolicyReport',
      metadata: {
        name: 'provenant',
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'provenant' },
      },
      summary: { pass: 4, fail: 2, warn: 0, error: 0, skip: 0 },
    });
    expect(report.results[0]).toEqual({
      policy: 'release',
      rule: 'verify-images',
      result: 'fail',
      message: expect.stringContaining('NO_SIGNATURE') as string,
      source: 'provenant',
      category: 'Image verification',
      severity: 'high',
      resources: [{ apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'uid-web-1' }],
      properties: {
        images: 'acme/unsigned:v1',
        mode: 'Enforce',
        codes: 'NO_SIGNATURE',
        owner: 'Deployment/web',
      },
    });
    expect(report.results.map((r) => r.result)).toEqual(['fail', 'fail', 'pass', 'pass', 'pass', 'pass']);

    // Two failing Pods of one Deployment are one violating workload.
    expect(violationsByCode(judgements)).toEqual([{ policy: 'release', code: 'NO_SIGNATURE', workloads: 1 }]);
    const cluster = buildClusterReport(judgements);
    expect(cluster.kind).toBe('ClusterPolicyReport');
    expect(cluster.results.map((r) => [r.policy, r.result, r.properties['violatingWorkloads']])).toEqual([
      ['release', 'fail', '1'],
      ['sbom', 'pass', '0'],
    ]);
    expect(cluster.results[0]!.message).toBe('1 workload violates the policy: Deployment/shop/web');

    // What a stored report says was failing, as a restarted replica reads it back.
    const failing = failingPoliciesIn(JSON.parse(JSON.stringify(report)), 'shop');
    expect(failing.get('uid-web-1')).toEqual(new Set(['release']));
    expect(failing.get('uid-signed')).toEqual(new Set());
    // Another namespace's report says nothing about this one's resources.
    expect(failingPoliciesIn(JSON.parse(JSON.stringify(report)), 'data').size).toBe(0);
  });

  it('builds the same report from the same judgements (nothing to write on a quiet pass)', async () => {
    const listed = [pod('a', ['acme/unsigned:v1']), pod('b', ['acme/signed:v1'])];
    const first = buildPolicyReports(await judge(listed));
    const second = buildPolicyReports(await judge([...listed].reverse()));
    expect(JSON.stringify([...second])).toBe(JSON.stringify([...first]));
  });
});
