import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { extractBlocks, TYPESCRIPT } from './readme-blocks';
import { compileSnippets, PACKAGE_TYPES, PRELUDE, resolveFromSnippet, ROOT, Snippet, staleDeclarations } from './snippet-compiler';
import { loadSnippetModule } from './snippet-runner';

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = extractBlocks(README);
const tsBlocks = blocks.filter((b) => TYPESCRIPT.includes(b.lang));
const smallest = tsBlocks.find((b) => b.heading === 'Smallest working example');

// cdk-nag 3's blocks use Validations, which aws-cdk-lib has from 2.257.0 (cdk-nag 3's floor): the peer-range run at
// aws-cdk-lib 2.227.0 (scripts/test-peer-range.mjs) checks every other block and skips these, as it skips test/nag's v3 tests.
const CDK_NAG_3_FLOOR = [2, 257, 0];
const cdkVersion = (require('aws-cdk-lib/package.json') as { version: string }).version.split('.').map(Number);
const versionNumber = (v: number[]) => v[0] * 1e6 + v[1] * 1e3 + v[2];
const hasValidations = versionNumber(cdkVersion) >= versionNumber(CDK_NAG_3_FLOOR);
const checkedBlocks = tsBlocks.filter((b) => hasValidations || b.heading !== 'cdk-nag 3');

const readmeSnippets: Snippet[] = checkedBlocks.map((b) => ({
  id: `readme-${b.line}`,
  code: b.code,
  source: 'README.md',
  line: b.line,
  prelude: true,
}));
// The checker's own cases, in the same program: a checker that passes everything would pass the README too.
const CASES: Record<string, Snippet> = {
  good: {
    id: 'case-good',
    source: 'case.md',
    line: 10,
    prelude: true,
    code: [
      "import { DsqlUrlSecret } from 'cdk-dsql-url-secret';",
      '',
      "const url = new DsqlUrlSecret(this, 'Url', { cluster });",
      'url.redeployOnRotation(service);',
    ].join('\n'),
  },
  wrongProp: {
    id: 'case-wrong-prop',
    source: 'case.md',
    line: 20,
    prelude: true,
    code: "import { DsqlUrlSecret } from 'cdk-dsql-url-secret';\n\nnew DsqlUrlSecret(this, 'Url', { cluster, rotationInterval: 4 });",
  },
  undefinedName: {
    id: 'case-undefined-name',
    source: 'case.md',
    line: 30,
    prelude: true,
    code: "import * as ecs from 'aws-cdk-lib/aws-ecs';\nnew ecs.FargateService(this, 'S', { cluster: appCluster, taskDefinition: taskDef });",
  },
  syntax: { id: 'case-syntax', source: 'case.md', line: 40, prelude: true, code: 'const x = {;' },
  noPrelude: { id: 'case-no-prelude', source: 'case.md', line: 50, prelude: false, code: 'cluster.attrIdentifier;' },
  ...(smallest && {
    smallestAlone: { id: 'case-smallest-alone', source: 'README.md', line: smallest.line, prelude: false, code: smallest.code },
  }),
};

let results: Map<string, string[]>;
beforeAll(() => {
  results = compileSnippets([...readmeSnippets, ...Object.values(CASES)]);
});

describe('README code blocks', () => {
  test('there are TypeScript blocks to check, and every block says its language', () => {
    expect(tsBlocks.length).toBeGreaterThanOrEqual(10);
    // A block that is not TypeScript is marked as what it is (text, sh, sql, yaml), so none escapes the check by accident.
    expect(blocks.filter((b) => b.lang === '').map((b) => `README.md:${b.line}`)).toEqual([]);
  });

  test('only the cdk-nag 3 blocks are skipped, and only below aws-cdk-lib 2.257.0', () => {
    const skipped = tsBlocks.filter((b) => !checkedBlocks.includes(b));
    expect(skipped.every((b) => b.heading === 'cdk-nag 3')).toBe(true);
    expect(skipped.length > 0).toBe(!hasValidations && tsBlocks.some((b) => b.heading === 'cdk-nag 3'));
  });

  test('the snippets compile against the built package', () => {
    expect(resolveFromSnippet('cdk-dsql-url-secret')).toBe(PACKAGE_TYPES);
  });

  test('every TypeScript block type-checks', () => {
    const errors = readmeSnippets.flatMap((s) => results.get(s.id)!);
    // The hint only when something fails: the check reads lib/*.d.ts, which `npm run compile` writes.
    const stale = staleDeclarations();
    const hint =
      errors.length > 0 && stale.length > 0 ? [`(older declarations than sources, run npm run compile: ${stale.join(', ')})`] : [];
    expect([...errors, ...hint]).toEqual([]);
  });

  test("the conventions line lists exactly the prelude's names", () => {
    const line = /^Snippets assume [\s\S]*?\n\n/m.exec(README)?.[0] ?? '';
    const named = [...line.matchAll(/`(\w+)`/g)].map((m) => m[1]);
    expect(named.filter((n) => n in PRELUDE).sort()).toEqual(Object.keys(PRELUDE).sort());
  });
});

describe('the snippet checker', () => {
  test('passes a correct fragment that uses the prelude', () => {
    expect(results.get('case-good')).toEqual([]);
  });

  test('fails a wrong prop type, an undefined name and a syntax error, at the line in the document', () => {
    expect(results.get('case-wrong-prop')).toEqual([
      expect.stringMatching(/^case\.md:22: TS2322: Type 'number' is not assignable to type 'Duration'/),
    ]);
    expect(results.get('case-undefined-name')).toEqual([
      expect.stringMatching(/^case\.md:31: TS\d+: Cannot find name 'appCluster'\./),
      "case.md:31: TS2304: Cannot find name 'taskDef'.",
    ]);
    expect(results.get('case-syntax')).toEqual([expect.stringMatching(/^case\.md:40: TS1136: Property assignment expected/)]);
  });

  test('declares no prelude for a snippet that must stand alone', () => {
    expect(results.get('case-no-prelude')).toEqual(["case.md:50: TS2304: Cannot find name 'cluster'."]);
  });
});

describe('the smallest example', () => {
  test('is self-contained: it compiles without the prelude', () => {
    expect(smallest).toBeDefined();
    expect(results.get('case-smallest-alone')).toEqual([]);
  });

  test('synthesizes: the secret, its rotation function, and a service that keeps its capacity through the redeploys', () => {
    const exported = loadSnippetModule(smallest!.code);
    const StackClass = Object.values(exported).find((v): v is typeof Stack => typeof v === 'function' && v.prototype instanceof Stack);
    expect(StackClass).toBeDefined();
    const stack = new StackClass!(new App(), 'App', { env: { account: '123456789012', region: 'us-east-1' } });
    const template = Template.fromStack(stack);

    // The URL secret is the one tagged as managed by the construct (the access-key signer has a secret of its own).
    const managed = { Tags: Match.arrayWith([Match.objectLike({ Key: 'cdk-dsql-url-secret:managed-by' })]) };
    const secrets = template.findResources('AWS::SecretsManager::Secret', { Properties: managed });
    expect(Object.keys(secrets)).toHaveLength(1);
    const [secretId] = Object.keys(secrets);
    const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'));
    expect(schedules).toHaveLength(1);
    expect(schedules[0].Properties.SecretId).toEqual({ Ref: secretId });
    const rotationFunctionId = schedules[0].Properties.RotationLambdaARN['Fn::GetAtt'][0];
    expect(template.toJSON().Resources[rotationFunctionId].Type).toBe('AWS::Lambda::Function');

    template.hasResourceProperties('AWS::ECS::Service', {
      DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 100, DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
    });
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});
