/**
 * When a statement says it was made, in the predicate's own fields: the only time a key signature can
 * vouch for. A key has no certificate whose short validity pins when it signed, and an RFC 3161 timestamp
 * proves only that the signature existed then: anyone who can push to the repository can have an old
 * signature stamped again and swap the token, which travels unsigned. The predicate is signed with the rest.
 */
import { stringAt } from './json.js';
import {
  CYCLONEDX,
  SLSA_PROVENANCE_V02,
  SLSA_PROVENANCE_V1,
  SLSA_VSA_V1,
  SPDX,
  uriMatcher,
} from './predicate-type.js';

/** Where each predicate type records when it was made, most specific first. */
const TIME_FIELDS: readonly { readonly matches: (type: string) => boolean; readonly paths: string[][] }[] = [
  {
    matches: uriMatcher(SLSA_PROVENANCE_V1),
    paths: [
      ['runDetails', 'metadata', 'finishedOn'],
      ['runDetails', 'metadata', 'startedOn'],
    ],
  },
  {
    matches: uriMatcher(SLSA_PROVENANCE_V02),
    paths: [
      ['metadata', 'buildFinishedOn'],
      ['metadata', 'buildStartedOn'],
    ],
  },
  { matches: uriMatcher(SLSA_VSA_V1), paths: [['timeVerified']] },
  { matches: uriMatcher(SPDX), paths: [['creationInfo', 'created']] },
  { matches: uriMatcher(CYCLONEDX), paths: [['metadata', 'timestamp']] },
  ...[
    // cosign's vulnerability predicate and in-toto's vulns predicate.
    'https://cosign.sigstore.dev/attestation/vuln/v1',
    'https://in-toto.io/attestation/vulns/v0.1',
  ].map((uri) => ({
    matches: uriMatcher(uri),
    paths: [
      ['metadata', 'scanFinishedOn'],
      ['metadata', 'scanStartedOn'],
    ],
  })),
];

/** RFC 3339 with a time zone, as every format above writes it; anything looser is not read as a time. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** The time the statement says it was made, or undefined when its predicate type records none, or not so. */
export function statementTime(predicateType: string, predicate: unknown): Date | undefined {
  const fields = TIME_FIELDS.find((f) => f.matches(predicateType));
  for (const path of fields?.paths ?? []) {
    const text = stringAt(predicate, ...path);
    if (text === undefined || !RFC3339.test(text)) continue;
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return new Date(ms);
  }
  return undefined;
}
